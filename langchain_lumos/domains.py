"""The Lumos domain registry: one place for everything a domain or a data set owns.

A `Domain` holds:

- its **prompt profile**: the grounding interface text and the quirks of its evaluation
  loop (feedback wording, answer rule, loop cap, in-context exemplars, forced prefix);
- its **toolkit factory**: `domain.create_tools(**kwargs)` builds its LangChain tools
  (the tools module is imported only then, so importing this module stays light);
- its **released checkpoints**: `domain.checkpoints`, the `ai2lumos/*` planner/grounder
  pairs fine-tuned for it (WebShop, an unseen task, is run with the unified ones);
- its **dataset profiles**: `domain.datasets`, one `DatasetProfile` per evaluation data
  set of the original code (`hotpotqa`, `strategyqa`, `gsm8k`, `svamp`, `mind2web`,
  `webshop`), each with the original loop cap, answer rule and question suffixes.

Every other module asks the registry: `get_domain("maths")`, `get_domain("svamp")` (the
maths domain specialised by the SVAMP profile), `list_domains()`, `list_datasets()` and
`register_domain(domain)` for a new domain.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from langchain_lumos.prompts import (
    MATHS_INTERFACE,
    QA_INTERFACE,
    WEB_INTERFACE,
    WEBSHOP_INTERFACE,
    Turn,
    ground_request,
    plan_request,
)

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = [
    "COMPLEX_QA",
    "DATASET_PROFILES",
    "DOMAINS",
    "FORMULATIONS",
    "HUB_ORG",
    "MATHS",
    "MULTIMODAL",
    "SIZES",
    "WEBSHOP",
    "WEB_AGENT",
    "DatasetProfile",
    "Domain",
    "LumosCheckpoint",
    "get_domain",
    "list_datasets",
    "list_domains",
    "register_domain",
]

HUB_ORG = "ai2lumos"
"""The Hugging Face organisation of the released checkpoints."""
FORMULATIONS = ("iterative", "onetime")
"""Lumos-I (`iterative`) and Lumos-O (`onetime`)."""
SIZES = ("7B", "13B")
"""Released model sizes (LLaMA-2-7B and -13B bases)."""


# ---------------------------------------------------------------------------------------
# Released checkpoints
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LumosCheckpoint:
    """One released Lumos checkpoint.

    Attributes:
        domain: The checkpoint family in the Hub id (`complex_qa`, `maths`, `web_agent`,
            `multimodal` or `unified`).
        module: `plan` (planner) or `ground` (grounder).
        formulation: `iterative` (Lumos-I) or `onetime` (Lumos-O).
        size: `7B` or `13B`.
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
        """Repository name, e.g. `lumos_maths_plan_onetime-13B`."""
        suffix = "-13B" if self.size == "13B" else ""
        return f"lumos_{self.domain}_{self.module}_{self.formulation}{suffix}"

    @property
    def repo_id(self) -> str:
        """Hub id, e.g. `ai2lumos/lumos_maths_plan_onetime-13B`."""
        return f"{HUB_ORG}/{self.name}"


def _pairs(family: str, *releases: tuple[str, str]) -> tuple[LumosCheckpoint, ...]:
    """Planner and grounder of each `(formulation, size)` release of a family."""
    return tuple(
        LumosCheckpoint(family, module, formulation, size)
        for formulation, size in releases
        for module in ("plan", "ground")
    )


# ---------------------------------------------------------------------------------------
# Dataset profiles
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DatasetProfile:
    """How the original code evaluated one data set (`eval/<dataset>/run_eval.py`).

    Attributes:
        name: The data set id (`hotpotqa`, `strategyqa`, `gsm8k`, `svamp`, `mind2web`,
            `webshop`), usable as `domain=`.
        domain: The domain (action set) it is evaluated with.
        max_subgoals: The original loop cap in subgoals (its loop ran twice as many
            plan/ground iterations): HotpotQA/StrategyQA 5, GSM8K 8, SVAMP 2, WebShop 5,
            Mind2Web 15 steps.
        answer: How a prediction is scored: `qa` (normalised exact match of the text after
            `Answer: `), `yes_no` (`true` when the answer contains "yes", else `false`),
            `value` (the highest-numbered variable, or `Output`, string-equal to the gold
            answer), `reward` (the shop's reward when `Click` ends the episode) or
            `step` (Mind2Web step success: element, operation and value of each step).
        final_qa_suffix: Appended to the task for the final QA call of iterative complex QA
            (StrategyQA: `" Must answer yes/no."`); never sent to the planner or other QA calls.
        onetime_last_qa: One-time complex QA: the question the last `QA` action is asked:
            `task` (replaced by the task, HotpotQA) or `own` (its own question, StrategyQA).
        onetime_last_qa_suffix: Appended to that last action's question in one-time mode
            (StrategyQA: `" Must answer yes/no."`, also on a last `Calculator`'s question).
            The original tested the action's position (`if idx:`), so a one-action
            grounding got no suffix.
        formulations: The formulations the original evaluated.
        episode_bounded: The loop also ends with the episode (Mind2Web: after the
            ground-truth number of steps; WebShop: when `Click` returns the reward).
        teacher_forced: The planner history is the ground-truth subgoals (Mind2Web).
        planner_stops: The original loop checked the planner output for
            `Yes, I will stop planning` (not WebShop, which ends on the reward, nor
            Mind2Web, which ends with the ground-truth steps).
        gold: How the original read the gold answer (documentation of the data loader).
    """

    name: str
    domain: str
    max_subgoals: int
    answer: Literal["qa", "yes_no", "value", "reward", "step"]
    final_qa_suffix: str = ""
    onetime_last_qa: Literal["task", "own"] = "task"
    onetime_last_qa_suffix: str = ""
    formulations: tuple[str, ...] = FORMULATIONS
    episode_bounded: bool = False
    teacher_forced: bool = False
    planner_stops: bool = True
    gold: str = ""


_YES_NO = " Must answer yes/no."

HOTPOTQA = DatasetProfile(
    name="hotpotqa",
    domain="complex_qa",
    max_subgoals=5,
    answer="qa",
    onetime_last_qa="task",
    gold="the `answer` field",
)
STRATEGYQA = DatasetProfile(
    name="strategyqa",
    domain="complex_qa",
    max_subgoals=5,
    answer="yes_no",
    final_qa_suffix=_YES_NO,
    onetime_last_qa="own",
    onetime_last_qa_suffix=_YES_NO,
    gold="`str(answer)` lower-cased (`true`/`false`)",
)
GSM8K = DatasetProfile(
    name="gsm8k",
    domain="maths",
    max_subgoals=8,
    answer="value",
    gold="the text after `####`, commas between digits removed",
)
SVAMP = DatasetProfile(
    name="svamp",
    domain="maths",
    max_subgoals=2,
    answer="value",
    gold="`str(int(Answer))`",
)
MIND2WEB = DatasetProfile(
    name="mind2web",
    domain="web_agent",
    max_subgoals=15,
    answer="step",
    formulations=("iterative",),
    episode_bounded=True,
    teacher_forced=True,
    planner_stops=False,
    gold="the positive candidates, operation and value of each ground-truth step",
)
WEBSHOP_DATASET = DatasetProfile(
    name="webshop",
    domain="webshop",
    max_subgoals=5,
    answer="reward",
    formulations=("iterative",),
    episode_bounded=True,
    planner_stops=False,
    gold="the environment's reward",
)

DATASET_PROFILES: dict[str, DatasetProfile] = {
    p.name: p for p in (HOTPOTQA, STRATEGYQA, GSM8K, SVAMP, MIND2WEB, WEBSHOP_DATASET)
}
"""Every dataset profile by name."""


# ---------------------------------------------------------------------------------------
# Domains
# ---------------------------------------------------------------------------------------

Dialogues = tuple[tuple[Turn, ...], ...]


@dataclasses.dataclass(frozen=True)
class Domain:
    """A Lumos domain: prompt profile, toolkit, released checkpoints and data sets.

    Attributes:
        name: Domain id, as in the checkpoint names (`complex_qa`, `maths`, ...).
        interface: The action-interface text placed after the grounding instruction
            (empty when none was published, e.g. `multimodal`).
        feedback: How an executed subgoal is reported to the planner: `result`
            ("The executed result for Subgoal k is X. Should we stop planning?"),
            `already` (web: "We have already ...") or `webshop` (no question).
        results_in_grounding: Complex QA: later grounding turns list earlier answers
            ("The grounding could be based on the following results: ...").
        strip_keep_planning: Remove "No, I will keep planning." from a subgoal before
            grounding. The maths evaluation script passed it through; so do we there.
        answer: How the final answer is read: `qa` (text after `Answer: `) or `value`
            (the value of the highest-numbered variable, or `Output`).
        final_qa: Iterative complex QA asks the `QA` tool the original question over
            every `Question: ...` result once the planner stops.
        max_subgoals: The evaluation loop's subgoal cap.
        plan_exemplars: In-context dialogues placed before the planner conversation.
        ground_exemplars: In-context dialogues placed before the grounder conversation.
        ground_prefix: Text forced at the start of the first grounding answer (WebShop: `R1 = `).
        echo_ground_prefix: Eval style: the grounder history repeats the forced prefix in
            front of the first answer (`R1 = R1 = Search(...)` after `<|assistant|>`), an original
            WebShop quirk (`render_prompt(history_prefix=...)`); the train style stays clean.
        strip_keep_planning_first: Remove "No, I will keep planning." from the first
            subgoal too. Only WebShop's script did; the others sent the first planner
            output to the grounder as it was.
        loose_stop: The small-model stop rules (see `langchain_lumos.parsing.parse_plan`):
            any "... will stop planning" and a repeated subgoal stop the plan. Off in the
            eval-compatible profile, which stops on `Yes, I will stop planning` only.
        profile: `"eval"` (the original evaluation, byte-exact) or `"small"` (the small-model
            profile of `langchain_lumos.profiles.small_model_profile`: its exemplars, loose
            stops and, by default, grammar-constrained decoding for models that support it).
        toolkit: `"module:function"` of the toolkit factory, imported by `create_tools`.
        toolkit_needs: Keyword arguments the factory requires (complex QA: `llm` for the
            `QA` tool; WebShop: `env`, the shop session).
        checkpoints: The released `ai2lumos/*` checkpoints for this domain.
        datasets: The evaluation data sets of the original code for this domain.
        dataset: The dataset profile this domain is specialised by, if any.
        training_data: Released training dialogues exist (`ai2lumos/lumos_<name>_*`).
        conversion_instruction: The instruction of the original annotation-conversion
            prompts an annotator model turns this domain's ground truth with (a key of
            `langchain_lumos.training.annotate.conversion_prompts()["instructions"]`:
            `qa`, `maths_gsm`, `web_agent`); empty when there is none.
    """

    name: str
    interface: str
    feedback: Literal["result", "already", "webshop"] = "result"
    results_in_grounding: bool = False
    strip_keep_planning: bool = True
    answer: Literal["qa", "value"] = "value"
    final_qa: bool = False
    max_subgoals: int = 5
    plan_exemplars: Dialogues = ()
    ground_exemplars: Dialogues = ()
    ground_prefix: str = ""
    echo_ground_prefix: bool = False
    strip_keep_planning_first: bool = False
    loose_stop: bool = False
    profile: Literal["eval", "small"] = "eval"
    toolkit: str | None = None
    toolkit_needs: tuple[str, ...] = ()
    checkpoints: tuple[LumosCheckpoint, ...] = ()
    datasets: tuple[DatasetProfile, ...] = ()
    dataset: DatasetProfile | None = None
    training_data: bool = False
    conversion_instruction: str = ""

    def replace(self, **changes: Any) -> Domain:
        """Return a copy with some fields changed (e.g. few-shot exemplars)."""
        return dataclasses.replace(self, **changes)

    def for_dataset(self, dataset: str | DatasetProfile) -> Domain:
        """This domain specialised by one of its dataset profiles (loop cap, profile).

        Raises:
            ValueError: If the data set is not evaluated with this domain.
        """
        profile = DATASET_PROFILES.get(dataset) if isinstance(dataset, str) else dataset
        if profile is None or profile.domain != self.name:
            names = [p.name for p in self.datasets]
            msg = f"Dataset {dataset!r} is not a data set of domain {self.name!r}; expected one of {names}."
            raise ValueError(msg)
        return self.replace(dataset=profile, max_subgoals=profile.max_subgoals)

    def create_tools(self, **kwargs: Any) -> list[BaseTool]:
        """Build this domain's toolkit (the tools module is imported now).

        Args:
            **kwargs: Passed to the factory, e.g. `llm=` (complex QA's QA tool) or
                `env=` (web agent and WebShop environments).

        Raises:
            ValueError: If the domain has no toolkit, or a required argument is missing.
        """
        if self.toolkit is None:
            msg = f"Domain {self.name!r} has no toolkit; pass your own tools."
            raise ValueError(msg)
        missing = [name for name in self.toolkit_needs if kwargs.get(name) is None]
        if missing:
            needs = ", ".join(f"{name}=" for name in missing)
            msg = f"The {self.name!r} toolkit needs {needs} (see {self.toolkit})."
            raise ValueError(msg)
        module_name, _, attr = self.toolkit.partition(":")
        factory: Callable[..., list[BaseTool]] = getattr(importlib.import_module(module_name), attr)
        return factory(**kwargs)


def _webshop_exemplars(base: Domain) -> tuple[Dialogues, Dialogues]:
    """The two WebShop dialogues of the original evaluation (`eval/webshop/examplars.py`).

    Rebuilt exactly as `eval/webshop/run_eval.py` assembled them: the planner hears
    "The execution result for Subgoal k is ..." (no question), and a grounder answer joins
    the actions of an exemplar string separated by ` || Action i-j:`.
    """
    data = json.loads(resources.files("langchain_lumos.data").joinpath("webshop_exemplars.json").read_text())
    plans, grounds = [], []
    for plan, ground in zip(data["plan"], data["ground"], strict=True):
        turns = [plan_request(plan["instruction"])]
        subgoals = []
        for i, chunk in enumerate(plan["subgoals"].split("; Subgoal ")):
            subgoal, results = (chunk if i == 0 else f"Subgoal {chunk}").split(" || Results: ")
            subgoals.append(subgoal)
            turns.append(Turn(role="assistant", content=subgoal.strip()))
            turns.append(
                Turn(
                    role="user", content=f"The execution result for Subgoal {i + 1} is {results.strip('.')}."
                )
            )
        plans.append(tuple(turns))
        ground_turns = []
        for i, chunk in enumerate(ground["actions"].split("; Action ")):
            acts = "; ".join(a[a.find(":") + 1 :].strip() for a in f"Action {chunk}".split(" || "))
            if i == 0:
                ground_turns.append(ground_request(base, ground["instruction"], subgoals[0]))
            else:
                ground_turns.append(Turn(role="user", content=f"Subgoal to be grounded: {subgoals[i]}"))
            ground_turns.append(Turn(role="assistant", content=acts))
        grounds.append(tuple(ground_turns))
    return tuple(plans), tuple(grounds)


COMPLEX_QA = Domain(
    name="complex_qa",
    interface=QA_INTERFACE,
    results_in_grounding=True,
    answer="qa",
    final_qa=True,
    max_subgoals=5,
    toolkit="langchain_lumos.tools:complex_qa_tools",
    toolkit_needs=("llm",),
    checkpoints=_pairs("complex_qa", ("iterative", "7B"), ("onetime", "7B"), ("iterative", "13B")),
    datasets=(HOTPOTQA, STRATEGYQA),
    training_data=True,
    conversion_instruction="qa",
)
MATHS = Domain(
    name="maths",
    interface=MATHS_INTERFACE,
    strip_keep_planning=False,
    max_subgoals=8,
    toolkit="langchain_lumos.tools:maths_tools",
    checkpoints=(
        *_pairs("maths", ("iterative", "7B"), ("onetime", "7B"), ("onetime", "13B")),
        LumosCheckpoint(
            "maths",
            "plan",
            "iterative",
            "13B",
            possibly_empty=True,
            note="Listed on the Hub, but its file listing shows only README/.gitattributes; "
            "no matching grounder was released.",
        ),
    ),
    datasets=(GSM8K, SVAMP),
    training_data=True,
    conversion_instruction="maths_gsm",
)
WEB_AGENT = Domain(
    name="web_agent",
    interface=WEB_INTERFACE,
    feedback="already",
    max_subgoals=15,
    toolkit="langchain_lumos.tools:web_agent_tools",
    checkpoints=_pairs("web_agent", ("iterative", "7B"), ("iterative", "13B")),
    datasets=(MIND2WEB,),
    training_data=True,
    conversion_instruction="web_agent",
)
_WEBSHOP_BASE = Domain(
    name="webshop",
    interface=WEBSHOP_INTERFACE,
    feedback="webshop",
    max_subgoals=5,
    ground_prefix="R1 = ",
    echo_ground_prefix=True,
    strip_keep_planning_first=True,
    toolkit="langchain_lumos.tools:webshop_tools",
    toolkit_needs=("env",),
    # WebShop is an unseen task: the original ran the unified checkpoints on it, 2-shot.
    checkpoints=_pairs("unified", ("iterative", "7B"), ("iterative", "13B")),
    datasets=(WEBSHOP_DATASET,),
    dataset=WEBSHOP_DATASET,
)
_WEBSHOP_PLAN, _WEBSHOP_GROUND = _webshop_exemplars(_WEBSHOP_BASE)
WEBSHOP = _WEBSHOP_BASE.replace(plan_exemplars=_WEBSHOP_PLAN, ground_exemplars=_WEBSHOP_GROUND)
"""WebShop with the original's two in-context dialogues (always: the name alone gives them)."""
MULTIMODAL = Domain(
    name="multimodal",
    interface="",
    checkpoints=_pairs("multimodal", ("iterative", "7B"), ("iterative", "13B")),
    training_data=True,
)
"""A-OKVQA training data and checkpoints; no grounding interface or tools were published."""

DOMAINS: dict[str, Domain] = {}
"""Registered domains by name (use `get_domain`, `list_domains`, `register_domain`)."""


def register_domain(domain: Domain, *, replace: bool = False) -> Domain:
    """Add a domain to the registry (its datasets become names for `get_domain` too).

    Args:
        domain: The domain.
        replace: Allow replacing a registered domain of the same name.

    Returns:
        The domain.

    Raises:
        TypeError: If `domain` is not a `Domain`.
        ValueError: If the name (or one of its dataset names) is already taken, or a
            dataset profile names another domain.
    """
    if not isinstance(domain, Domain):
        msg = f"register_domain expects a Domain, got {type(domain).__name__}."
        raise TypeError(msg)
    if domain.name in DOMAINS and not replace:
        msg = f"A domain named {domain.name!r} is already registered (pass replace=True)."
        raise ValueError(msg)
    for profile in domain.datasets:
        if profile.domain != domain.name:
            msg = (
                f"Dataset profile {profile.name!r} belongs to domain {profile.domain!r}, not {domain.name!r}."
            )
            raise ValueError(msg)
        owner = DATASET_PROFILES.get(profile.name)
        if owner is not None and owner != profile and not replace:
            msg = f"A dataset profile named {profile.name!r} is already registered."
            raise ValueError(msg)
        DATASET_PROFILES[profile.name] = profile
    DOMAINS[domain.name] = domain
    return domain


for _domain in (COMPLEX_QA, MATHS, WEB_AGENT, WEBSHOP, MULTIMODAL):
    register_domain(_domain)


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def get_domain(domain: str | Domain) -> Domain:
    """Resolve a domain or dataset name (or pass a `Domain` through).

    A dataset name (`hotpotqa`, `strategyqa`, `gsm8k`, `svamp`, `mind2web`, `webshop`)
    gives its domain specialised by the dataset profile (`Domain.for_dataset`).

    Raises:
        ValueError: If the name is neither a registered domain nor a dataset.
    """
    if isinstance(domain, Domain):
        return domain
    if not isinstance(domain, str):
        msg = f"domain must be a name or a Domain, got {type(domain).__name__}."
        raise TypeError(msg)
    key = _key(domain)
    if key in DOMAINS:
        return DOMAINS[key]
    profile = DATASET_PROFILES.get(key)
    if profile is not None and profile.domain in DOMAINS:
        return DOMAINS[profile.domain].for_dataset(profile)
    msg = (
        f"Unknown Lumos domain {domain!r}; expected one of {list_domains()}, a dataset "
        f"({', '.join(list_datasets())}) or a Domain."
    )
    raise ValueError(msg)


def list_domains(*, with_tools: bool = False) -> list[str]:
    """Names of the registered domains, in registration order.

    Args:
        with_tools: Only domains with a toolkit (those `lumos run` can run as they are).
    """
    return [name for name, d in DOMAINS.items() if not with_tools or d.toolkit is not None]


def list_datasets(domain: str | None = None) -> list[str]:
    """Names of the dataset profiles (of one domain, if given)."""
    return [name for name, p in DATASET_PROFILES.items() if domain is None or p.domain == _key(domain)]
