"""Catalogue of the released Lumos checkpoints (HF org ``ai2lumos``) and model loading.

Each domain has a separate planner (``..._plan_...``) and grounder (``..._ground_...``)
fine-tune of LLaMA-2 (spec section 5.1). Hub ids are
``ai2lumos/lumos_<domain>_<plan|ground>_<formulation>[-13B]``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_lumos.errors import CheckpointNotFoundError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseLLM

__all__ = [
    "CHECKPOINTS",
    "DOMAINS",
    "FORMULATIONS",
    "HUB_ORG",
    "SIZES",
    "LumosCheckpoint",
    "find_checkpoint",
    "list_checkpoints",
    "load_lumos_models",
    "resolve_checkpoints",
]

HUB_ORG = "ai2lumos"
DOMAINS = ("complex_qa", "maths", "web_agent", "multimodal", "unified")
FORMULATIONS = ("iterative", "onetime")
SIZES = ("7B", "13B")

_MODE_ALIASES = {
    "iterative": "iterative",
    "i": "iterative",
    "lumos-i": "iterative",
    "onetime": "onetime",
    "one-time": "onetime",
    "one_time": "onetime",
    "o": "onetime",
    "lumos-o": "onetime",
}


@dataclass(frozen=True)
class LumosCheckpoint:
    """One released Lumos checkpoint.

    Attributes:
        domain: ``complex_qa``, ``maths``, ``web_agent``, ``multimodal`` or ``unified``.
        module: ``plan`` (planner) or ``ground`` (grounder).
        formulation: ``iterative`` (Lumos-I) or ``onetime`` (Lumos-O).
        size: ``7B`` or ``13B``.
        possibly_empty: Listed on the Hub, but its file listing shows no weights.
        note: Free-text remark.
    """

    domain: str
    module: Literal["plan", "ground"]
    formulation: str
    size: str
    possibly_empty: bool = False
    note: str = ""

    @property
    def name(self) -> str:
        """Repository name, e.g. ``lumos_maths_plan_onetime-13B``."""
        suffix = "-13B" if self.size == "13B" else ""
        return f"lumos_{self.domain}_{self.module}_{self.formulation}{suffix}"

    @property
    def repo_id(self) -> str:
        """Hub id, e.g. ``ai2lumos/lumos_maths_plan_onetime-13B``."""
        return f"{HUB_ORG}/{self.name}"


def _pair(domain: str, formulation: str, size: str) -> tuple[LumosCheckpoint, LumosCheckpoint]:
    return (
        LumosCheckpoint(domain, "plan", formulation, size),
        LumosCheckpoint(domain, "ground", formulation, size),
    )


CHECKPOINTS: tuple[LumosCheckpoint, ...] = (
    # 7B (base LLaMA-2-7B)
    *_pair("complex_qa", "iterative", "7B"),
    *_pair("complex_qa", "onetime", "7B"),
    *_pair("maths", "iterative", "7B"),
    *_pair("maths", "onetime", "7B"),
    *_pair("web_agent", "iterative", "7B"),
    *_pair("multimodal", "iterative", "7B"),
    *_pair("unified", "iterative", "7B"),
    # 13B (base LLaMA-2-13B)
    *_pair("complex_qa", "iterative", "13B"),
    *_pair("maths", "onetime", "13B"),
    LumosCheckpoint(
        "maths",
        "plan",
        "iterative",
        "13B",
        possibly_empty=True,
        note="Listed on the Hub, but its file listing shows only README/.gitattributes; "
        "no matching grounder was released.",
    ),
    *_pair("web_agent", "iterative", "13B"),
    *_pair("multimodal", "iterative", "13B"),
    *_pair("unified", "iterative", "13B"),
)
"""Every released checkpoint (spec section 5.1)."""


def _norm_mode(mode: str) -> str:
    key = mode.strip().lower()
    if key not in _MODE_ALIASES:
        msg = f"Unknown formulation {mode!r}; expected one of {FORMULATIONS}"
        raise CheckpointNotFoundError(msg)
    return _MODE_ALIASES[key]


def _norm_size(size: str) -> str:
    key = size.strip().upper()
    if key not in SIZES:
        msg = f"Unknown model size {size!r}; expected one of {SIZES}"
        raise CheckpointNotFoundError(msg)
    return key


def _norm_domain(domain: str) -> str:
    key = domain.strip().lower().replace("-", "_")
    if key not in DOMAINS:
        msg = f"Unknown Lumos domain {domain!r}; expected one of {DOMAINS}"
        raise CheckpointNotFoundError(msg)
    return key


def list_checkpoints(
    domain: str | None = None, mode: str | None = None, size: str | None = None
) -> list[LumosCheckpoint]:
    """List released checkpoints, optionally filtered.

    Args:
        domain: Keep only this domain.
        mode: Keep only this formulation (``iterative``/``onetime``).
        size: Keep only this size (``7B``/``13B``).

    Returns:
        The matching checkpoints in catalogue order.
    """
    d = _norm_domain(domain) if domain is not None else None
    m = _norm_mode(mode) if mode is not None else None
    s = _norm_size(size) if size is not None else None
    return [
        c
        for c in CHECKPOINTS
        if (d is None or c.domain == d) and (m is None or c.formulation == m) and (s is None or c.size == s)
    ]


def find_checkpoint(
    domain: str, module: str, mode: str = "iterative", size: str = "7B"
) -> LumosCheckpoint | None:
    """Return the catalogue entry for one module, or None when it was not released."""
    d, m, s = _norm_domain(domain), _norm_mode(mode), _norm_size(size)
    for c in CHECKPOINTS:
        if (c.domain, c.module, c.formulation, c.size) == (d, module, m, s):
            return c
    return None


def _available_pairs(domain: str) -> list[str]:
    pairs = []
    for c in CHECKPOINTS:
        if c.domain == domain and c.module == "plan":
            grounder = find_checkpoint(domain, "ground", c.formulation, c.size)
            if grounder is not None:
                pairs.append(f"mode={c.formulation!r}, size={c.size!r}")
    return pairs


def resolve_checkpoints(domain: str, mode: str = "iterative", size: str = "7B") -> tuple[str, str]:
    """Return the (planner, grounder) Hub ids of a released Lumos pair.

    Args:
        domain: ``complex_qa``, ``maths``, ``web_agent``, ``multimodal`` or ``unified``.
        mode: ``iterative`` (Lumos-I) or ``onetime`` (Lumos-O).
        size: ``7B`` or ``13B``.

    Returns:
        E.g. ``("ai2lumos/lumos_complex_qa_plan_iterative",
        "ai2lumos/lumos_complex_qa_ground_iterative")``.

    Raises:
        CheckpointNotFoundError: No such pair was released; the message lists the pairs
            that exist for the domain.
    """
    d, m, s = _norm_domain(domain), _norm_mode(mode), _norm_size(size)
    planner = find_checkpoint(d, "plan", m, s)
    grounder = find_checkpoint(d, "ground", m, s)
    if planner is None or grounder is None:
        partial = ""
        if planner is not None:
            partial = f" Only a planner is listed ({planner.repo_id}). {planner.note}"
        msg = (
            f"No released Lumos checkpoint pair for domain={d!r}, mode={m!r}, size={s!r}."
            f"{partial} Released pairs for {d!r}: {'; '.join(_available_pairs(d))}."
        )
        raise CheckpointNotFoundError(msg.replace("  ", " ").strip())
    for c in (planner, grounder):
        if c.possibly_empty:
            warnings.warn(f"{c.repo_id} may be empty: {c.note}", UserWarning, stacklevel=2)
    return planner.repo_id, grounder.repo_id


def load_lumos_models(
    domain: str,
    mode: str = "iterative",
    size: str = "7B",
    *,
    backend: Literal["transformers", "openai"] = "transformers",
    base_url: str | None = None,
    planner_base_url: str | None = None,
    grounder_base_url: str | None = None,
    model_root: str | Path | None = None,
    preload: bool = False,
    **kwargs: Any,
) -> tuple[BaseLLM, BaseLLM]:
    """Build the planner and grounder LLMs of a released Lumos pair.

    Args:
        domain: Lumos domain (see :func:`resolve_checkpoints`).
        mode: ``iterative`` or ``onetime``.
        size: ``7B`` or ``13B``.
        backend: ``"transformers"`` (two resident :class:`LumosTransformersLLM`) or
            ``"openai"`` (two :class:`LumosCompletionsLLM` with ``model=<hub id>``).
        base_url: Server URL for both models (``openai`` backend).
        planner_base_url: Planner server URL (overrides ``base_url``).
        grounder_base_url: Grounder server URL (overrides ``base_url``).
        model_root: Directory holding ``lumos_<domain>_...`` checkpoint folders (like the
            original ``--model_name_or_path``); default: the Hub ids.
        preload: Load both models now (``transformers`` backend) instead of on first call.
        **kwargs: Extra fields for both LLM classes (``device``, ``dtype``, ``timeout``...).

    Returns:
        ``(planner, grounder)``.

    Raises:
        CheckpointNotFoundError: The pair was not released, or (``transformers``) the Hub
            is offline and the weights are not in the local cache.
        ValueError: Bad backend or missing server URL.
    """
    planner_id, grounder_id = resolve_checkpoints(domain, mode, size)
    if backend == "openai":
        from langchain_lumos.models.openai_compatible import LumosCompletionsLLM

        p_url, g_url = planner_base_url or base_url, grounder_base_url or base_url
        if not p_url or not g_url:
            msg = "backend='openai' needs base_url (or planner_base_url and grounder_base_url)"
            raise ValueError(msg)
        return (
            LumosCompletionsLLM(base_url=p_url, model=planner_id, **kwargs),
            LumosCompletionsLLM(base_url=g_url, model=grounder_id, **kwargs),
        )
    if backend != "transformers":
        msg = f"backend must be 'transformers' or 'openai', got {backend!r}"
        raise ValueError(msg)
    from langchain_lumos.models.transformers import LumosTransformersLLM

    if model_root is not None:
        root = Path(model_root).expanduser()
        planner_id = str(root / planner_id.split("/", 1)[1])
        grounder_id = str(root / grounder_id.split("/", 1)[1])
    planner = LumosTransformersLLM(model_id=planner_id, **kwargs)
    grounder = LumosTransformersLLM(model_id=grounder_id, **kwargs)
    for llm in (planner, grounder):
        if model_root is not None and not Path(llm.model_id).is_dir():
            msg = f"Checkpoint directory {llm.model_id} does not exist"
            raise CheckpointNotFoundError(msg)
        llm.check_available()
    if preload:
        planner.load()
        grounder.load()
    return planner, grounder
