"""Every `>>>` example in the package's docstrings runs and gives what it shows.

Examples in fenced `python` blocks are illustrations, not doctests; an example that needs
a model or the network is marked `# doctest: +SKIP`.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import langchain_lumos

_MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(langchain_lumos.__path__, prefix="langchain_lumos.")
    if not info.name.rsplit(".", 1)[-1].startswith("_sandbox_child")
)


def test_modules_are_found() -> None:
    assert "langchain_lumos.tools.maths" in _MODULES
    assert "langchain_lumos.testing.shop" in _MODULES


@pytest.mark.parametrize("name", _MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False, report=True
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    if ">>> " in inspect.getsource(module):  # every example written is one doctest finds
        found = sum(len(t.examples) for t in doctest.DocTestFinder().find(module))
        assert found > 0, f"the examples of {name} are not collected"
