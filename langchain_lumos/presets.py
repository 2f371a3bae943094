"""Model specs: one grammar and one resolver for every Lumos surface.

`lumos run`, `lumos eval`, the served graphs and the cookbook all name their models with
one short string, a model spec, resolved here into the planner, the grounder and the
model behind the complex-QA `QA` tool:

- `smollm2`: the embedded SmolLM2-135M-Instruct (offline, CPU) in the `small` profile:
  the domain's few-shot exemplars and at most 192 new tokens per call.
- `released[:SIZE][@DEVICE]`: the released `ai2lumos` planner and grounder of the domain
  and mode, run with `transformers` (weights in the local Hugging Face cache). `SIZE` is
  `7b` (default) or `13b`; `DEVICE` is `cpu` (default), `cuda`, `cuda:N` or `auto`, e.g.
  `released:13b@cuda`.
- `completions:URL[#NAME]`: the released checkpoints behind an OpenAI-compatible
  *completions* server (vLLM, llama.cpp, `transformers serve`). `NAME` is the served model
  name (default: the checkpoint's Hub id). Two servers, planner then grounder:
  `completions:URL1[#NAME1],URL2[#NAME2]`. `vllm:` is the same as `completions:`.
- `openai:URL[#MODEL]`: a chat model behind an OpenAI-compatible *chat* server (`URL`
  starts with `http`), through `langchain_openai.ChatOpenAI`; `MODEL` defaults to
  `gpt-3.5-turbo`. The key comes from `LUMOS_API_KEY` or `OPENAI_API_KEY`.
- `PROVIDER:MODEL`: any `init_chat_model` string, e.g. `openai:gpt-4o-mini`,
  `anthropic:claude-sonnet-4-5`, `ollama:llama3` (needs `langchain` and the provider's
  package).
- `scripted[:PATH]`: the scripted planner/grounder test doubles of
  `langchain_lumos.testing` (a script file, or the built-in script), for tests and dry runs.

The `eval` profile sends exactly what the original evaluation sent (the released
checkpoints need no exemplars); the `small` profile adds the conveniences that help models
never fine-tuned on the Lumos format (worked exemplars in iterative prompts, the looser
stop rules of `Domain.loose_stop`).

The QA tool's model (`qa_model=`) takes the same grammar. The original evaluation used
`gpt-3.5-turbo` with temperature 0 and 100 new tokens: chat QA models are built with those
settings, e.g. `qa_model="openai:https://api.openai.com/v1#gpt-3.5-turbo"`. Without one,
the QA tool uses the planner's model (`smollm2`, chat specs) or the grounder (released
checkpoints, completions servers), so runs stay offline.

Example:
    ```python
    from langchain_lumos.presets import resolve_models

    models = resolve_models(
        "completions:http://localhost:8001/v1,http://localhost:8002/v1", domain="complex_qa", mode="iterative"
    )
    agent = create_lumos_agent(
        models.planner, models.grounder, get_tools("complex_qa", llm=models.qa_llm), domain=models.domain
    )
    ```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from langchain_core.language_models import BaseLanguageModel
    from langchain_core.tools import BaseTool

    from langchain_lumos.domains import Domain

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "MODEL_SPEC_HELP",
    "QA_MAX_TOKENS",
    "QA_MODEL_HELP",
    "SMALL_MAX_NEW_TOKENS",
    "ModelSpec",
    "ResolvedModels",
    "domain_for_profile",
    "parse_model_spec",
    "preset_tools",
    "resolve_models",
    "resolve_qa_model",
]

SpecKind = Literal["smollm2", "released", "completions", "openai", "provider", "scripted"]
Profile = Literal["eval", "small"]

SMALL_MAX_NEW_TOKENS = 192
"""Decoding cap per module call of the small-model profile. Its grammar ends a grounding
line right after the line's final action, so the cap only bounds a runaway: a two-hop
one-time grounding takes about 100-130 tokens."""
QA_MAX_TOKENS = 100
"""New tokens of a chat QA model, as the original QA tool (gpt-3.5-turbo, temperature 0)."""
DEFAULT_CHAT_MODEL = "gpt-3.5-turbo"
"""Model name of `openai:URL` without `#MODEL` (the original QA tool's model)."""

MODEL_SPEC_HELP = (
    "smollm2 (offline SmolLM2 with few-shot exemplars) | released[:7b|:13b][@DEVICE] "
    "(ai2lumos checkpoints, transformers) | completions:URL[#NAME][,URL2[#NAME2]] (alias vllm:; "
    "OpenAI-compatible completions servers with the released checkpoints: planner,grounder) | "
    "openai:URL[#MODEL] (OpenAI-compatible chat server) | PROVIDER:MODEL (init_chat_model, "
    "e.g. openai:gpt-4o-mini) | scripted[:PATH] (test doubles)"
)
QA_MODEL_HELP = (
    "model behind the QA tool, same grammar as --model (the original used gpt-3.5-turbo, "
    "temperature 0, 100 new tokens: e.g. openai:https://api.openai.com/v1#gpt-3.5-turbo); "
    "default: the planner's model for smollm2 and chat models, the grounder for released "
    "checkpoints and completions servers"
)

_SIZES = {"7b": "7B", "13b": "13B"}
_PROVIDER = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec (see the module docstring for the grammar).

    Attributes:
        kind: `smollm2`, `released`, `completions`, `openai` (chat server), `provider`
            (an `init_chat_model` string) or `scripted`.
        text: The spec as written.
        size: `released`: `7B` or `13B`.
        device: `released`: `cpu`, `cuda`, `cuda:N` or `auto`.
        urls: `completions`: one URL (both modules) or two (planner, grounder);
            `openai`: the chat server's URL.
        names: `completions`: the served model name per URL (`None`: the checkpoint's id).
        model: `openai`: the chat model name; `provider`: the whole `PROVIDER:MODEL` string.
        path: `scripted`: the script file, if any.
    """

    kind: SpecKind
    text: str
    size: str = "7B"
    device: str = "cpu"
    urls: tuple[str, ...] = ()
    names: tuple[str | None, ...] = ()
    model: str | None = None
    path: str | None = None

    @property
    def profile(self) -> Profile:
        """`eval` for Lumos checkpoints and test doubles, `small` for other models."""
        return "small" if self.kind in ("smollm2", "openai", "provider") else "eval"


@dataclass(frozen=True)
class ResolvedModels:
    """The models a spec names, ready for `create_lumos_agent`.

    Attributes:
        planner: The planner model.
        grounder: The grounder model.
        qa_llm: The model behind the complex-QA `QA` tool (and its final QA call).
        profile: `eval` (what the original evaluation sent) or `small` (exemplars for
            models not fine-tuned on the Lumos format).
        domain: The domain to build the agent with (with few-shot exemplars in the
            `small` profile).
    """

    planner: BaseLanguageModel
    grounder: BaseLanguageModel
    qa_llm: BaseLanguageModel
    profile: Profile
    domain: Domain


def _fail(spec: str, why: str) -> ValueError:
    return ValueError(f"Bad model spec {spec!r}: {why}. Expected one of: {MODEL_SPEC_HELP}.")


def _check_url(spec: str, url: str) -> str:
    if not re.match(r"^https?://[^\s/#,]+", url):
        raise _fail(spec, f"{url!r} is not an http(s) URL")
    return url


def parse_model_spec(spec: str) -> ModelSpec:
    """Parse a model spec without loading anything.

    Args:
        spec: E.g. `smollm2`, `released:13b@cuda`, `completions:http://h:8001/v1`,
            `openai:http://h:8000/v1#qwen`, `openai:gpt-4o-mini`, `scripted`.

    Returns:
        The `ModelSpec`.

    Raises:
        ValueError: The spec is malformed; the message shows the grammar.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise _fail(str(spec), "empty")
    text = spec.strip()
    head, sep, rest = text.partition(":")
    if head == "smollm2" and not sep:
        return ModelSpec(kind="smollm2", text=text)
    if head == "scripted":
        if sep and not rest:
            raise _fail(text, "'scripted:' needs a script path")
        return ModelSpec(kind="scripted", text=text, path=rest or None)
    if text == "released" or text.startswith(("released:", "released@")):
        body = text[len("released") :]
        size_part, _, device = body.partition("@")
        if body.startswith("@"):
            size_part = ""
        size = "7B"
        if size_part:
            key = size_part.removeprefix(":").lower()
            if key not in _SIZES:
                raise _fail(text, f"unknown size {size_part.removeprefix(':')!r} (7b or 13b)")
            size = _SIZES[key]
        if "@" in body and not device:
            raise _fail(text, "'@' needs a device (cpu, cuda, cuda:N, auto)")
        if device and not re.match(r"^(cpu|auto|cuda(:\d+)?)$", device):
            raise _fail(text, f"unknown device {device!r} (cpu, cuda, cuda:N, auto)")
        return ModelSpec(kind="released", text=text, size=size, device=device or "cpu")
    if head in ("completions", "vllm") and sep:
        parts = rest.split(",")
        if not rest or len(parts) > 2:
            raise _fail(text, f"'{head}:' takes one URL or two (planner,grounder)")
        urls: list[str] = []
        names: list[str | None] = []
        for part in parts:
            url, hashed, name = part.strip().partition("#")
            urls.append(_check_url(text, url))
            if hashed and not name:
                raise _fail(text, "'#' needs a served model name")
            names.append(name or None)
        return ModelSpec(kind="completions", text=text, urls=tuple(urls), names=tuple(names))
    if head == "openai" and rest.startswith(("http://", "https://")):
        url, hashed, model = rest.partition("#")
        if hashed and not model:
            raise _fail(text, "'#' needs a model name")
        if "," in url:
            raise _fail(text, "'openai:URL' takes one URL")
        return ModelSpec(
            kind="openai", text=text, urls=(_check_url(text, url),), model=model or DEFAULT_CHAT_MODEL
        )
    if sep:
        if not _PROVIDER.match(head) or not rest or rest.startswith("//"):
            raise _fail(text, "expected PROVIDER:MODEL")
        return ModelSpec(kind="provider", text=text, model=text)
    raise _fail(text, "unknown model name")


def _checkpoint_family(domain: Domain) -> str:
    """The checkpoint family of the domain (WebShop runs the `unified` checkpoints)."""
    return domain.checkpoints[0].domain if domain.checkpoints else domain.name


def _checkpoint_ids(domain: Domain, mode: str, size: str) -> tuple[str, str]:
    from langchain_lumos.models.registry import resolve_checkpoints

    return resolve_checkpoints(_checkpoint_family(domain), mode, size)


def _chat_model(parsed: ModelSpec, *, qa: bool, options: dict[str, Any]) -> BaseLanguageModel:
    """A chat model (`openai:URL#MODEL` or `PROVIDER:MODEL`); QA models get the original's settings."""
    kwargs: dict[str, Any] = {"temperature": 0.0}
    if qa:
        kwargs["max_tokens"] = QA_MAX_TOKENS
    elif options.get("max_new_tokens") is not None:
        kwargs["max_tokens"] = options["max_new_tokens"]
    if options.get("timeout") is not None:
        kwargs["timeout"] = options["timeout"]
    if parsed.kind == "openai":
        try:
            from langchain_openai import ChatOpenAI
        except ImportError:
            msg = f"Model spec {parsed.text!r} needs langchain-openai: pip install langchain-openai."
            raise ImportError(msg) from None
        import os

        api_key = os.environ.get("LUMOS_API_KEY") or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        model: BaseLanguageModel = ChatOpenAI(
            model=parsed.model or DEFAULT_CHAT_MODEL,
            base_url=parsed.urls[0],
            api_key=api_key,  # type: ignore[arg-type]
            **kwargs,
        )
        return model
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        msg = (
            f"Model spec {parsed.text!r} needs langchain's init_chat_model: "
            "pip install langchain langchain-<provider>."
        )
        raise ImportError(msg) from None
    chat: BaseLanguageModel = init_chat_model(str(parsed.model), **kwargs)
    return chat


def _completions(
    parsed: ModelSpec, domain: Domain, mode: str, options: dict[str, Any]
) -> tuple[BaseLanguageModel, BaseLanguageModel]:
    from langchain_lumos.models.openai_compatible import LumosCompletionsLLM

    served = options.get("served_model")
    names = list(parsed.names)
    if served:
        names = [n.strip() or None for n in str(served).split(",")]
        if len(names) > 2:
            msg = f"served_model takes one name or two (planner,grounder), got {served!r}."
            raise ValueError(msg)
    names = [names[0], names[-1]]
    urls = [parsed.urls[0], parsed.urls[-1]]
    if names[0] is None or names[1] is None:
        ids = _checkpoint_ids(domain, mode, "7B")
        names = [names[0] or ids[0], names[1] or ids[1]]
    kwargs: dict[str, Any] = {}
    if options.get("max_new_tokens") is not None:
        kwargs["max_tokens"] = options["max_new_tokens"]
    if options.get("timeout") is not None:
        kwargs["timeout"] = options["timeout"]
    if options.get("extra_body") is not None:
        kwargs["extra_body"] = dict(options["extra_body"])
    if options.get("server") is not None:
        kwargs["server"] = options["server"]
    kwargs.update(options.get("llm_kwargs") or {})
    return (
        LumosCompletionsLLM(base_url=urls[0], model=str(names[0]), **kwargs),
        LumosCompletionsLLM(base_url=urls[1], model=str(names[1]), **kwargs),
    )


def _scripted(parsed: ModelSpec, domain: Domain, mode: str) -> tuple[Any, Any, Any]:
    from langchain_lumos import testing

    planner, grounder, qa = testing.scripted_models(domain, mode, path=parsed.path)
    return planner, grounder, qa


def domain_for_profile(domain: str | Domain, profile: Profile, mode: str) -> Domain:
    """The domain as a profile runs it.

    Unchanged for `eval`; for `small`, `langchain_lumos.profiles.small_model_profile`: the
    worked exemplars of the mode and the loose stop rules.
    """
    from langchain_lumos.domains import get_domain

    resolved = get_domain(domain)
    if profile != "small":
        return resolved
    from langchain_lumos.profiles import small_model_profile

    return small_model_profile(resolved, mode="onetime" if mode == "onetime" else "iterative")


def resolve_qa_model(spec: str, *, max_new_tokens: int | None = None) -> BaseLanguageModel:
    """The model a `--qa-model` spec names (chat specs get temperature 0 and 100 new tokens).

    Args:
        spec: A model spec: `smollm2`, `openai:URL[#MODEL]`, `PROVIDER:MODEL`, or
            `completions:URL#NAME` (a raw completions model).
        max_new_tokens: Decoding cap of a `smollm2`/`completions` QA model.

    Raises:
        ValueError: A malformed spec, or one that names no single model (`released`,
            `scripted`, two completions servers).
    """
    parsed = parse_model_spec(spec)
    if parsed.kind in ("openai", "provider"):
        return _chat_model(parsed, qa=True, options={})
    if parsed.kind == "smollm2":
        from langchain_lumos.models.smollm2 import load_default_llm

        return load_default_llm(max_new_tokens=max_new_tokens or SMALL_MAX_NEW_TOKENS)
    if parsed.kind == "completions" and len(parsed.urls) == 1 and parsed.names[0]:
        from langchain_lumos.models.openai_compatible import LumosCompletionsLLM

        return LumosCompletionsLLM(
            base_url=parsed.urls[0], model=parsed.names[0], max_tokens=max_new_tokens or QA_MAX_TOKENS
        )
    msg = (
        f"QA model spec {spec!r} must name one model: smollm2, openai:URL#MODEL, "
        "PROVIDER:MODEL or completions:URL#NAME."
    )
    raise ValueError(msg)


def resolve_models(
    spec: str,
    *,
    domain: str | Domain,
    mode: str,
    qa_model: str | None = None,
    **options: Any,
) -> ResolvedModels:
    """Load (lazily, where the backend allows) the models a spec names.

    Args:
        spec: A model spec (see the module docstring).
        domain: The domain (name or `Domain`): chooses the released checkpoints and the
            few-shot exemplars of the `small` profile.
        mode: `iterative` or `onetime`.
        qa_model: A spec for the QA tool's model (default: see the module docstring).
        **options: `max_new_tokens` (decoding cap per call; `smollm2` default 192),
            `served_model` (completions: served name(s), `PLANNER[,GROUNDER]`, overriding
            `#NAME`), `extra_body` (completions: extra JSON request fields), `server`
            (completions: the server dialect, `auto`, `vllm`, `llama.cpp`, `transformers`
            or `openai`; see `LumosCompletionsLLM.server`), `timeout`
            (seconds per request), `llm_kwargs` (more fields for the model classes).

    Returns:
        `ResolvedModels(planner, grounder, qa_llm, profile, domain)`.

    Raises:
        ValueError: A malformed spec or option, or an unknown domain or mode.
        CheckpointNotFoundError: `released` without the weights in the local cache, or a
            domain/mode with no released pair.
        ImportError: The backend's package is missing.
    """
    unknown = set(options) - {
        "max_new_tokens",
        "served_model",
        "extra_body",
        "server",
        "timeout",
        "llm_kwargs",
    }
    if unknown:
        msg = f"resolve_models got unknown options {sorted(unknown)}."
        raise TypeError(msg)
    max_new = options.get("max_new_tokens")
    if max_new is not None and (isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1):
        msg = f"max_new_tokens must be a positive integer, got {max_new!r}."
        raise ValueError(msg)
    if mode not in ("iterative", "onetime"):
        msg = f"mode must be 'iterative' or 'onetime', got {mode!r}."
        raise ValueError(msg)
    parsed = parse_model_spec(spec)
    from langchain_lumos.domains import get_domain

    profile_domain = get_domain(domain)
    planner: Any
    grounder: Any
    qa: Any = None
    if parsed.kind == "smollm2":
        from langchain_lumos.models.smollm2 import load_default_llm

        planner = grounder = load_default_llm(
            max_new_tokens=max_new or SMALL_MAX_NEW_TOKENS, **(options.get("llm_kwargs") or {})
        )
        qa = planner
    elif parsed.kind == "released":
        from langchain_lumos.models.registry import load_lumos_models

        kwargs: dict[str, Any] = {"device": parsed.device, **(options.get("llm_kwargs") or {})}
        if max_new is not None:
            kwargs["max_new_tokens"] = max_new
        planner, grounder = load_lumos_models(_checkpoint_family(profile_domain), mode, parsed.size, **kwargs)
        qa = grounder
    elif parsed.kind == "completions":
        planner, grounder = _completions(parsed, profile_domain, mode, options)
        qa = grounder
    elif parsed.kind in ("openai", "provider"):
        planner = grounder = qa = _chat_model(parsed, qa=False, options=options)
    else:
        planner, grounder, qa = _scripted(parsed, profile_domain, mode)
    profile_domain = domain_for_profile(profile_domain, parsed.profile, mode)
    if qa_model:
        qa = resolve_qa_model(qa_model, max_new_tokens=max_new)
    return ResolvedModels(
        planner=planner, grounder=grounder, qa_llm=qa, profile=parsed.profile, domain=profile_domain
    )


def preset_tools(models: ResolvedModels, **kwargs: Any) -> tuple[list[BaseTool], dict[str, Any]]:
    """The domain's toolkit wired to resolved models, and the run's initial variables.

    Complex QA's `QA` tool gets `models.qa_llm` in the profile's QA style; unless `env=`
    is given, WebShop runs on the offline demo shop (`langchain_lumos.testing.InMemoryShop`)
    and the web agent on `langchain_lumos.testing.demo_web_environment()` (stored as the
    variable `Env`).

    Args:
        models: What `resolve_models` returned.
        **kwargs: More arguments for the domain's toolkit factory (`env=`, `ranker=`, ...).

    Returns:
        `(tools, variables)`: pass the tools to the agent and the variables in its input.
    """
    domain = models.domain
    variables: dict[str, Any] = {}
    if domain.name == "complex_qa":
        kwargs.setdefault("llm", models.qa_llm)
        kwargs.setdefault("qa_style", models.profile)
    elif domain.name == "webshop" and "env" not in kwargs:
        from langchain_lumos.testing import InMemoryShop

        kwargs["env"] = InMemoryShop()
    elif domain.name == "web_agent":
        from langchain_lumos.testing import demo_web_environment

        variables["Env"] = kwargs.pop("env", None) or demo_web_environment()
    return domain.create_tools(**kwargs), variables
