r"""The Lumos data format: instructions, turn templates and conversation rendering.

Everything here is data, reproduced byte-for-byte from the released Lumos code so the
`ai2lumos/lumos_*` checkpoints run unchanged (keep the typos: the duplicate `Calculator`,
"latter usage", the space before the newline in `Task: ... \\n`).

Key components:

- The instruction and interface texts (`PLAN_INSTRUCTION`, `GROUND_INSTRUCTION`,
  `QA_INTERFACE`, ...); the domain profiles that use them live in `langchain_lumos.domains`.
- `Turn`: one `{"role", "content"}` message of a planner or grounder conversation.
- `render_prompt`: the raw `<|user|>`/`<|assistant|>` text, in the eval-compatible form
  (`style="eval"`, the published numbers: no BOS, a blank line between turns) or the
  train-exact form (`style="train"`: `<s>` then `</s>\\n` after each assistant turn).
- Turn builders (`plan_request`, `plan_feedback`, `ground_request`, ...) used by the planner
  and grounder nodes and by the training-data conversion.
- The evaluation scripts' value builders: `feedback_result` (the executed result the
  planner hears), `final_qa_question` / `final_qa_context` (the final QA call of iterative
  complex QA), `onetime_qa_question` (the last `QA` action of one-time complex QA) and
  `join_forced_prefix` (a completion after a forced `R1 = `).

Original quirks reproduced here, each on purpose:

- The final QA context ends with `;` (each result was appended with `'; '`, then the
  text was stripped): `final_qa_context`.
- WebShop's grounder history repeats the forced prefix (`<|assistant|>\nR1 = R1 = Search(...)`):
  the original kept `R1 = ` in the prompt and appended the answer with `R1 = ` put back in
  front. `render_prompt(..., history_prefix="R1 = ")` renders it so in the eval style; the
  train style and the stored conversation stay clean.
- WebShop's feedback is the raw result (`str(value)`: a list shows as its Python repr) and
  asks no question; the other domains report the text after the last `=`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import TypedDict

if TYPE_CHECKING:
    from langchain_lumos.domains import Domain

__all__ = [
    "GROUND_INSTRUCTION",
    "KEEP_PLANNING",
    "MATHS_INTERFACE",
    "PLAN_INSTRUCTION",
    "QA_INTERFACE",
    "STOP_PLANNING",
    "WEBSHOP_INTERFACE",
    "WEB_INTERFACE",
    "PromptStyle",
    "Turn",
    "feedback_result",
    "final_qa_context",
    "final_qa_question",
    "ground_followup",
    "ground_request",
    "ground_retry",
    "join_forced_prefix",
    "onetime_qa_question",
    "plan_feedback",
    "plan_request",
    "render_prompt",
    "teacher_forced_subgoal",
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

QA_INTERFACE = (
    "The available action list is 'KnowledgeQuery', 'ParagraphRetrieve', 'QA', 'Calculator', "
    "and 'Code'.\n"
    "Calculator(formula): Calculate the input formula; KnowledgeQuery(query): Capture the "
    "relevant webpages according to the query; ParagraphRetrieve(context, query): Given a query, "
    "retrieve the most relevant paragraphs from the given context; QA(context, query): Given "
    "context, answer the given query; Calculator(formula): Calculate the input formula; "
    "Code(pseudo_code): Generate a Python function that corresponds to the pseudo code.\n\n"
)
MATHS_INTERFACE = (
    "The available action list is 'Calculator', 'SetEquation', 'SolveEquation', 'Count', "
    "'SolveInequality', 'Code', and 'Define'.\n"
    "Calculator(formula): Calculate the input formula; SetEquation(equation): Set up an equation "
    "to be solved; SolveEquation(equation): Solve the previous set equation; Count(list): Count "
    "the number of elements in the given list; SolveInequality(inequality): Solve the previous "
    "set inequality; Code(pseudo_code): Generate a Python function that corresponds to the "
    "pseudo code; Define(variable/number): Define a variable or a number for latter usage.\n\n"
)
WEB_INTERFACE = (
    "The available action list is 'CLICK', 'TYPE', 'SELECT'.\n"
    "CLICK(Env, Query): Click the relevant html region in Env according to Query; TYPE(Env, "
    "Query, Text): Type Text into the relevant html region in Env according to Query; "
    "SELECT(Env, Query, Text): Select the value Text of the relevant selection box in Env "
    "according to Query.\n\n"
)
WEBSHOP_INTERFACE = (
    "The available action list is 'Search', 'FeatureRetrieve', 'Pick' and 'Click'.\n"
    "Search(Query): Search related items according to the Query; FeatureRetrieve(Feature_list, "
    "Query): Select the most relevant features from Feature_list according to Query; "
    "Pick(Item_names, Item_features, Query): Pick the most relevant item from Item_names "
    "according to Query, Item_names and Item_features; Click(Item): Click the Item to check "
    "more information.\n\n"
)


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


def plan_feedback(domain: Domain, index: int, subgoal: str, result: str, *, verbatim: bool = False) -> Turn:
    """The planner turn that reports the execution of subgoal `index`.

    Args:
        domain: The domain profile (chooses the wording).
        index: 1-based number of the executed subgoal.
        subgoal: The subgoal text, without its `Subgoal k:` label (web wording; its
            trailing period is dropped before `. Should we stop planning?`).
        result: The executed result, as `feedback_result` gives it (complex QA / maths:
            the text after the last `=`; WebShop: the raw value).
        verbatim: Web wording: keep the subgoal's trailing period, as Mind2Web's
            teacher-forced evaluation wrote its ground-truth subgoals (`... Search.. Should
            we stop planning?` for an ENTER step); see `teacher_forced_subgoal`.
    """
    if domain.feedback == "already":
        # As the training conversion wrote it: `f"We have already {subgoal}".strip(".")`,
        # so a subgoal's own trailing period is dropped (no `..`).
        text = subgoal if verbatim else subgoal.strip()
        text = text[:1].lower() + text[1:]
        if not verbatim:
            text = text.rstrip(".").rstrip()
        return Turn(role="user", content=FEEDBACK_ALREADY.format(subgoal=text))
    if domain.feedback == "webshop":
        return Turn(role="user", content=FEEDBACK_WEBSHOP.format(index=index, result=result))
    return Turn(role="user", content=FEEDBACK_RESULT.format(index=index, result=result))


def teacher_forced_subgoal(index: int, subgoal: str) -> Turn:
    """Mind2Web's teacher-forced planner history: the ground-truth subgoal as the answer.

    The original evaluation replaced each planner answer by `Subgoal k: <ground truth>`
    (no `No, I will keep planning.`) and then reported it with
    `plan_feedback(..., verbatim=True)`; the grounder still grounds the model's own output.
    """
    return Turn(role="assistant", content=f"Subgoal {index}: {subgoal}")


_WEBSHOP_EMPTY_RESULT = "buy now"


def feedback_result(domain: Domain, value: Any) -> str:
    """The executed result of a subgoal as the evaluation scripts told the planner.

    Args:
        domain: The domain profile.
        value: The raw value of the subgoal's last action (the tool's return value, not the
            observation text; a multi-output action gives the list of its values).

    Returns:
        WebShop: `str(value)` whole, as the original's f-string printed it (a list of
        clickables shows as its Python repr, `['back to search', 'buy now']`), and the
        original's `"buy now"` for an empty result. Other domains: the value as text (a
        list joined by `, `, as the maths script joined a multi-output result), cut after
        its last `=` (the scripts split the record `action = result` there), stripped.
    """
    if domain.feedback == "webshop":
        return _WEBSHOP_EMPTY_RESULT if value == "" else str(value)
    text = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text.split("=")[-1].strip()


def final_qa_question(domain: Domain, task: str) -> str:
    """The question of the final QA call of iterative complex QA.

    The task (stripped) plus the dataset's `final_qa_suffix` (StrategyQA:
    `" Must answer yes/no."`); only this call gets the suffix, never the planner or other
    QA calls.
    """
    suffix = domain.dataset.final_qa_suffix if domain.dataset is not None else ""
    return task.strip() + suffix


def final_qa_context(results: Sequence[str]) -> str:
    """The context of the final QA call: every `Question: ...` result, in variable order.

    The original appended `'; '` after each result and then stripped the text, so the
    context ends with `;` (`"Question: a; Answer: b; Question: c; Answer: d;"`).
    """
    return "".join(f"{result}; " for result in results).strip()


def onetime_qa_question(domain: Domain, task: str, own_question: str, *, position: int) -> str:
    """One-time complex QA: the question the plan's last `QA` action is asked.

    Args:
        domain: The domain profile (its dataset profile decides).
        task: The user's task.
        own_question: The action's own `Question:` argument.
        position: The action's 0-based position in the grounding.

    Returns:
        `task` (HotpotQA and plain complex QA: the last QA is asked the task itself), or
        for StrategyQA the action's own question with `" Must answer yes/no."` appended
        when `position > 0` (the original tested `if idx:`, so a one-action grounding got
        no suffix).
    """
    profile = domain.dataset
    if profile is None or profile.onetime_last_qa == "task":
        return task.strip()
    own = own_question.strip()
    return own + profile.onetime_last_qa_suffix if position else own


def join_forced_prefix(prefix: str, output: str) -> str:
    """The answer of a model whose output was forced to start with `prefix` (`R1 = `).

    A completion model continues after the prefix (`Search(x)` gives `R1 = Search(x)`);
    one that echoes the prefix (`R1 = Search(x)`), or a chat model that writes it, must
    not give `R1 = R1 = Search(x)`: leading copies of the prefix are dropped before it is
    put back. Call it on every module output of a call made with a forced prefix.
    """
    text = output.strip()
    head = prefix.strip()
    if not head:
        return text
    while text.startswith(head):
        text = text[len(head) :].lstrip()
    return prefix + text


def _grounding_subgoal(domain: Domain, planner_output: str, *, first: bool = False) -> str:
    text = planner_output.strip()
    if domain.strip_keep_planning_first if first else domain.strip_keep_planning:
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
    sub = _grounding_subgoal(domain, planner_output, first=True)
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


def _render_eval(turns: Sequence[Turn], history_prefix: str = "") -> str:
    out = ""
    answered = False
    for turn in turns:
        if turn["role"] == "user":
            out += ("\n\n" if out else "") + "<|user|>\n" + turn["content"] + "\n<|assistant|>\n"
        else:
            out += ("" if answered else history_prefix) + turn["content"].strip()
            answered = True
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
    history_prefix: str = "",
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
        history_prefix: Eval style only: text put again in front of the conversation's
            first assistant turn (not the exemplars'). WebShop's evaluation script kept its
            forced `R1 = ` in the prompt and then appended the answer with `R1 = ` in front,
            so its grounder history reads `<|assistant|>\nR1 = R1 = Search(...)`; pass the
            domain's `ground_prefix` on every grounder call (`Domain.echo_ground_prefix`)
            to reproduce it. The train style ignores it.

    Returns:
        The prompt string, ending with `<|assistant|>\\n` (plus any prefix).
    """
    if style not in ("eval", "train"):
        msg = f"style must be 'eval' or 'train', got {style!r}"
        raise ValueError(msg)
    if style == "train":
        head = "".join(_render_train(dialogue) + "\n\n" for dialogue in exemplars)
        if head:
            return "<s>" + head.replace("<s>", "") + _render_train(turns)[3:] + assistant_prefix
        return _render_train(turns) + assistant_prefix
    head = "".join(_render_eval(dialogue) + "\n\n" for dialogue in exemplars)
    return head + _render_eval(turns, history_prefix) + assistant_prefix
