"""Package version."""

from importlib import metadata

__all__ = ["__version__"]

try:
    __version__ = metadata.version("langchain-lumos")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = ""
