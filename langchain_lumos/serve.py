"""The served Lumos graphs (LangGraph Server, `langgraph dev`, LangGraph Studio).

`build_graph(mode)` compiles a Lumos graph whose models and tools come from the run
context, `GraphContext`: a model spec (the grammar of `langchain_lumos.presets`, the same
as `lumos run --model`), the QA tool's model, the decoding options and the budgets of
`LumosContext`.

`iterative` and `onetime` are the graph factories `langgraph.json` names, so the installed
package serves them with no file of its own (`langgraph dev` in any folder):

```json
{
  "dependencies": ["langchain-lumos"],
  "graphs": {
    "lumos_iterative": "langchain_lumos.serve:iterative",
    "lumos_onetime": "langchain_lumos.serve:onetime"
  }
}
```

Importing this module loads no model: each factory builds its graph on the server's first
request for it, in a worker thread (off the event loop), and then returns that graph.
The repository's `graphs/iterative.py` and `graphs/onetime.py` compile the same graphs at
import, for file-path entries.

Two settings shape the compiled graph itself and are read from the environment when it
is built: `LUMOS_DOMAIN` (default `complex_qa`: the prompts and tools) and `LUMOS_MODEL`
(the default model spec, `smollm2`; its profile chooses the prompts: few-shot exemplars
for `smollm2` and chat models, none for the released checkpoints). A run whose context
asks for another domain or profile than its graph was built with is refused with a
message saying how to serve it. `LUMOS_QA_MODEL` sets the default `qa_model`.

Both review points are compiled in and each run chooses: the context's `review` (`[]`,
`["plan"]`, `["actions"]`, `["plan", "actions"]`), by default `LUMOS_REVIEW` (`plan`,
`actions` or `plan,actions`, read when the graph is built; unset: no review).

A web-agent graph (`LUMOS_DOMAIN=web_agent`) acts on the demo page of `lumos run` when the
input has no `Env` variable, and reads a JSON page in `{"variables": {"Env": PAGE}}`: a
list of element strings, or `{"candidates": [...], "transitions": {element: PAGE}}`.

The default model spec is resolved when the graph is built (off any event loop), other
specs on first use; each resolution is cached, so each model loads once per process.

Example:
    ```bash
    LUMOS_MODEL=completions:http://localhost:8001/v1,http://localhost:8002/v1 langgraph dev
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from langchain_lumos.context import LumosContext, check_review
from langchain_lumos.presets import (
    MODEL_SPEC_HELP,
    QA_MODEL_HELP,
    ResolvedModels,
    domain_for_profile,
    parse_model_spec,
    preset_tools,
    resolve_models,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseLanguageModel
    from langchain_core.tools import BaseTool
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.runtime import Runtime

__all__ = [
    "GraphContext",
    "build_graph",
    "clear_caches",
    "iterative",
    "onetime",
    "register_models",
    "register_tools",
    "resolve_run",
]

_ENV = {"domain": "LUMOS_DOMAIN", "model": "LUMOS_MODEL", "qa_model": "LUMOS_QA_MODEL"}
REVIEW_ENV = "LUMOS_REVIEW"


@dataclass(kw_only=True)
class GraphContext(LumosContext):
    """Run settings of the served Lumos graphs: budgets plus models, tools and review.

    `domain`, `model` and `qa_model` fall back to `LUMOS_DOMAIN`, `LUMOS_MODEL` and
    `LUMOS_QA_MODEL` when left at their defaults; `review` left at `None` pauses where
    `LUMOS_REVIEW` says. An unknown key is an error (LangGraph Server, though, drops keys
    missing from this schema before the graph runs).
    """

    domain: str = field(
        default="complex_qa",
        metadata={
            "description": "Lumos domain or dataset profile (complex_qa, maths, webshop, hotpotqa, ...). "
            "The graph's prompts are built for LUMOS_DOMAIN; a run must use that domain (or one of its "
            "dataset profiles)."
        },
    )
    model: str = field(
        default="smollm2",
        metadata={"description": f"Planner and grounder model spec: {MODEL_SPEC_HELP}."},
    )
    qa_model: str = field(default="", metadata={"description": f"QA tool model spec: {QA_MODEL_HELP}."})
    max_new_tokens: int | None = field(
        default=None,
        metadata={
            "description": "Decoding cap per module call (default: 192 for smollm2, the backend's own)."
        },
    )
    served_model: str = field(
        default="",
        metadata={"description": "Completions servers: served model name(s), PLANNER[,GROUNDER]."},
    )
    extra_body: dict[str, Any] | None = field(
        default=None,
        metadata={"description": "Completions servers: extra JSON fields for every request."},
    )
    request_timeout_s: float | None = field(
        default=None, metadata={"description": "Seconds per model server request."}
    )
    review: tuple[Literal["plan", "actions"], ...] | None = field(
        default=None,
        metadata={
            "description": "Review points that pause this run: 'plan' and/or 'actions' (an empty list: "
            "none; null: LUMOS_REVIEW's). Review pauses the run with an interrupt; resume it with "
            "a decision."
        },
    )

    def __post_init__(self) -> None:
        """Apply the environment fallbacks and check the settings."""
        super().__post_init__()
        for f in fields(self):
            env = _ENV.get(f.name)
            if env and getattr(self, f.name) == f.default and os.environ.get(env):
                setattr(self, f.name, os.environ[env])
        if self.model not in _REGISTERED:
            parse_model_spec(self.model)
        if self.qa_model:
            parse_model_spec(self.qa_model)


_FIELDS = frozenset(f.name for f in fields(GraphContext))
_dataclass_init = GraphContext.__init__


def _init(self: GraphContext, *args: Any, **kwargs: Any) -> None:
    if args:
        msg = "GraphContext takes keyword arguments only."
        raise TypeError(msg)
    unknown = sorted(set(kwargs) - _FIELDS)
    if unknown:
        msg = f"Unknown run-context key(s) {unknown} for the Lumos graph; expected some of {sorted(_FIELDS)}."
        raise ValueError(msg)
    _dataclass_init(self, **kwargs)


GraphContext.__init__ = _init  # type: ignore[method-assign]


def _env_review() -> tuple[Literal["plan", "actions"], ...]:
    raw = os.environ.get(REVIEW_ENV, "")
    try:
        return check_review([r.strip() for r in raw.split(",") if r.strip()])
    except ValueError as exc:
        msg = f"{REVIEW_ENV}={raw!r}: {exc}"
        raise ValueError(msg) from None


# -- registries and caches ------------------------------------------------------------------

_LOCK = threading.Lock()
_REGISTERED: dict[str, tuple[Any, Any, Any]] = {}
_REGISTERED_TOOLS: dict[str, list[BaseTool]] = {}
_RUNS: dict[tuple[Any, ...], tuple[ResolvedModels, list[BaseTool]]] = {}


def register_models(
    name: str,
    planner: BaseLanguageModel,
    grounder: BaseLanguageModel | None = None,
    *,
    qa_llm: BaseLanguageModel | None = None,
) -> None:
    """Make custom model objects selectable as `model=name` (they run with any graph's prompts).

    Args:
        name: The name to select them by (not a model spec of the grammar).
        planner: The planner model.
        grounder: The grounder model (default: the planner).
        qa_llm: The QA tool's model (default: the grounder).
    """
    from langchain_core.language_models import BaseLanguageModel

    for label, model in (("planner", planner), ("grounder", grounder), ("qa_llm", qa_llm)):
        if model is not None and not isinstance(model, BaseLanguageModel):
            msg = f"register_models needs LangChain models; {label} is a {type(model).__name__}."
            raise TypeError(msg)
    grounder = grounder or planner
    with _LOCK:
        _REGISTERED[name] = (planner, grounder, qa_llm or grounder)
        _RUNS.clear()


def register_tools(domain: str, tools: Sequence[BaseTool]) -> None:
    """Use `tools` for runs of `domain` instead of the domain's own toolkit."""
    with _LOCK:
        _REGISTERED_TOOLS[domain] = list(tools)
        _RUNS.clear()


def clear_caches() -> None:
    """Forget registered and cached models and tools, and the factories' graphs."""
    with _LOCK:
        _REGISTERED.clear()
        _REGISTERED_TOOLS.clear()
        _RUNS.clear()
    with _SERVED_LOCK:
        _SERVED.clear()


def _profile(spec: str) -> Literal["eval", "small"]:
    return "eval" if spec in _REGISTERED else parse_model_spec(spec).profile


def resolve_run(ctx: GraphContext, mode: str) -> tuple[ResolvedModels, list[BaseTool]]:
    """The models and tools a run context names, resolved once per distinct setting."""
    key = (
        ctx.model,
        ctx.qa_model,
        ctx.domain,
        mode,
        ctx.max_new_tokens,
        ctx.served_model,
        json.dumps(ctx.extra_body, sort_keys=True, default=str),
        ctx.request_timeout_s,
    )
    with _LOCK:
        cached = _RUNS.get(key)
        registered = _REGISTERED.get(ctx.model)
        own_tools = _REGISTERED_TOOLS.get(ctx.domain)
    if cached is not None:
        return cached
    if registered is not None:
        planner, grounder, qa = registered
        models = ResolvedModels(planner, grounder, qa, "eval", domain_for_profile(ctx.domain, "eval", mode))
    else:
        options: dict[str, Any] = {"max_new_tokens": ctx.max_new_tokens, "timeout": ctx.request_timeout_s}
        if ctx.served_model:
            options["served_model"] = ctx.served_model
        if ctx.extra_body is not None:
            options["extra_body"] = ctx.extra_body
        models = resolve_models(
            ctx.model, domain=ctx.domain, mode=mode, qa_model=ctx.qa_model or None, **options
        )
    if own_tools is not None:
        tools = own_tools
    else:
        tools, variables = preset_tools(models)
        if "Env" in variables:  # the web agent: JSON pages, and the demo page when none is given
            tools = [_with_default_env(t, variables["Env"]) for t in tools]
    with _LOCK:
        return _RUNS.setdefault(key, (models, tools))


# -- the web agent's page over the API -----------------------------------------------------


def _page(value: Any, default: Any) -> Any:
    """The web page an action's `env` argument names, from what JSON can carry.

    The unbound variable `Env` (the run input has no `Env`) is the served demo page; a dict
    `{"candidates": [...], "transitions": {element: page}}` (each page a list of element
    strings or such a dict) is a static page. Anything else goes to the tool unchanged.
    """
    if value == "Env":
        return default
    if isinstance(value, dict) and "candidates" in value:
        from langchain_lumos.testing.web import StaticWebEnvironment

        unknown = sorted(set(value) - {"candidates", "transitions"})
        if unknown:
            from langchain_core.tools import ToolException

            msg = f"A page takes 'candidates' and 'transitions', got {unknown}."
            raise ToolException(msg)
        transitions = {k: _page(v, default) for k, v in dict(value.get("transitions") or {}).items()}
        return StaticWebEnvironment(value["candidates"], transitions)
    return value


def _with_default_env(tool: BaseTool, default: Any) -> BaseTool:
    """`tool` whose `env` argument goes through `_page` (tools without one are unchanged)."""
    if "env" not in tool.args:
        return tool
    base = type(tool)

    def _run(self: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
        return base._run(self, _page(env, default), *args, **kwargs)

    async def _arun(self: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
        return await base._arun(self, _page(env, default), *args, **kwargs)

    served = type(base.__name__, (base,), {"_run": _run, "_arun": _arun, "__module__": base.__module__})
    bound: BaseTool = served(**{name: getattr(tool, name) for name in base.model_fields})
    return bound


def _context(runtime: Runtime[Any]) -> GraphContext:
    ctx = runtime.context
    if isinstance(ctx, GraphContext):
        return ctx
    if isinstance(ctx, dict):
        return GraphContext(**ctx)
    if isinstance(ctx, LumosContext):
        return GraphContext(**{f.name: getattr(ctx, f.name) for f in fields(LumosContext)})
    return GraphContext()


def build_graph(
    mode: Literal["iterative", "onetime"], *, name: str
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """A compiled Lumos graph whose models and tools come from the run's `GraphContext`.

    Args:
        mode: `iterative` (Lumos-I) or `onetime` (Lumos-O).
        name: The graph's name.

    Raises:
        ValueError: A bad `LUMOS_DOMAIN`, `LUMOS_MODEL` or `LUMOS_REVIEW`.
    """
    from langchain_lumos.domains import get_domain
    from langchain_lumos.graph import create_lumos_graph
    from langchain_lumos.review import REVIEW_CONFIG_KEY

    defaults = GraphContext()
    domain = get_domain(defaults.domain)
    profile = _profile(defaults.model)
    review = _env_review()
    # Load the default models now, off any event loop; a failure shows on first use instead.
    with contextlib.suppress(Exception):
        resolve_run(defaults, mode)

    def checked(runtime: Runtime[Any]) -> tuple[ResolvedModels, list[BaseTool]]:
        ctx = _context(runtime)
        if get_domain(ctx.domain).name != domain.name:
            msg = (
                f"This graph was built for domain {domain.name!r} (LUMOS_DOMAIN); the run asked for "
                f"{ctx.domain!r}. Serve another graph with LUMOS_DOMAIN={ctx.domain}."
            )
            raise ValueError(msg)
        if ctx.model not in _REGISTERED and _profile(ctx.model) != profile:
            msg = (
                f"This graph was built for the {profile!r} prompt profile (LUMOS_MODEL={defaults.model}); "
                f"model {ctx.model!r} needs the other one. Serve a graph with LUMOS_MODEL={ctx.model}."
            )
            raise ValueError(msg)
        return resolve_run(ctx, mode)

    def planner(state: Any, runtime: Runtime[Any]) -> BaseLanguageModel:
        return checked(runtime)[0].planner

    def grounder(state: Any, runtime: Runtime[Any]) -> BaseLanguageModel:
        return checked(runtime)[0].grounder

    def tools(runtime: Runtime[Any]) -> list[BaseTool]:
        return checked(runtime)[1]

    graph = create_lumos_graph(
        planner,
        grounder,
        tools,
        mode=mode,
        domain=domain_for_profile(domain, profile, mode),
        review=("plan", "actions"),
        name=name,
        context_schema=GraphContext,
    )
    # Runs whose context leaves `review` at None pause where LUMOS_REVIEW says.
    return graph.with_config(configurable={REVIEW_CONFIG_KEY: list(review)})


# -- the factories `langgraph.json` names ---------------------------------------------------

_SERVED: dict[str, CompiledStateGraph[Any, Any, Any, Any]] = {}
_SERVED_LOCK = threading.Lock()


def _served(mode: Literal["iterative", "onetime"]) -> CompiledStateGraph[Any, Any, Any, Any]:
    with _SERVED_LOCK:  # one build per process, however many first requests race
        graph = _SERVED.get(mode)
        if graph is None:
            graph = _SERVED[mode] = build_graph(mode, name=f"lumos_{mode}")
        return graph


async def _serve(mode: Literal["iterative", "onetime"]) -> CompiledStateGraph[Any, Any, Any, Any]:
    graph = _SERVED.get(mode)
    return graph if graph is not None else await asyncio.to_thread(_served, mode)


async def iterative() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Lumos-I (iterative) for LangGraph Server: `"langchain_lumos.serve:iterative"`.

    Built on first use from the environment (`LUMOS_DOMAIN`, `LUMOS_MODEL`,
    `LUMOS_REVIEW`, `LUMOS_QA_MODEL`), off the event loop; later calls return the same graph.
    """
    return await _serve("iterative")


async def onetime() -> CompiledStateGraph[Any, Any, Any, Any]:
    """Lumos-O (one-time) for LangGraph Server: `"langchain_lumos.serve:onetime"`.

    Built on first use from the environment (`LUMOS_DOMAIN`, `LUMOS_MODEL`,
    `LUMOS_REVIEW`, `LUMOS_QA_MODEL`), off the event loop; later calls return the same graph.
    """
    return await _serve("onetime")
