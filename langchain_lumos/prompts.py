r"""The Lumos data format: instructions, turn templates and conversation rendering.

Everything here is data, reproduced byte-for-byte from the released Lumos code so the
`ai2lumos/lumos_*` checkpoints run unchanged (keep the typos: the duplicate `Calculator`,
"latter usage", the space before the newline in `Task: ... \\n`).

Key components:

- `Domain`: one profile per Lumos domain (`complex_qa`, `maths`, `web_agent`, `webshop`)
  holding its grounding interface and the quirks of its evaluation loop.
- `Turn`: one `{"role", "content"}` message of a planner or grounder conversation.
- `render_prompt`: the raw `<|user|>`/`<|assistant|>` text, in the eval-compatible form
  (`style="eval"`, the published numbers: no BOS, a blank line between turns) or the
  train-exact form (`style="train"`: `<s>` then `</s>\\n` after each assistant turn).
- Turn builders (`plan_request`, `plan_feedback`, `ground_request`, ...) used by the planner
  and grounder nodes and by the training-data conversion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from typing_extensions import TypedDict

__all__ = [
    "COMPLEX_QA",
    "DOMAINS",
    "GROUND_INSTRUCTION",
    "KEEP_PLANNING",
    "MATHS",
    "PLAN_INSTRUCTION",
    "STOP_PLANNING",
    "WEBSHOP",
    "WEB_AGENT",
    "Domain",
    "PromptStyle",
    "Turn",
    "get_domain",
    "ground_followup",
    "ground_request",
    "ground_retry",
    "plan_feedback",
    "plan_request",
    "render_prompt",
    "tool_interface",
]

PromptStyle = Literal["eval", "train"]
"""`eval`: the evaluation scripts' form (published numbers); `train`: the fine-tuning form."""


class Turn(TypedDict):
    """One message of a planner or grounder conversation."""

    role: Literal["user", "assistant"]
    content: str


PLAN_INSTRUCTION = "Please provide a reasonable subgoal-based plan to solve the given task.\n"
PLAN_TASK = "Task: {task}; Initial Environment Description: None."
GROUND_INSTRUCTION = (
    "Please ground the given subgoal to corresponding executable actions for solving the given "
    "task. The grounded actions must be the one in available action list.\n\n"
)
GROUND_TASK = "Task: {task} \n"
GROUND_SUBGOAL = "Subgoal to be grounded: {subgoal}"
GROUND_SUBGOALS = "Subgoals to be grounded: {subgoals}"
QA_RESULTS = " The grounding could be based on the following results:"
QA_RESULT = " The execution result for {subgoal_id} is {answer}"
FEEDBACK_RESULT = "The executed result for Subgoal {index} is {result}. Should we stop planning?"
FEEDBACK_ALREADY = "We have already {subgoal}. Should we stop planning?"
FEEDBACK_WEBSHOP = "The executed result for Subgoal {index} is {result}"
KEEP_PLANNING = "No, I will keep planning."
STOP_PLANNING = "Yes, I will stop planning."
GROUND_RETRY = (
    "Subgoal to be grounded: {subgoal} The previous grounding failed: {errors} "
    "Please ground the subgoal again with actions from the available action list."
)

_QA_INTERFACE = (
    "The available action list is 'KnowledgeQuery', 'ParagraphRetrieve', 'QA', 'Calculator', "
    "and 'Code'.\n"
    "Calculator(formula): Calculate the input formula; KnowledgeQuery(query): Capture the "
    "relevant webpages according to the query; ParagraphRetrieve(context, query): Given a query, "
    "retrieve the most relevant paragraphs from the given context; QA(context, query): Given "
    "context, answer the given query; Calculator(formula): Calculate the input formula; "
    "Code(pseudo_code): Generate a Python function that corresponds to the pseudo code.\n\n"
)
_MATHS_INTERFACE = (
    "The available action list is 'Calculator', 'SetEquation', 'SolveEquation', 'Count', "
    "'SolveInequality', 'Code', and 'Define'.\n"
    "Calculator(formula): Calculate the input formula; SetEquation(equation): Set up an equation "
    "to be solved; SolveEquation(equation): Solve the previous set equation; Count(list): Count "
    "the number of elements in the given list; SolveInequality(inequality): Solve the previous "
    "set inequality; Code(pseudo_code): Generate a Python function that corresponds to the "
    "pseudo code; Define(variable/number): Define a variable or a number for latter usage.\n\n"
)
_WEB_INTERFACE = (
    "The available action list is 'CLICK', 'TYPE', 'SELECT'.\n"
    "CLICK(Env, Query): Click the relevant html region in Env according to Query; TYPE(Env, "
    "Query, Text): Type Text into the relevant html region in Env according to Query; "
    "SELECT(Env, Query, Text): Select the value Text of the relevant selection box in Env "
    "according to Query.\n\n"
)
_WEBSHOP_INTERFACE = (
    "The available action list is 'Search', 'FeatureRetrieve', 'Pick' and 'Click'.\n"
    "Search(Query): Search related items according to the Query; FeatureRetrieve(Feature_list, "
    "Query): Select the most relevant features from Feature_list according to Query; "
    "Pick(Item_names, Item_features, Query): Pick the most relevant item from Item_names "
    "according to Query, Item_names and Item_features; Click(Item): Click the Item to check "
    "more information.\n\n"
)


@dataclasses.dataclass(frozen=True)
class Domain:
    """A Lumos domain: its grounding interface and the quirks of its evaluation loop.

    Attributes:
        name: Domain id, as in the checkpoint names (`complex_qa`, `maths`, ...).
        interface: The action-interface text placed after `GROUND_INSTRUCTION`.
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
        max_subgoals: The evaluation loop's subgoal cap for this domain.
        plan_exemplars: In-context dialogues placed before the planner conversation.
        ground_exemplars: In-context dialogues placed before the grounder conversation.
        ground_prefix: Text forced at the start of the first grounding answer (WebShop: `R1 = `).
    """

    name: str
    interface: str
    feedback: Literal["result", "already", "webshop"] = "result"
    results_in_grounding: bool = False
    strip_keep_planning: bool = True
    answer: Literal["qa", "value"] = "value"
    final_qa: bool = False
    max_subgoals: int = 5
    plan_exemplars: tuple[tuple[Turn, ...], ...] = ()
    ground_exemplars: tuple[tuple[Turn, ...], ...] = ()
    ground_prefix: str = ""

    def replace(self, **changes: object) -> Domain:
        """Return a copy with some fields changed (e.g. few-shot exemplars)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


COMPLEX_QA = Domain(
    name="complex_qa",
    interface=_QA_INTERFACE,
    results_in_grounding=True,
    answer="qa",
    final_qa=True,
    max_subgoals=5,
)
MATHS = Domain(name="maths", interface=_MATHS_INTERFACE, strip_keep_planning=False, max_subgoals=8)
WEB_AGENT = Domain(name="web_agent", interface=_WEB_INTERFACE, feedback="already", max_subgoals=15)
WEBSHOP = Domain(
    name="webshop",
    interface=_WEBSHOP_INTERFACE,
    feedback="webshop",
    max_subgoals=5,
    ground_prefix="R1 = ",
)

DOMAINS: dict[str, Domain] = {d.name: d for d in (COMPLEX_QA, MATHS, WEB_AGENT, WEBSHOP)}


def get_domain(domain: str | Domain) -> Domain:
    """Resolve a domain name (or pass a `Domain` through).

    Raises:
        ValueError: If the name is not a known domain.
    """
    if isinstance(domain, Domain):
        return domain
    try:
        return DOMAINS[domain]
    except KeyError:
        msg = f"Unknown Lumos domain {domain!r}; expected one of {sorted(DOMAINS)} or a Domain."
        raise ValueError(msg) from None


def tool_interface(tools: Sequence[object]) -> str:
    """Build an interface text, in the Lumos style, for a custom tool set.

    Each tool contributes `Name(arg1, arg2): description`, from its args schema.
    """
    names = [getattr(t, "name", str(t)) for t in tools]
    quoted = [f"'{n}'" for n in names]
    listed = ", ".join(quoted[:-1]) + (", and " if len(quoted) > 2 else " and ") + quoted[-1]
    if len(quoted) == 1:
        listed = quoted[0]
    specs = []
    for tool in tools:
        schema = getattr(tool, "tool_call_schema", None)
        fields = list(getattr(schema, "model_fields", {}) or {}) if schema is not None else []
        desc = " ".join(str(getattr(tool, "description", "")).split())
        specs.append(f"{getattr(tool, 'name', tool)}({', '.join(fields)}): {desc}")
    return f"The available action list is {listed}.\n" + "; ".join(specs) + "\n\n"


def plan_request(task: str) -> Turn:
    """The first planner turn: the planning instruction and the task."""
    return Turn(role="user", content=PLAN_INSTRUCTION + PLAN_TASK.format(task=task.strip()))


def plan_feedback(domain: Domain, index: int, subgoal: str, result: str) -> Turn:
    """The planner turn that reports the execution of subgoal `index`.

    Args:
        domain: The domain profile (chooses the wording).
        index: 1-based number of the executed subgoal.
        subgoal: The subgoal text, without its `Subgoal k:` label (web wording).
        result: The executed result (complex QA / maths: text after the last `=` of the
            subgoal's last action record, as in the evaluation scripts).
    """
    if domain.feedback == "already":
        text = subgoal.strip()
        text = text[:1].lower() + text[1:]
        return Turn(role="user", content=FEEDBACK_ALREADY.format(subgoal=text))
    if domain.feedback == "webshop":
        return Turn(role="user", content=FEEDBACK_WEBSHOP.format(index=index, result=result))
    return Turn(role="user", content=FEEDBACK_RESULT.format(index=index, result=result))


def _grounding_subgoal(domain: Domain, planner_output: str) -> str:
    text = planner_output.strip()
    if domain.strip_keep_planning:
        text = text.split(KEEP_PLANNING)[-1].strip()
    return text


def ground_request(domain: Domain, task: str, planner_output: str, *, onetime: bool = False) -> Turn:
    """The first grounder turn: instruction, interface, task and the subgoal(s).

    Args:
        domain: The domain profile.
        task: The user's task.
        planner_output: The planner line to ground (`Subgoal 1: ...`, or in one-time mode
            every subgoal joined by `; `).
        onetime: Use the plural "Subgoals to be grounded" of Lumos-O.
    """
    head = GROUND_INSTRUCTION + domain.interface + GROUND_TASK.format(task=task.strip())
    if onetime:
        return Turn(role="user", content=head + GROUND_SUBGOALS.format(subgoals=planner_output.strip()))
    sub = _grounding_subgoal(domain, planner_output)
    return Turn(role="user", content=head + GROUND_SUBGOAL.format(subgoal=sub))


def ground_followup(domain: Domain, planner_output: str, results: Sequence[tuple[str, str]] = ()) -> Turn:
    """A later grounder turn (iterative mode).

    Args:
        domain: The domain profile.
        planner_output: The planner line of the new subgoal.
        results: Complex QA only: `(subgoal_id, result)` of earlier subgoals, e.g.
            `("Subgoal 1", "Question: ...; Answer: 1975")`; those containing `Answer: `
            are listed by their answer, in sorted order as the evaluation script did.
    """
    content = GROUND_SUBGOAL.format(subgoal=_grounding_subgoal(domain, planner_output))
    if domain.results_in_grounding:
        content += QA_RESULTS
        for subgoal_id, result in sorted(results):
            if "Answer: " in result:
                answer = result.split("Answer: ")[1]
                content += QA_RESULT.format(subgoal_id=subgoal_id, answer=answer)
    return Turn(role="user", content=content)


def ground_retry(domain: Domain, planner_output: str, errors: Sequence[str]) -> Turn:
    """A grounder turn asking to re-ground a subgoal whose actions failed.

    This turn is a langchain-lumos addition (the original had no recovery); its wording
    is `GROUND_RETRY`.
    """
    sub = _grounding_subgoal(domain, planner_output)
    return Turn(role="user", content=GROUND_RETRY.format(subgoal=sub, errors=" ".join(errors)))


def _render_eval(turns: Sequence[Turn]) -> str:
    out = ""
    for turn in turns:
        if turn["role"] == "user":
            out += ("\n\n" if out else "") + "<|user|>\n" + turn["content"] + "\n<|assistant|>\n"
        else:
            out += turn["content"].strip()
    return out


def _render_train(turns: Sequence[Turn]) -> str:
    out = "<s>"
    for turn in turns:
        if turn["role"] == "user":
            out += "<|user|>\n" + turn["content"].strip() + "\n<|assistant|>\n"
        else:
            out += turn["content"].strip() + "</s>\n"
    return out


def render_prompt(
    turns: Sequence[Turn],
    *,
    style: PromptStyle = "eval",
    exemplars: Sequence[Sequence[Turn]] = (),
    assistant_prefix: str = "",
) -> str:
    r"""Render a conversation as the raw Lumos prompt text.

    Args:
        turns: The conversation, ending with the user turn to answer.
        style: `eval` (default) reproduces the evaluation scripts: no BOS, assistant
            output stripped, a blank line before each later `<|user|>`. `train`
            reproduces fine-tuning: the text starts with `<s>` and each assistant turn
            ends with `</s>\\n` (backends tokenize without adding special tokens, so
            these become the BOS/EOS tokens).
        exemplars: In-context dialogues rendered first, each followed by a blank line.
        assistant_prefix: Text forced at the start of the answer (WebShop's `R1 = `).

    Returns:
        The prompt string, ending with `<|assistant|>\\n` (plus any prefix).
    """
    if style not in ("eval", "train"):
        msg = f"style must be 'eval' or 'train', got {style!r}"
        raise ValueError(msg)
    render = _render_eval if style == "eval" else _render_train
    head = "".join(render(dialogue) + "\n\n" for dialogue in exemplars)
    if style == "train" and head:
        head = head.replace("<s>", "")
        return "<s>" + head + render(turns)[3:] + assistant_prefix
    return head + render(turns) + assistant_prefix
