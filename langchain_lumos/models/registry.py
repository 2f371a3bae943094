"""Released Lumos checkpoints (HF org `ai2lumos`): lookup and model loading.

Which checkpoints exist is knowledge of each domain (`Domain.checkpoints` in
`langchain_lumos.domains`); this module looks them up and loads them. Each domain has a
separate planner (`..._plan_...`) and grounder (`..._ground_...`) fine-tune of LLaMA-2,
with Hub ids `ai2lumos/lumos_<family>_<plan|ground>_<formulation>[-13B]`. WebShop (and
the `webshop` dataset) resolves to the `unified` checkpoints, as the original evaluation.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_lumos.domains import DOMAINS, FORMULATIONS, SIZES, LumosCheckpoint, get_domain
from langchain_lumos.errors import CheckpointNotFoundError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseLLM

__all__ = [
    "find_checkpoint",
    "list_checkpoints",
    "load_lumos_models",
    "resolve_checkpoints",
]

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


def _all_checkpoints() -> list[LumosCheckpoint]:
    """Every checkpoint of every registered domain, in registration order."""
    return list(dict.fromkeys(c for domain in DOMAINS.values() for c in domain.checkpoints))


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


def _checkpoints_of(domain: str) -> tuple[str, list[LumosCheckpoint]]:
    """A domain's (or dataset's, or checkpoint family's) name and checkpoints."""
    key = domain.strip().lower().replace("-", "_")
    try:
        profile = get_domain(key)
    except ValueError:
        family = [c for c in _all_checkpoints() if c.domain == key]
        if family:
            return key, family
        families = sorted({c.domain for c in _all_checkpoints()} | set(DOMAINS))
        msg = f"Unknown Lumos domain {domain!r}; expected one of {families} or a dataset name"
        raise CheckpointNotFoundError(msg) from None
    return profile.name, list(profile.checkpoints)


def list_checkpoints(
    domain: str | None = None, mode: str | None = None, size: str | None = None
) -> list[LumosCheckpoint]:
    """List released checkpoints, optionally filtered.

    Args:
        domain: Keep only the checkpoints of this domain, dataset (e.g. `svamp`) or
            checkpoint family (e.g. `unified`).
        mode: Keep only this formulation (`iterative`/`onetime`).
        size: Keep only this size (`7B`/`13B`).

    Returns:
        The matching checkpoints in catalogue order.
    """
    found = _checkpoints_of(domain)[1] if domain is not None else _all_checkpoints()
    m = _norm_mode(mode) if mode is not None else None
    s = _norm_size(size) if size is not None else None
    return [c for c in found if (m is None or c.formulation == m) and (s is None or c.size == s)]


def find_checkpoint(
    domain: str, module: str, mode: str = "iterative", size: str = "7B"
) -> LumosCheckpoint | None:
    """Return the checkpoint of one module, or None when it was not released."""
    m, s = _norm_mode(mode), _norm_size(size)
    for c in _checkpoints_of(domain)[1]:
        if (c.module, c.formulation, c.size) == (module, m, s):
            return c
    return None


def _available_pairs(domain: str) -> list[str]:
    pairs = []
    for c in _checkpoints_of(domain)[1]:
        if c.module == "plan" and find_checkpoint(domain, "ground", c.formulation, c.size) is not None:
            pairs.append(f"mode={c.formulation!r}, size={c.size!r}")
    return pairs


def resolve_checkpoints(domain: str, mode: str = "iterative", size: str = "7B") -> tuple[str, str]:
    """Return the (planner, grounder) Hub ids of a released Lumos pair.

    Args:
        domain: A registered domain (`complex_qa`, `maths`, `web_agent`, `webshop`,
            `multimodal`), a dataset (`hotpotqa`, `svamp`, ...) or the `unified` family.
        mode: `iterative` (Lumos-I) or `onetime` (Lumos-O).
        size: `7B` or `13B`.

    Returns:
        E.g. `("ai2lumos/lumos_complex_qa_plan_iterative",
        "ai2lumos/lumos_complex_qa_ground_iterative")`.

    Raises:
        CheckpointNotFoundError: No such pair was released; the message lists the pairs
            that exist for the domain.
    """
    d = _checkpoints_of(domain)[0]
    m, s = _norm_mode(mode), _norm_size(size)
    planner = find_checkpoint(domain, "plan", m, s)
    grounder = find_checkpoint(domain, "ground", m, s)
    if planner is None or grounder is None:
        partial = ""
        if planner is not None:
            partial = f" Only a planner is listed ({planner.repo_id}). {planner.note}"
        msg = (
            f"No released Lumos checkpoint pair for domain={d!r}, mode={m!r}, size={s!r}."
            f"{partial} Released pairs for {d!r}: {'; '.join(_available_pairs(domain)) or 'none'}."
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
        domain: Lumos domain or dataset (see `resolve_checkpoints`).
        mode: `iterative` or `onetime`.
        size: `7B` or `13B`.
        backend: `"transformers"` (two resident `LumosTransformersLLM`) or
            `"openai"` (two `LumosCompletionsLLM` with `model=<hub id>`).
        base_url: Server URL for both models (`openai` backend).
        planner_base_url: Planner server URL (overrides `base_url`).
        grounder_base_url: Grounder server URL (overrides `base_url`).
        model_root: Directory holding `lumos_<domain>_...` checkpoint folders (like the
            original `--model_name_or_path`); default: the Hub ids.
        preload: Load both models now (`transformers` backend) instead of on first call.
        **kwargs: Extra fields for both LLM classes (`device`, `dtype`, `timeout`...).

    Returns:
        `(planner, grounder)`.

    Raises:
        CheckpointNotFoundError: The pair was not released, or (`transformers`) the Hub
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
