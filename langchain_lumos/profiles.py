"""The small-model profile: what helps a model never fine-tuned on the Lumos format.

The embedded default (SmolLM2-135M-Instruct) and any other small local or served model
run in this profile; the released `ai2lumos` checkpoints run in the eval-compatible style,
which this module never touches. Everything small-model-only lives here:

- **Exemplars** for both formulations (Lumos-I `iterative`, Lumos-O `onetime`) and every
  domain `lumos run` offers: complex QA (a single-hop and a two-hop question with a bridge
  entity), maths (every action calls a tool: `R1 = Calculator(...)`) and the web agent
  (WebShop keeps its own two original dialogues). `small_model_profile(domain, mode=...)`
  returns the domain with them and `loose_stop=True`; `profile_exemplars` reads them.
- **A short-span QA step**: `small_qa_answer(model, question, evidence)` picks the evidence
  sentences that best match the question and asks the model with a prompt in its own chat
  template. A local model scores the spans that may answer (`answer_candidates`, by its
  likelihood and a prior: the answer type, the sentence that best matches, a sentence
  saying the span is what was asked, "Cairo is the capital" or "the engineer Gustave
  Eiffel", and a number the question names just before it, "the 1982 Nobel Prize"); any
  other model's reply is snapped to a short span of the evidence. Never raw evidence text.
- **Nested questions planned by rule** (complex QA, both modes): "Which emperor exiled
  the author of the Metamorphoses?" is planned as its two hops, with no planner call,
  each hop asking its own question and the second one searching the first one's answer
  (`langchain_lumos.nested_questions`: `nested_plan`, `ask_hops`); any other question is
  planned by the model.
- **The task asked over the last evidence** (complex QA, both modes): as the original
  Lumos-O asks its plan's last `QA` the task, an iterative run ends with one `QA` call of
  the task over the evidence its last `QA` action read (skipped when that action already
  asked the task; its answer stands when this one finds none). A small grounder often
  rewrites the question it grounds. An answer found earlier and looked up by the last
  subgoal (the bridge entity, `executor.bridge_answers`) is excluded (`QA(exclude=...)`).
- **Answer substitution**: `qa_answer("Question: ...; Answer: Prague")` gives `Prague`, and
  `substitution_value` applies it to any variable value, so `KnowledgeQuery(R3)` searches
  for the bridge entity rather than the whole QA record.
- **Whole names searched**: `link_queries` widens `KnowledgeQuery(Liberty)` for "Who
  designed the Statue of Liberty?" to `KnowledgeQuery(Statue of Liberty)`, the longest page
  title the question (or an answer found so far) spells around the query, where the search backend can
  tell (`Corpus.link`); the grounder applies it to every grounding in this profile.
- **Repeated-subgoal detection**: `is_repeated_subgoal(subgoal, previous)` (stop an
  iterative plan that loops) and `drop_repeated_subgoals` (a one-time plan's repeats);
  `asked_subgoals`: a one-time plan's later subgoal that names nothing the task asks is
  an exemplar copy ("Obtain the birthplace of that composer."), dropped;
  `builds_on_result` / `small_plan_stop`: a later iterative subgoal that does not name the
  answer just found rephrases the hop instead of asking the next one.
- **A subgoal cap** (`SMALL_MAX_SUBGOALS`): complex QA plans at most two hops.
- **Early stop of a grounding line** once its final action is complete:
  `grounding_complete(text, domain, mode=...)`, `cut_grounding` (the line up to that
  action) and `GroundingStoppingCriteria` for `transformers` generation. Under constrained
  decoding the grammar itself ends the line there (`grammar_for`: one `QA(...)` per
  grounded subgoal, then only the newline), locally and on vLLM alike.
- **Grammars** with small-model bounds: `grammar_for(domain, tools, mode=..., module=...)`
  (through `langchain_lumos.grammar`), so constrained decoding cannot run an argument or
  a plan to the token cap; complex QA's arguments keep their shapes (`SIGNATURES`:
  `ParagraphRetrieve(Rk, Query: ...)`, `QA([Rk, ...], Question: ...)`).
- **An evidence-constrained QA answer** (opt-in, `small_qa_answer(..., constrain=True)`):
  the reply can only be a short span of the evidence (`grammar.span_grammar`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from langchain_lumos.domains import Domain, get_domain
from langchain_lumos.grammar import grounding_grammar, planning_grammar, span_grammar
from langchain_lumos.parsing import (
    STOPWORDS,
    Action,
    closing_paren,
    drop_repeated_subgoals,
    find_variables,
    is_repeated_subgoal,
    split_arguments,
    subgoal_words,
)
from langchain_lumos.prompts import (
    Turn,
    ground_followup,
    ground_request,
    plan_feedback,
    plan_request,
)
from langchain_lumos.state import GroundedAction

__all__ = [
    "FINAL_ACTIONS",
    "QA_PRIOR_WEIGHT",
    "QA_SENTENCES",
    "QA_SPAN_WORDS",
    "SIGNATURES",
    "SMALL_GRAMMAR_BOUNDS",
    "SMALL_MAX_SUBGOALS",
    "SMALL_QA_PROMPT",
    "GroundingStoppingCriteria",
    "answer_candidates",
    "asked_subgoals",
    "asmall_qa_answer",
    "builds_on_result",
    "cut_grounding",
    "drop_repeated_subgoals",
    "evidence_sentences",
    "found_answer",
    "grammar_for",
    "grounding_complete",
    "is_repeated_subgoal",
    "link_queries",
    "profile_exemplars",
    "qa_answer",
    "question_options",
    "small_model_profile",
    "small_plan_stop",
    "small_qa_answer",
    "snap_to_evidence",
    "stops_small_plan",
    "stops_small_plan_at",
    "substitution_value",
]

Mode = Literal["iterative", "onetime"]
Dialogues = tuple[tuple[Turn, ...], ...]

# ---------------------------------------------------------------------------------------
# Exemplars
# ---------------------------------------------------------------------------------------

_QA = get_domain("complex_qa")
_MATHS = get_domain("maths")
_WEB = get_domain("web_agent")

_QA2_TASK = "Where was the director of the film Jaws born?"
_QA2_S1 = "Subgoal 1: Obtain the director of the film Jaws."
_QA2_S2 = "Subgoal 2: Obtain the birthplace of Steven Spielberg."
_QA2_R1 = "Question: Who directed the film Jaws?; Answer: Steven Spielberg"
_QA2_R2 = "Question: Where was Steven Spielberg born?; Answer: Cincinnati"
_QA2_G1 = (
    "R1 = KnowledgeQuery(Jaws); R2 = ParagraphRetrieve(R1, Query: Who directed the film Jaws?); "
    "R3 = QA([R2], Question: Who directed the film Jaws?)"
)
_QA2_G2 = (
    "R4 = KnowledgeQuery(Steven Spielberg); R5 = ParagraphRetrieve(R4, Query: Where was Steven Spielberg born?); "
    "R6 = QA([R5], Question: Where was Steven Spielberg born?)"
)
_QA1_TASK = "Who wrote the novel Dracula?"
_QA1_S1 = "Subgoal 1: Obtain the author of the novel Dracula."
_QA1_G1 = (
    "R1 = KnowledgeQuery(Dracula); R2 = ParagraphRetrieve(R1, Query: Who wrote the novel Dracula?); "
    "R3 = QA([R2], Question: Who wrote the novel Dracula?)"
)
_QA1_R1 = "Question: Who wrote the novel Dracula?; Answer: Bram Stoker"
_KEEP = "No, I will keep planning. "
_STOP = "Yes, I will stop planning."

_QA_ITERATIVE_PLAN: Dialogues = (
    (
        plan_request(_QA1_TASK),
        Turn(role="assistant", content=_QA1_S1),
        plan_feedback(_QA, 1, "", "Bram Stoker"),
        Turn(role="assistant", content=_STOP),
    ),
    (
        plan_request(_QA2_TASK),
        Turn(role="assistant", content=_QA2_S1),
        plan_feedback(_QA, 1, "", "Steven Spielberg"),
        Turn(role="assistant", content=_KEEP + _QA2_S2),
        plan_feedback(_QA, 2, "", "Cincinnati"),
        Turn(role="assistant", content=_STOP),
    ),
)
_QA_ITERATIVE_GROUND: Dialogues = (
    (
        ground_request(_QA, _QA1_TASK, _QA1_S1),
        Turn(role="assistant", content=_QA1_G1),
    ),
    (
        ground_request(_QA, _QA2_TASK, _QA2_S1),
        Turn(role="assistant", content=_QA2_G1),
        ground_followup(_QA, _KEEP + _QA2_S2, [("Subgoal 1", _QA2_R1)]),
        Turn(role="assistant", content=_QA2_G2),
    ),
)
# One-time: the second hop names the bridge by its variable (`R3`), which the
# executor fills with the answer alone (`substitution_value`).
_QA2_ONETIME_PLAN = (
    "Subgoal 1: Obtain the director of the film Jaws.; Subgoal 2: Obtain the birthplace of that director."
)
_QA2_ONETIME_GROUND = (
    _QA2_G1 + "; R4 = KnowledgeQuery(R3); R5 = ParagraphRetrieve(R4, Query: Where was R3 born?); "
    "R6 = QA([R5], Question: Where was R3 born?)"
)
_QA_ONETIME_PLAN: Dialogues = (
    (plan_request(_QA1_TASK), Turn(role="assistant", content=_QA1_S1)),
    (plan_request(_QA2_TASK), Turn(role="assistant", content=_QA2_ONETIME_PLAN)),
)
_QA_ONETIME_GROUND: Dialogues = (
    (ground_request(_QA, _QA1_TASK, _QA1_S1, onetime=True), Turn(role="assistant", content=_QA1_G1)),
    (
        ground_request(_QA, _QA2_TASK, _QA2_ONETIME_PLAN, onetime=True),
        Turn(role="assistant", content=_QA2_ONETIME_GROUND),
    ),
)

_M_TASK = "A shop sells 3 boxes of 12 pencils and 5 loose pencils. How many pencils is that?"
_M_S1 = "Subgoal 1: Calculate the pencils in the boxes."
_M_S2 = "Subgoal 2: Add the loose pencils."
_M2_TASK = "Tom has 20 dollars. He buys 4 pens at 3 dollars each. How much money does he have left?"
_M2_S1 = "Subgoal 1: Calculate the cost of the pens."
_M2_S2 = "Subgoal 2: Subtract the cost from the money Tom has."
_MATHS_ITERATIVE_PLAN: Dialogues = (
    (
        plan_request(_M_TASK),
        Turn(role="assistant", content=_M_S1),
        plan_feedback(_MATHS, 1, "", "36"),
        Turn(role="assistant", content=_KEEP + _M_S2),
        plan_feedback(_MATHS, 2, "", "41"),
        Turn(role="assistant", content=_STOP),
    ),
    (
        plan_request(_M2_TASK),
        Turn(role="assistant", content=_M2_S1),
        plan_feedback(_MATHS, 1, "", "12"),
        Turn(role="assistant", content=_KEEP + _M2_S2),
        plan_feedback(_MATHS, 2, "", "8"),
        Turn(role="assistant", content=_STOP),
    ),
)
_MATHS_ITERATIVE_GROUND: Dialogues = (
    (
        ground_request(_MATHS, _M_TASK, _M_S1),
        Turn(role="assistant", content="R1 = Calculator(3 * 12)"),
        ground_followup(_MATHS, _KEEP + _M_S2),
        Turn(role="assistant", content="R2 = Calculator(R1 + 5)"),
    ),
    (
        ground_request(_MATHS, _M2_TASK, _M2_S1),
        Turn(role="assistant", content="R1 = Calculator(4 * 3)"),
        ground_followup(_MATHS, _KEEP + _M2_S2),
        Turn(role="assistant", content="R2 = Calculator(20 - R1)"),
    ),
)
_MATHS_ONETIME_PLAN: Dialogues = (
    (plan_request(_M_TASK), Turn(role="assistant", content=f"{_M_S1}; {_M_S2}")),
    (plan_request(_M2_TASK), Turn(role="assistant", content=f"{_M2_S1}; {_M2_S2}")),
)
_MATHS_ONETIME_GROUND: Dialogues = (
    (
        ground_request(_MATHS, _M_TASK, f"{_M_S1}; {_M_S2}", onetime=True),
        Turn(role="assistant", content="R1 = Calculator(3 * 12); R2 = Calculator(R1 + 5)"),
    ),
    (
        ground_request(_MATHS, _M2_TASK, f"{_M2_S1}; {_M2_S2}", onetime=True),
        Turn(role="assistant", content="R1 = Calculator(4 * 3); R2 = Calculator(20 - R1)"),
    ),
)

_W_TASK = "Search for hotels in Boston."
_W_S1 = "Subgoal 1: Click on the Hotels link."
_W_S2 = "Subgoal 2: Type Boston into the destination box."
_WEB_ITERATIVE_PLAN: Dialogues = (
    (
        plan_request(_W_TASK),
        Turn(role="assistant", content=_W_S1),
        plan_feedback(_WEB, 1, "Click on the Hotels link.", ""),
        Turn(role="assistant", content=_KEEP + _W_S2),
        plan_feedback(_WEB, 2, "Type Boston into the destination box.", ""),
        Turn(role="assistant", content=_STOP),
    ),
)
_WEB_ITERATIVE_GROUND: Dialogues = (
    (
        ground_request(_WEB, _W_TASK, _W_S1),
        Turn(role="assistant", content="R1 = CLICK(Env, QUERY: Hotels link)"),
        ground_followup(_WEB, _KEEP + _W_S2),
        Turn(role="assistant", content="R2 = TYPE(Env, QUERY: Destination box, TEXT: Boston)"),
    ),
)

_EXEMPLARS: dict[tuple[str, Mode], tuple[Dialogues, Dialogues]] = {
    ("complex_qa", "iterative"): (_QA_ITERATIVE_PLAN, _QA_ITERATIVE_GROUND),
    ("complex_qa", "onetime"): (_QA_ONETIME_PLAN, _QA_ONETIME_GROUND),
    ("maths", "iterative"): (_MATHS_ITERATIVE_PLAN, _MATHS_ITERATIVE_GROUND),
    ("maths", "onetime"): (_MATHS_ONETIME_PLAN, _MATHS_ONETIME_GROUND),
    ("web_agent", "iterative"): (_WEB_ITERATIVE_PLAN, _WEB_ITERATIVE_GROUND),
}


def _mode(mode: str) -> Mode:
    if mode not in ("iterative", "onetime"):
        msg = f"mode must be 'iterative' or 'onetime', got {mode!r}."
        raise ValueError(msg)
    return "iterative" if mode == "iterative" else "onetime"


def profile_exemplars(domain: str | Domain, mode: str = "iterative") -> tuple[Dialogues, Dialogues]:
    """The small-model profile's `(plan_exemplars, ground_exemplars)` of a domain and mode.

    Args:
        domain: A domain or dataset name, or a `Domain`.
        mode: `iterative` (Lumos-I) or `onetime` (Lumos-O).

    Returns:
        The planner and grounder dialogues; `((), ())` for a domain the profile ships
        none for (a custom domain, or the web agent in one-time mode).
    """
    name = get_domain(domain).name
    return _EXEMPLARS.get((name, _mode(mode)), ((), ()))


def small_model_profile(domain: str | Domain, *, mode: str = "iterative") -> Domain:
    """The domain as the small-model profile runs it.

    Worked exemplars of the mode (complex QA single-hop and two-hop, maths with a tool
    call in every action, the web agent), the loose stop rules (`loose_stop=True`) and
    the subgoal cap of `SMALL_MAX_SUBGOALS` (complex QA: two hops).
    They replace any exemplars the domain carries (so a domain made for the other mode
    gets the right ones); a domain the profile ships none for keeps its own (WebShop's
    original two). A dataset specialisation (loop cap, dataset profile) is kept.

    Args:
        domain: A domain or dataset name, or a `Domain`.
        mode: `iterative` or `onetime`.

    Returns:
        The domain with the profile applied.
    """
    resolved = get_domain(domain)
    plan, ground = profile_exemplars(resolved, mode)
    cap = SMALL_MAX_SUBGOALS.get(resolved.name)
    extra: dict[str, Any] = {"max_subgoals": min(resolved.max_subgoals, cap)} if cap else {}
    if not (plan or ground):  # none shipped for it: keep its own (WebShop's two dialogues)
        return resolved.replace(loose_stop=True, profile="small", **extra)
    return resolved.replace(
        plan_exemplars=plan, ground_exemplars=ground, loose_stop=True, profile="small", **extra
    )


SMALL_MAX_SUBGOALS: Mapping[str, int] = MappingProxyType({"complex_qa": 2})
"""Per domain, the small profile's cap on the subgoals of a plan: complex QA plans at most
two hops (the exemplars show one and two). A 135M planner never stops on its own: after a
question's hop it rephrases the hop or chains on from its answer ("the capital of Mali",
then "the capital of Bamako"), and the run answers with the last hop."""


# ---------------------------------------------------------------------------------------
# Answer substitution and repeated subgoals
# ---------------------------------------------------------------------------------------

_QA_RESULT_RE = re.compile(r"^\s*Question:.*?;\s*Answer:\s*(.*)$", re.DOTALL)
_ANSWER_RE = re.compile(r"\bAnswer\s*:\s*", re.IGNORECASE)


def qa_answer(result: str) -> str:
    """The answer part of a QA result, for substitution into later actions.

    `"Question: Where was Franz Kafka born?; Answer: Prague"` gives `"Prague"`; a text
    without an `Answer:` is returned stripped (`"No answer."` stays as it is).
    """
    match = _QA_RESULT_RE.match(result)
    if match is None:
        parts = _ANSWER_RE.split(result)
        text = parts[-1] if len(parts) > 1 else result
    else:
        text = match.group(1)
    return text.strip().split("\n", 1)[0].strip().rstrip(";").strip()


def substitution_value(value: Any) -> Any:
    """A variable's value as the small-model profile substitutes it into a later action.

    A QA result (`"Question: ...; Answer: X"`) becomes its answer `X`; any other value
    is returned unchanged.
    """
    if isinstance(value, str) and _QA_RESULT_RE.match(value):
        return qa_answer(value)
    return value


def found_answer(result: str | None) -> str | None:
    """The answer a QA result found (`qa_answer`), or None: no QA result, or `No answer`."""
    if not result or "Answer:" not in result:
        return None
    answer = qa_answer(result)
    return None if answer.casefold().rstrip(".") in ("", "no answer", "none") else answer


def builds_on_result(subgoal: str, result: str | None) -> bool:
    """Whether a later iterative subgoal builds on the last subgoal's result (a next hop).

    A small planner that keeps planning mostly rephrases the hop it just did ("Obtain the
    location of the capital of Czechia" after learning that Prague lies on the Vltava); a
    real next hop asks about the entity just found ("Obtain the population of Prague").
    True when the subgoal names every content word of the result's answer (`qa_answer`),
    or when there is no QA answer to build on (`No answer`, nothing run, a result that is
    not a QA result such as a `Calculator` number): then a new subgoal is no rephrasing of
    a found answer.

    Args:
        subgoal: The new subgoal (with or without its label).
        result: The previous subgoal's executed result (`"Question: ...; Answer: X"`).
    """
    answer = found_answer(result)
    if answer is None:  # no QA answer (nothing run, a number, a page, "No answer")
        return True
    wanted = subgoal_words(answer)
    return bool(wanted) and wanted <= subgoal_words(subgoal)


def small_plan_stop(subgoal: str, previous: Sequence[str], result: str | None) -> bool:
    """Whether the small profile stops an iterative plan instead of running `subgoal`.

    It stops on a subgoal that repeats one planned before (`is_repeated_subgoal`) and on
    one that does not build on the last result (`builds_on_result`): the answer found so
    far stands.
    """
    return is_repeated_subgoal(subgoal, previous) or not builds_on_result(subgoal, result)


def asked_subgoals(domain: str | Domain, mode: str, task: str, subgoals: Sequence[str]) -> list[int]:
    """The indexes of a one-time plan's subgoals to run: the later ones must name what the task asks.

    A small planner copies its exemplar's second hop ("Obtain the birthplace of that
    composer." for "Who composed the ballet The Nutcracker?"); that hop then searches the
    answer found and asks the task over the wrong page, the right answer excluded as the
    bridge. A later subgoal sharing no content word with the task is dropped. Every
    subgoal is kept anywhere but one-time complex QA in the small profile.

    Args:
        domain: The run's domain.
        mode: `iterative` or `onetime`.
        task: The task.
        subgoals: The plan's subgoal texts.
    """
    resolved = get_domain(domain)
    if resolved.profile != "small" or resolved.name != "complex_qa" or _mode(mode) != "onetime":
        return list(range(len(subgoals)))
    asked = subgoal_words(task)
    return [i for i, text in enumerate(subgoals) if i == 0 or subgoal_words(text) & asked]


def stops_small_plan(
    domain: str | Domain, mode: str, subgoal: str, previous: Sequence[str], result: str | None
) -> bool:
    """Whether the planner stops instead of running `subgoal` (the small profile's hop rule).

    `small_plan_stop` for an iterative complex-QA plan of the small-model profile; False
    anywhere else (the eval profile, one-time plans, maths, whose next subgoal need not
    name the last number, the web agent).

    Args:
        domain: The run's domain.
        mode: `iterative` or `onetime`.
        subgoal: The new subgoal's text.
        previous: The texts of the subgoals planned before.
        result: The executed result of the last one.
    """
    resolved = get_domain(domain)
    if resolved.profile != "small" or resolved.name != "complex_qa" or _mode(mode) != "iterative":
        return False
    return bool(previous) and small_plan_stop(subgoal, previous, result)


def stops_small_plan_at(domain: str | Domain, mode: str, state: Mapping[str, Any], subgoal: str) -> bool:
    """`stops_small_plan` for the next subgoal of a run: its earlier subgoals and last result read from `state`.

    Args:
        domain: The run's domain.
        mode: `iterative` or `onetime`.
        state: The run's state (or result) with its `subgoals`, `actions` and `observations`.
        subgoal: The new subgoal's text.
    """
    from langchain_lumos.state import subgoal_result

    subgoals = state.get("subgoals", [])
    if not subgoals:
        return False
    result = subgoal_result(state, subgoals[-1]["index"])  # type: ignore[arg-type]
    return stops_small_plan(domain, mode, subgoal, [s["text"] for s in subgoals], result)


# ---------------------------------------------------------------------------------------
# Early stop of a grounding line
# ---------------------------------------------------------------------------------------

FINAL_ACTIONS: Mapping[str, frozenset[str] | None] = {
    "complex_qa": frozenset({"QA"}),
    "maths": None,
    "web_agent": None,
}
"""Per domain, the actions that complete an iterative subgoal's grounding (`None`: any
action; a domain not listed is never stopped early). One iterative complex-QA subgoal ends
with its `QA(...)`; a maths or web subgoal is one action in the profile's exemplars."""

SIGNATURES: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "complex_qa": MappingProxyType(
            {
                "KnowledgeQuery": ("words",),
                "ParagraphRetrieve": ("var", "Query: "),
                "QA": ("[vars]", "Question: "),
            }
        ),
    }
)
"""Per domain, the argument shapes the small profile's grounding grammar enforces
(`langchain_lumos.grammar.grounding_grammar`'s `signatures`): `KnowledgeQuery` searches
for words of the task and the answers found so far (or an earlier result's variable, the
bridge entity), so a small model cannot copy an exemplar's entity (`KnowledgeQuery(Dracula)` for a question
about the Statue of Liberty); `ParagraphRetrieve` reads a variable and a `Query: `, `QA` a
bracketed list of variables and a `Question: ` (a question without `;` that ends at its
`?`, so no `; Answer: ...` guess or run-on text rides along)."""

_ACTION_HEAD_RE = re.compile(r"(?:^|;\s*)R\d+(?:\s*,\s*R\d+)*\s*=\s*([A-Za-z_]\w*)\s*\(")


def _domain_name(domain: str | Domain) -> str | None:
    """The domain's name (a dataset name gives its domain); None for an unknown name."""
    if isinstance(domain, Domain):
        return domain.name
    if domain in FINAL_ACTIONS:
        return domain
    try:
        return get_domain(domain).name
    except ValueError:
        return None


def _completion_end(text: str, domain: str | Domain, mode: str, subgoals: int | None) -> int | None:
    """The end of the action completing the grounding, or None while it is not complete."""
    count = subgoals if subgoals is not None else (1 if _mode(mode) == "iterative" else None)
    if count is None or count < 1:
        return None
    name = _domain_name(domain)
    if name is None or name not in FINAL_ACTIONS:
        return None
    finals = FINAL_ACTIONS[name]
    for match in _ACTION_HEAD_RE.finditer(text):
        close = closing_paren(text, match.end() - 1)
        if close is None:
            return None
        if finals is None or match.group(1) in finals:
            count -= 1
            if count == 0:
                return close + 1
    return None


def grounding_complete(
    text: str, domain: str | Domain, *, mode: str = "iterative", subgoals: int | None = None
) -> bool:
    """Whether a (partial) grounding line already holds its final action.

    Iterative mode grounds one subgoal: complex QA is complete after the first whole
    `QA(...)`, maths and the web agent after their first whole action. A one-time line
    grounds the whole plan: it is complete after one final action per planned subgoal
    when `subgoals` (the plan's length) is given, else only at the newline.

    Args:
        text: The grounder output so far.
        domain: The domain (or its name).
        mode: `iterative` or `onetime`.
        subgoals: The number of subgoals the line grounds (default: 1 in iterative mode,
            unknown in one-time mode).
    """
    return _completion_end(text, domain, mode, subgoals) is not None


def cut_grounding(
    text: str, domain: str | Domain, *, mode: str = "iterative", subgoals: int | None = None
) -> str:
    """The grounding line up to its final action (what an early stop keeps).

    A generation stopped by `GroundingStoppingCriteria` may end a token past the closing
    parenthesis (`...born?);`): this cuts it there. Text that is not complete is returned
    as its first line.
    """
    end = _completion_end(text, domain, mode, subgoals)
    return (text[:end] if end is not None else text.split("\n", 1)[0]).strip()


class GroundingStoppingCriteria:
    """A `transformers` stopping criterion: stop a row once its grounding is complete.

    Called by `generate` after every step with the full `input_ids`; a row is done once
    the decoded text of its generated tokens passes `grounding_complete`. Returns one bool
    per row (`generate` stops when all are done). Put it in the `stopping_criteria` list
    next to the newline criterion, and apply `cut_grounding` to the decoded text.

    Args:
        tokenizer: The model's tokenizer.
        prompt_length: The (left-padded) prompt width: later tokens are generated ones.
        domain: The domain (or its name).
        mode: `iterative` or `onetime`.
        subgoals: The number of subgoals the line grounds (see `grounding_complete`).
    """

    def __init__(
        self,
        tokenizer: Any,
        prompt_length: int,
        domain: str | Domain,
        *,
        mode: str = "iterative",
        subgoals: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.domain = domain
        self.mode = _mode(mode)
        self.subgoals = subgoals
        self.done: list[bool] = []

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        """Mark the rows whose grounding is complete; return the per-row done mask."""
        import torch

        rows = input_ids.shape[0]
        if len(self.done) != rows:
            self.done = [False] * rows
        can_stop = self.mode == "iterative" or self.subgoals is not None
        if can_stop and input_ids.shape[1] > self.prompt_length:
            for row in range(rows):
                if not self.done[row]:
                    text = self.tokenizer.decode(
                        input_ids[row, self.prompt_length :], skip_special_tokens=True
                    )
                    self.done[row] = grounding_complete(
                        text, self.domain, mode=self.mode, subgoals=self.subgoals
                    )
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)


# ---------------------------------------------------------------------------------------
# Grammars with small-model bounds
# ---------------------------------------------------------------------------------------


SMALL_GRAMMAR_BOUNDS: Mapping[str, int] = MappingProxyType(
    {
        "max_argument_words": 30,
        "iterative_actions": 3,
        "onetime_actions": 9,
        "max_subgoals": 4,
        "max_subgoal_words": 20,
    }
)
"""The small-model bounds: an argument level (and a QA question) holds at most 30 words, an
iterative grounding 3 actions (KnowledgeQuery, ParagraphRetrieve, QA), a one-time grounding
9, a one-time plan 4 subgoals of at most 20 words each. Words, not characters: a character
bound costs seconds of grammar compilation per grounding turn (`grammar._text`)."""

_MULTI_OUTPUT = ("SolveEquation",)


def _tool_names(tools: Sequence[Any]) -> list[str]:
    names = [t if isinstance(t, str) else getattr(t, "name", None) for t in tools]
    if not names or any(not isinstance(n, str) or not n for n in names):
        msg = "grammar_for needs tools (or tool names) with a name each."
        raise ValueError(msg)
    return [str(n) for n in names]


def _next_variable(variables: Mapping[str, Any]) -> int:
    numbers = [int(k[1:]) for k in variables if re.fullmatch(r"R\d{1,9}", k)]
    return max(numbers, default=0) + 1


def grammar_for(
    domain: str | Domain,
    tools: Sequence[Any],
    *,
    mode: str,
    module: Literal["plan", "ground"] = "ground",
    state: Mapping[str, Any] | None = None,
    first_variable: int | None = None,
    next_index: int | None = None,
    forced_prefix: str = "",
) -> str:
    """The grounding or planning grammar of the next module call, with small-model bounds.

    Args:
        domain: The domain (or its name): its forced prefix applies to the first grounding.
        tools: The registered tools (or their names): the actions the grounder may call.
            `SolveEquation` may assign two variables.
        mode: `iterative` or `onetime`.
        module: `ground` (an action line) or `plan` (a planner line).
        state: The graph state so far (`variables`, `subgoals`): the next variable number
            and the next subgoal number are read from it unless given.
        first_variable: The first new variable number (default: one past the state's).
        next_index: The next subgoal number (default: one past the state's subgoals).
        forced_prefix: Text the prompt already ends with (default: the domain's
            `ground_prefix` on the first grounding).

    Returns:
        An xgrammar EBNF grammar (see `langchain_lumos.grammar`).
    """
    chosen = _mode(mode)
    resolved = get_domain(domain)
    state = state or {}
    bounds = SMALL_GRAMMAR_BOUNDS
    if module == "plan":
        index = next_index if next_index is not None else len(state.get("subgoals") or ()) + 1
        return planning_grammar(
            mode=chosen,
            next_index=index,
            max_subgoals=min(bounds["max_subgoals"], resolved.max_subgoals),
            max_subgoal_words=bounds["max_subgoal_words"],
        )
    if module != "ground":
        msg = f"module must be 'plan' or 'ground', got {module!r}."
        raise ValueError(msg)
    names = _tool_names(tools)
    first = first_variable if first_variable is not None else _next_variable(state.get("variables") or {})
    prefix = forced_prefix
    if not prefix and first == 1 and resolved.ground_prefix:
        prefix = resolved.ground_prefix
    max_actions = bounds["iterative_actions"] if chosen == "iterative" else bounds["onetime_actions"]
    finals, count = _final_rule(resolved, names, chosen, state)
    if finals:
        # One final action per subgoal; a one-time line may take a full subgoal's actions each.
        max_actions = max(max_actions, bounds["iterative_actions"] * count)
    return grounding_grammar(
        names,
        first_variable=first,
        max_actions=max_actions,
        multi_output=[n for n in _MULTI_OUTPUT if n in names],
        forced_prefix=prefix,
        max_argument_words=bounds["max_argument_words"],
        final_actions=finals,
        final_count=count,
        signatures={k: v for k, v in SIGNATURES.get(resolved.name, {}).items() if k in names}
        if finals
        else None,
        context_words=_context_words(state, tools),
    )


def _context_texts(state: Mapping[str, Any]) -> list[str]:
    """The task, then the answers found so far: the text a search query's words come from.

    Not the subgoals: a small planner's subgoal may name what the task never does ("Obtain
    the birthplace of the capital of the country of Africa" for "In which country is Mount
    Kilimanjaro?"), and a search for it finds the wrong page. A next hop's entity is an
    answer found (the bridge), which the subgoal naming it only repeats.
    """
    texts = [str(state.get("task") or "")]
    texts += [
        qa_answer(value)
        for value in (state.get("variables") or {}).values()
        if isinstance(value, str) and _QA_RESULT_RE.match(value)
    ]
    return texts


def _search_backend_method(tools: Sequence[Any], name: str) -> Any:
    """The `KnowledgeQuery` tool's backend method `name` (`unknown`, `link`), or None."""
    search = next((t for t in tools if getattr(t, "name", None) == "KnowledgeQuery"), None)
    method = getattr(getattr(search, "backend", None), name, None)
    return method if callable(method) else None


def _context_words(state: Mapping[str, Any], tools: Sequence[Any] = ()) -> list[str]:
    """The words of the task and the answers found so far (what a search query may use).

    When the `KnowledgeQuery` tool's backend can tell (`unknown(word)`, the offline corpus),
    not the words whose search terms it has never seen: a query of them ("Halibegovic")
    finds nothing, and the grounding fails.
    """
    words = [w for text in _context_texts(state) for w in text.split()]
    # A possessive also gives its bare name ("Kafka's" -> "Kafka").
    words += [w[:-2] for w in words if w.endswith(("'s", "’s"))]
    unknown = _search_backend_method(tools, "unknown")
    if unknown is None:
        return words
    return [w for w in words if not unknown(w)] or words


def link_queries(
    actions: Sequence[GroundedAction], state: Mapping[str, Any], tools: Sequence[Any]
) -> list[GroundedAction]:
    """The grounded actions, each `KnowledgeQuery` of part of a name widened to the whole name.

    A small grounder often searches part of a name the question gives whole:
    `KnowledgeQuery(Liberty)` for "Who designed the Statue of Liberty?" finds the page
    *Liberty*. When the `KnowledgeQuery` tool's backend can tell (`link(mention, context)`,
    the offline corpus: the longest page title the text spells around the mention), such an
    action becomes `KnowledgeQuery(Statue of Liberty)`, with the task first, then the
    answers found so far, as the text. A query naming a variable (`KnowledgeQuery(R3)`), a keyword
    argument, or a query no longer title holds is kept as written; so is every action
    when the backend cannot tell (web search).
    """
    link = _search_backend_method(tools, "link")
    if link is None:
        return list(actions)
    texts = [t for t in _context_texts(state) if t]
    out: list[GroundedAction] = []
    for action in actions:
        out.append(action)
        if action.get("error") or action["name"] != "KnowledgeQuery" or action.get("kwargs") is not None:
            continue
        mention, keywords = split_arguments(action["args"])
        if mention is None or keywords or find_variables(mention):
            continue
        title = next((t for text in texts if (t := link(mention.strip(), text))), None)
        if title is None:  # `link` only returns a title longer than the mention
            continue
        text = Action(tuple(action["variables"]), action["name"], title).text
        linked: GroundedAction = {**action, "args": title, "text": text}
        out[-1] = linked
    return out


def _final_rule(
    domain: Domain, names: Sequence[str], mode: Mode, state: Mapping[str, Any]
) -> tuple[list[str], int]:
    """The final actions the small profile's grounding line ends at, and how many of them.

    The early stop of a grounding line (`FINAL_ACTIONS`), as a grammar: in the small-model
    profile only (a domain the profile applied to), iterative mode ends the line at its first
    final action, one-time mode at one per planned subgoal (unknown plan: no rule). Returns
    `([], 1)` where no rule applies (another profile, an unlisted domain, no final action
    registered).
    """
    if domain.profile != "small" or domain.name not in FINAL_ACTIONS:
        return [], 1
    listed = FINAL_ACTIONS[domain.name]
    finals = [n for n in names if listed is None or n in listed]
    count = 1 if mode == "iterative" else len(state.get("subgoals") or ())
    if not finals or count < 1:
        return [], 1
    return finals, count


# ---------------------------------------------------------------------------------------
# Short-span QA
# ---------------------------------------------------------------------------------------

SMALL_QA_PROMPT = (
    "Read the text and answer the question with a few words copied from the text.\n\n"
    "Text: {evidence}\n\nQuestion: {question}\nAnswer:"
)
"""The QA prompt of the small-model profile (rendered in the model's chat template)."""

_EVIDENCE_LABEL_RE = re.compile(r"^\s*(?:Evidence\s*\d+\s*:|Reference Table\s*:)\s*", re.I)
_WORD_RE = re.compile(r"[\w'’-]+")
_QUESTION_WORDS = STOPWORDS | frozenset(
    {"who", "whom", "whose", "what", "which", "where", "when", "why", "how", "did", "does", "do"}
    | {"has", "have", "had", "be", "been", "it", "its", "his", "her", "their", "as", "at", "name"}
    | {"i", "not", "no", "know", "don't", "answer", "unknown", "sorry", "text", "sure"}
)
_NAME_JOINERS = ("of", "de", "da", "van", "von")
_EDGE_WORDS = frozenset({"and", "or", "in", *_NAME_JOINERS})
"""Words no candidate span begins or ends with ("and polonium", "of Liberty", "Statue of")."""
_TOKEN_RE = re.compile(r"[\w'’.,%-]+")
"""An evidence sentence's tokens, punctuation attached (`Prague,` ends a phrase)."""
_IN_NAMES = frozenset({"prize", "prizes", "award", "awards", "medal"})
"""Words a name carries on after with `in` ("Nobel Prize in Literature"; not "Museo Reina Sofía in Madrid")."""
_MAX_SPAN_WORDS = 8
_NO_ANSWER = "No answer"
_MAX_SNAP_WORDS = 6
_ECHO_WORDS = 6
_VERBS = frozenset({"is", "was", "are", "were", "has", "have", "had", "be", "been", "being"})


def _flatten(evidence: Any) -> list[str]:
    if isinstance(evidence, str):
        return [evidence]
    if isinstance(evidence, (list, tuple)):
        out: list[str] = []
        for item in evidence:
            out += _flatten(item)
        return out
    return [str(evidence)]


def evidence_sentences(evidence: Any) -> list[str]:
    """The sentences of an evidence value (`Evidence N:` lines, a list, page entries).

    An abbreviation's period (`Op. 71`, `St. Petersburg`, `H. L. Mencken`) ends no sentence.
    """
    from langchain_lumos.tools.complex_qa import join_abbreviations

    sentences: list[str] = []
    for chunk in _flatten(evidence):
        for line in chunk.split("\n"):
            line = _EVIDENCE_LABEL_RE.sub("", line)
            if "***" in line:
                line = line.split("***", 1)[1]
            pieces = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])", line.strip())
            sentences += [p.strip() for p in join_abbreviations(pieces, " ") if p.strip()]
    return sentences


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.casefold())


def _ranked(question: str, sentences: Sequence[str]) -> list[str]:
    """Sentences by the question's content words they share, rarer words weighing more."""
    keys = {w for w in _words(question) if w not in _QUESTION_WORDS}
    bags = [set(_words(sentence)) for sentence in sentences]
    df = {k: sum(k in bag for bag in bags) for k in keys}
    scores = [sum(1.0 / df[k] for k in keys & bag) for bag in bags]
    order = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    return [sentences[i] for i in order]


_NUMBER_UNITS = frozenset(
    {"million", "billion", "thousand", "hundred", "km", "kilometres", "kilometers", "metres", "meters", "m"}
    | {"ft", "mi", "years", "percent", "bc", "ad", "ce"}
)
_AGENT_CUES = frozenset({"by", "author", "writer", "poet", "painter", "sculptor", "composer", "director"})
_PLACE_WORDS = ("in", "at", "from", "near", "on", "into")
_SENTENCE_OPENERS = frozenset({"the", "a", "an", "he", "she", "it", "they", "his", "her", "its", "in", "on"})


def _which_noun(question: str) -> str:
    """The noun a "which"/"what" question asks for (`Which dynasty ...` -> `dynasty`)."""
    match = re.search(r"\b(?:which|what)\s+([a-z]+)", question.casefold())
    return match.group(1) if match and match.group(1) not in _QUESTION_WORDS else ""


def _named(question: str, exclude: Sequence[str]) -> set[str]:
    """The words an answer may not be made of: the question's, and those of answers excluded."""
    return set(_words(question)).union(*(_words(text) for text in exclude))


def _phrases(question: str, sentence: str, exclude: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Capitalised or numeric phrases of a sentence that neither the question nor `exclude` names.

    Returns `(phrase, word before it)` pairs in sentence order.
    """
    asked = _named(question, exclude)
    head = _which_noun(question)
    found: list[tuple[str, str]] = []
    current: list[str] = []
    before = previous = ""
    for i, token in enumerate(_TOKEN_RE.findall(sentence)):
        word = token.strip(".,")
        capital = bool(word) and (word[0].isupper() or word[0].isdigit())
        # A named word may carry on a name begun by a new one ("Gustave Eiffel" for a question
        # about the Eiffel Tower, "Marie Curie" for one about Pierre Curie), and so may a
        # joiner the question holds too ("Statue of Liberty" for a question with "of").
        joins = bool(current) and (
            word.casefold() in (*_NAME_JOINERS, head)
            or (word == "in" and current[-1].casefold() in _IN_NAMES)  # "Nobel Prize in Literature"
        )
        fresh = (
            word.casefold() not in asked
            or (bool(current) and (joins or capital))
            or (capital and word.casefold() == head)  # "Statue of Liberty" for "Which statue ...?"
        )
        opener = i == 0 and word.casefold() in _SENTENCE_OPENERS
        unit = bool(current) and current[-1][:1].isdigit() and word.casefold() in _NUMBER_UNITS
        if fresh and not opener and (capital or joins or unit):
            if not current:
                before = previous
            current.append(word)
        elif current:
            found.append((" ".join(current), before))
            current = []
        if token.endswith((",", ".")) and current:
            found.append((" ".join(current), before))
            current = []
        previous = word.casefold()
    if current:
        found.append((" ".join(current), before))
    out = []
    for phrase, prev in found:
        words = phrase.split()
        while words and words[-1].casefold() in _NAME_JOINERS:
            words.pop()
        if words:
            out.append((" ".join(words[:_MAX_SPAN_WORDS]), prev))
    return out


def _phrase_score(question: str, phrase: str, before: str) -> int:
    q = question.casefold()
    wants_place = q.startswith("where") or " where " in q or "which city" in q or "which country" in q
    wants_number = any(k in q for k in ("when", "year", "how many", "how much", "population", "how long"))
    has_digit = any(c.isdigit() for c in phrase)
    wants_person = q.startswith(("who", "whom")) or " who " in q
    head = _which_noun(question)
    score = 0
    if wants_person and not has_digit:
        score += 1 if len(phrase.split()) > 1 else 0
        score += 2 if before in _AGENT_CUES else 0
    if head and (phrase.casefold().endswith(" " + head) or phrase.casefold().startswith(head + " ")):
        score += 2  # "Ming dynasty" for "Which dynasty ...?", "Statue of Liberty" for "Which statue ...?"
    if len(phrase) <= 2:
        score -= 1
    if wants_place and before in _PLACE_WORDS:
        score += 2
    if wants_number:
        score += 2 if has_digit else 0
    elif has_digit:
        score -= 1
    return score


def _fallback_span(question: str, sentences: Sequence[str], exclude: Sequence[str] = ()) -> str:
    """The phrase of the best sentences most likely to answer the question (by its type)."""
    best, best_score = "", -(10**6)
    for rank, sentence in enumerate(sentences):
        for phrase, before in _phrases(question, sentence, exclude):
            score = 3 * _phrase_score(question, phrase, before) - rank
            if score > best_score:
                best, best_score = phrase, score
    return best


def snap_to_evidence(reply: str, question: str, sentences: Sequence[str], exclude: Sequence[str] = ()) -> str:
    """A short span of the evidence for a model's reply (never the raw evidence text).

    The reply's `Answer:` part, first line, is looked up in the evidence: the longest run
    of its words found in a sentence (leading function words and question words, trailing
    function words trimmed; at most 6 words, no verb), in the evidence's own spelling. A
    reply that copies 6 or more words of the evidence in a row echoes it and is ignored.
    A choice question (`question_options`) is answered with the option the reply names.
    Without a span, the capitalised or numeric phrase of the best sentences that suits the
    question (a place after `in`/`at` for "where", a number for "when"/"how many", a
    multi-word name for "who") and that the question does not name.

    Args:
        reply: The model's reply.
        question: The question.
        sentences: The evidence sentences, best first.
        exclude: Answers this one is not (an earlier step's bridge entity): a span made
            only of their words is never the answer.

    Returns:
        At most 8 words, or `""` when the evidence offers nothing.
    """
    parts = _ANSWER_RE.split(reply)
    text = (parts[-1] if len(parts) > 1 else reply).strip().split("\n", 1)[0]
    text = text.strip().strip("\"'").rstrip(".").strip()
    options = question_options(question)
    if options:  # a choice question: the option the reply names most
        said = set(_words(text))
        overlap = [len(said & set(_words(option))) for option in options]
        if max(overlap):
            return options[overlap.index(max(overlap))]
    asked = set(_words(question))
    excluded = _named("", exclude)
    reply_words = _words(text)[:32]
    best: tuple[int, int, str] = (0, 0, "")  # (words, -position in the reply, span)
    longest = 0
    if reply_words and not _EVIDENCE_LABEL_RE.match(text):
        for sentence in sentences:
            tokens = list(_WORD_RE.finditer(sentence))
            lowered = [m.group(0).casefold() for m in tokens]
            for i in range(len(tokens)):
                for j in range(len(reply_words)):
                    n = 0
                    while (
                        i + n < len(tokens)
                        and j + n < len(reply_words)
                        and lowered[i + n] == reply_words[j + n]
                    ):
                        n += 1
                    if n == 0:
                        continue
                    longest = max(longest, n)
                    lo, hi = i, i + n
                    while lo < hi and (lowered[lo] in _QUESTION_WORDS or lowered[lo] in asked):
                        lo += 1
                    while hi > lo and lowered[hi - 1] in _QUESTION_WORDS:
                        hi -= 1
                    # A copied clause ("is an 1892 ballet by") is not an answer span.
                    if hi == lo or hi - lo > _MAX_SNAP_WORDS or any(w in _VERBS for w in lowered[lo:hi]):
                        continue
                    if excluded and set(lowered[lo:hi]) <= excluded:
                        continue
                    candidate = (hi - lo, -(j + lo - i), sentence[tokens[lo].start() : tokens[hi - 1].end()])
                    if candidate[:2] > best[:2]:
                        best = candidate
        # A reply copying a long stretch of the evidence echoes it rather than answering.
        if best[0] and longest < _ECHO_WORDS:
            return best[2]
    return _fallback_span(question, sentences[:3], exclude)


def _qa_prompt(model: Any, question: str, evidence: str) -> tuple[Any, bool]:
    """The QA prompt in the model's chat template (chat models get one human message).

    Returns the prompt and whether it was rendered in a chat template.
    """
    from langchain_core.language_models import BaseChatModel

    content = SMALL_QA_PROMPT.format(evidence=evidence, question=question.strip())
    if isinstance(model, BaseChatModel):
        return content, False
    tokenizer = getattr(model, "tokenizer", None) if hasattr(type(model), "tokenizer") else None
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )
        return str(rendered), True
    return content, False


QA_SPAN_WORDS = 5
"""The most words of an evidence-constrained QA answer (`span_grammar`)."""

QA_PRIOR_WEIGHT = 2.0
"""How much the prior of a span (`_span_prior`, in points) weighs against the model's
log-likelihood of it (in nats) when the QA step scores spans (`answer_candidates`)."""

QA_SENTENCES = 3
"""How many evidence sentences (those best matching the question) the QA step shows the model."""

_MAX_CHOICES = 64


_OPTIONS_RE = re.compile(r",\s*(?:the\s+)?([^,?]+?)\s+or\s+(?:the\s+)?([^,?]+?)\s*\?\s*$", re.I)


def question_options(question: str) -> tuple[str, ...]:
    """The options a choice question offers (`"Who was first, A or B?"` -> `("A", "B")`), else `()`.

    HotpotQA's comparison questions name both candidates; their answer is one of them.
    """
    match = _OPTIONS_RE.search(question.strip())
    return tuple(o.strip() for o in match.groups()) if match else ()


def answer_candidates(
    question: str, sentences: Sequence[str], exclude: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """The evidence spans a scored QA step weighs: short runs of the phrases that may answer.

    Every run of 1 to 6 consecutive words inside a capitalised or numeric phrase of the
    sentences that the question does not name (`Pyotr Ilyich Tchaikovsky`, `Ilyich
    Tchaikovsky`, `Tchaikovsky`, ...), and inside the words a sentence names right after
    the noun the question asks for, lowercase ones too (`radium and polonium` after "the
    elements" for "Which elements ...?"), first occurrence first, at most 64; no run made
    only of named words, or beginning or ending with `and`, `or`, `in` or a name joiner
    (`of Liberty`). A choice question's options are its only candidates
    (`question_options`).

    Args:
        question: The question.
        sentences: The evidence sentences shown to the model.
        exclude: Answers this one is not (a bridge entity): no span made only of their
            words, as of the question's.

    Returns:
        `(span, word before it)` pairs; the word before decides the prior (`in` before a
        place, `by` before a person).
    """
    options = question_options(question)
    if options:
        return [(option, "") for option in options]
    found: dict[str, str] = {}
    named = _named(question, exclude)
    head = _which_noun(question)
    for sentence in sentences:
        for phrase, before in [*_phrases(question, sentence, exclude), *_named_after(head, sentence, named)]:
            words = phrase.split()
            for i in range(len(words)):
                for j in range(i + 1, min(len(words), i + _MAX_SNAP_WORDS) + 1):
                    if all(w.casefold() in named for w in words[i:j]):
                        continue  # only named words: "Eiffel" of "Gustave Eiffel"
                    if {words[i].casefold(), words[j - 1].casefold()} & _EDGE_WORDS:
                        continue  # "and polonium" of "radium and polonium", "of Liberty", "Statue of"
                    found.setdefault(" ".join(words[i:j]), before if i == 0 else words[i - 1].casefold())
    return list(found.items())[:_MAX_CHOICES]


_AFTER_HEAD_STOPS = frozenset(
    {
        "by",
        "for",
        "with",
        "in",
        "of",
        "which",
        "that",
        "who",
        "whose",
        "was",
        "is",
        "were",
        "are",
        "to",
        "from",
        "as",
        "at",
        "on",
    }
)


_WHOLE_NAME = rf"(?=\s*(?:[,.;:)]|$)|\s+(?:{'|'.join(sorted(_AFTER_HEAD_STOPS))})\b)"
"""What may follow a span named after a role: punctuation, the end, or a function word."""


def _named_after(head: str, sentence: str, named: set[str]) -> list[tuple[str, str]]:
    """The words a sentence names right after the noun a question asks for, lowercase ones too.

    "the discovery of the elements radium and polonium, by ..." gives `radium and
    polonium` for "Which elements did she discover?": a span no capitalised phrase holds.
    At most `_MAX_SNAP_WORDS` words, up to a comma or a function word; `(span, head)` pairs.
    """
    if not head:
        return []
    out: list[tuple[str, str]] = []
    tokens = _TOKEN_RE.findall(sentence)
    for i, token in enumerate(tokens[:-1]):
        if token.casefold() != head:
            continue
        words: list[str] = []
        for nxt in tokens[i + 1 : i + 1 + _MAX_SNAP_WORDS]:
            word = nxt.strip(".,")
            if not word or word.casefold() in _AFTER_HEAD_STOPS:
                break
            words.append(word)
            if nxt.endswith((",", ".")):
                break
        while words and words[-1].casefold() in ("and", "or"):
            words.pop()
        if words and not all(w.casefold() in named for w in words):
            out.append((" ".join(words), head))
    return out


_ASKED_ROLE_RE = re.compile(
    r"^(?:what|which|who)\s+(?:is|was|are|were)\s+the\s+(.+?)\s+(?:of|in|for|at)\b", re.I
)


def _named_as_asked(question: str, span: str, shown: Sequence[str]) -> bool:
    """Whether a sentence says the span is what the question asks ("Cairo is the capital").

    For "What is the capital of Egypt?": a sentence where `is/was the capital` follows the
    span directly (no comma between: in "Moscow, the largest city in Europe, is the capital",
    Europe is not). For "Who is the engineer of the Eiffel Tower?": a sentence where the
    span directly follows the role word, as its name ("named after the engineer Gustave
    Eiffel", "with his wife, Marie Curie"); for "Which opera did he write?", the noun
    asked for ("the opera Eugene Onegin").
    """
    match = _ASKED_ROLE_RE.match(question.strip())
    asked = match.group(1) if match else _which_noun(question)
    if not asked or not span.strip():
        return False
    role = r"\s+".join(re.escape(w) for w in asked.split())
    name = re.escape(span)
    # A number may follow `of` ("a population of about 1.4 million"); a name may not
    # ("the author of Typee" does not name the author).
    of = r"\s+of(?:\s+(?:about|around|approximately|nearly|over|some))?" if span[:1].isdigit() else ""
    # After the role, the span is the whole name: up to punctuation or a function word
    # ("the elements radium and polonium, by" names `radium and polonium`, not `radium`).
    said = re.compile(
        rf"(?<!\w)(?:{name}\s+(?:is|was|are|were)\s+the\s+{role}(?!\w)|{role}(?:,|{of})?\s+{name}{_WHOLE_NAME})",
        re.I,
    )
    return any(said.search(sentence) for sentence in shown)


def _span_prior(question: str, span: str, before: str, shown: Sequence[str]) -> int:
    """A candidate span's prior, in points.

    Its answer-type fit (`_phrase_score`), plus a point when it lies in the sentence that
    best matches the question (`shown[0]`), plus two when a sentence says it is what the
    question asks (`_named_as_asked`), plus two when a number the question names stands
    just before it ("Which prize did he win in 1982?": "the 1982 Nobel Prize in
    Literature").
    """
    return (
        _phrase_score(question, span, before)
        + (bool(shown) and span in shown[0])
        + 2 * _named_as_asked(question, span, shown)
        + 2 * (before[:1].isdigit() and before in re.findall(r"\d[\d.,]*", question))
    )


@dataclass(frozen=True)
class _QARequest:
    question: str
    shown: list[str]
    prompt: Any
    grammar: str | None
    candidates: list[tuple[str, str]]
    """Spans to score (`supports_choices` models); empty: decode and snap."""
    templated: bool
    """Whether the prompt is in the model's chat template."""
    exclude: tuple[str, ...] = ()
    """Answers this one is not (an earlier step's bridge entity)."""

    def call_kwargs(self) -> dict[str, Any]:
        if not self.candidates:
            return {"grammar": self.grammar}
        # A chat turn ends at the end-of-sequence token; a plain prompt's answer follows
        # `Answer:` after a space and ends at its newline.
        lead = "" if not isinstance(self.prompt, str) or self.prompt.endswith((" ", "\n")) else " "
        return {
            "choices": [lead + span for span, _ in self.candidates],
            "choice_end": None if self.templated else "\n",
        }

    def answer(self, reply: Any) -> str:
        """The QA step's answer from the model's reply: the best-scored span, or the snapped reply."""
        if self.candidates and len(reply.choice_logprobs) == len(self.candidates):
            scores = [
                logprob + QA_PRIOR_WEIGHT * _span_prior(self.question, span, before, self.shown)
                for (span, before), logprob in zip(self.candidates, reply.choice_logprobs, strict=True)
            ]
            return self.candidates[max(range(len(scores)), key=scores.__getitem__)][0]
        return snap_to_evidence(reply.text, self.question, self.shown, self.exclude) or _NO_ANSWER


def _qa_grammar(model: Any, shown: Sequence[str], constrain: bool) -> str | None:
    """The evidence-span grammar of the QA reply, when asked for and the model takes grammars."""
    from langchain_lumos.model_calls import supports_grammar

    if not constrain or not supports_grammar(model):
        return None
    try:
        return span_grammar(shown, max_words=QA_SPAN_WORDS)
    except ValueError:  # no words to copy
        return None


def _qa_request(
    model: Any,
    question: str,
    evidence: Any,
    max_sentences: int,
    constrain: bool,
    score: bool,
    exclude: Sequence[str] = (),
) -> _QARequest | None:
    """The QA call: the sentences shown, the prompt, and the spans to score or the grammar (None: no evidence)."""
    from langchain_lumos.model_calls import supports_choices

    shown = _ranked(question, evidence_sentences(evidence))[: max(1, max_sentences)]
    if not shown:
        return None
    prompt, templated = _qa_prompt(model, question, " ".join(shown))
    grammar = _qa_grammar(model, shown, constrain)
    candidates = (
        answer_candidates(question, shown, exclude)
        if score and grammar is None and supports_choices(model)
        else []
    )
    return _QARequest(question, shown, prompt, grammar, candidates, templated, tuple(exclude))


def small_qa_answer(
    model: Any,
    question: str,
    evidence: Any,
    *,
    max_sentences: int = QA_SENTENCES,
    config: Any = None,
    constrain: bool = False,
    score: bool = True,
    exclude: Sequence[str] = (),
) -> str:
    """Answer a question from evidence with a short span (the small-model QA step).

    The evidence sentences best matching the question are shown to the model in its chat
    template. A model that scores choices (`supports_choices`: a local `transformers`
    model) weighs the spans that may answer (`answer_candidates`): each span's
    log-likelihood as the reply, plus `QA_PRIOR_WEIGHT` times its answer-type prior (a
    place after "in" for "where", a number for "when", a multi-word name for "who"); the
    best span is the answer, and nothing is decoded. Any other model writes a reply that is
    snapped to a short span of those sentences (`snap_to_evidence`). So the answer is never
    raw evidence text.

    Measured with SmolLM2-135M, the page holding the answer given (`bench/bench_qa_step.py`):
    on the offline question set's 35 single-hop and HotpotQA questions, scored 23 right,
    decoded and snapped 18; on 83 held-out FanOutQA sub-questions, scored 50, decoded 47.
    The evidence-span grammar (`constrain=True`, a model that takes grammars can only write
    a span of at most `QA_SPAN_WORDS` words) got 8 and 17, as a constrained small model
    starts its span at the first evidence word it likes ("The", "large", "capital").

    Args:
        model: A LangChain chat model or LLM (a `LumosTransformersLLM` gets its chat
            template applied).
        question: The question.
        evidence: The evidence: `ParagraphRetrieve` text, a list of entries, nested lists.
        max_sentences: How many best-matching sentences the model reads.
        config: The model call's `RunnableConfig` (callbacks, run name), so the call is
            traced and counted under the calling tool.
        constrain: Constrain the reply to evidence spans (models that take grammars only).
        score: Score the candidate spans where the model can (default); False always
            decodes and snaps.
        exclude: Answers this one is not: an earlier step's bridge entity, when a
            multi-hop task is asked over the bridge's page. No span made only of their
            words is answered.

    Returns:
        A short answer span, or `"No answer"` when the evidence is empty or offers none.
    """
    from langchain_lumos.model_calls import call_model

    request = _qa_request(model, question, evidence, max_sentences, constrain, score, exclude)
    if request is None:
        return _NO_ANSWER
    return request.answer(
        call_model(model, request.prompt, stop=["\n"], config=config, **request.call_kwargs())
    )


async def asmall_qa_answer(
    model: Any,
    question: str,
    evidence: Any,
    *,
    max_sentences: int = QA_SENTENCES,
    config: Any = None,
    constrain: bool = False,
    score: bool = True,
    exclude: Sequence[str] = (),
) -> str:
    """Async `small_qa_answer`."""
    from langchain_lumos.model_calls import acall_model

    request = _qa_request(model, question, evidence, max_sentences, constrain, score, exclude)
    if request is None:
        return _NO_ANSWER
    reply = await acall_model(model, request.prompt, stop=["\n"], config=config, **request.call_kwargs())
    return request.answer(reply)
