r"""Ground-truth reasoning -> raw Lumos annotations (`lumos annotate`).

Lumos's training data come from converting the ground-truth reasoning of existing data
sets into subgoals and actions. An annotator model (for GSM8K solutions, StrategyQA facts
and decompositions, HotpotQA supporting facts, or a user's JSONL with question, answer and
rationale) is prompted with the original conversion prompt and in-context examples
(allenai/lumos `data/prompt_convertion.py` and `data/incontext.py`, MIT licence, kept
verbatim as package data in `langchain_lumos/data/conversion_prompts.json`) and writes
`Subgoal k:` / `Action i-j:` annotations. Each annotation then passes the **execution
check** of the paper: its actions are run with the domain's tools and the annotation is
kept only when every action executes and the final result matches the gold answer under
the data set's metric; every dropped record is written with its rejection reason.

```python
from langchain_lumos.training.annotate import annotate, load_ground_truth

items = load_ground_truth("gsm8k", limit=50)
summary = annotate(items, annotator_model, "gsm8k_raw.jsonl", concurrency=4)
print(summary.format())  # kept 39 / rejected 11 (wrong_answer 6, no_subgoals 2, ...); 0 already done; ...
```

The output is JSON Lines of raw conversion records (`id`, `dataset`, `task`,
`natural_language_plan`, `subgoal_plan`, `ans`), the input of
`langchain_lumos.training.convert.convert_annotations` (`lumos convert`); the rejected
records go to `<output stem>.rejected.jsonl`. A second run skips every id already in
either file (except annotator failures, which are retried).

FanOutQA needs no model: its gold decompositions map onto subgoals and actions directly
(`langchain_lumos.training.fanoutqa`); `lumos annotate --dataset fanoutqa` writes them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from langchain_core.language_models import BaseChatModel, BaseLanguageModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from langchain_lumos.domains import Domain, get_domain

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from langchain_lumos.evaluation.datasets import Example
    from langchain_lumos.evaluation.metrics import Metric

__all__ = [
    "REJECTION_REASONS",
    "AnnotateSummary",
    "AnnotationRejected",
    "ExecutionCheck",
    "GroundTruth",
    "aannotate",
    "add_annotate_parser",
    "annotate",
    "check_annotation",
    "conversion_messages",
    "conversion_prompts",
    "execute_annotation",
    "gsm8k_ground_truth",
    "gsm8k_plan",
    "hotpotqa_ground_truth",
    "jsonl_ground_truth",
    "load_ground_truth",
    "run_annotate",
    "strategyqa_ground_truth",
    "strategyqa_plan",
]

# ---------------------------------------------------------------------------------------
# The original conversion prompts (package data)
# ---------------------------------------------------------------------------------------

REJECTION_REASONS = (
    "annotator_error",
    "empty",
    "no_subgoals",
    "empty_subgoal",
    "parse_error",
    "unknown_action",
    "argument_error",
    "tool_error",
    "no_result",
    "wrong_answer",
)
"""Why the execution check drops a record, in the order a record meets them."""


@functools.lru_cache(maxsize=1)
def conversion_prompts() -> dict[str, Any]:
    """The original conversion prompts: `system`, `instructions` (by name), `source`, `license`.

    The instructions (`maths_gsm`, `maths_prm`, `qa`, `web_agent`, `icode`, `icode_sql`)
    hold the task description and the in-context examples, verbatim from allenai/lumos
    `data/incontext.py`; `system` is the system message of `data/prompt_convertion.py`.
    """
    text = resources.files("langchain_lumos.data").joinpath("conversion_prompts.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


# ---------------------------------------------------------------------------------------
# Ground truth to convert
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GroundTruth:
    """One question with its ground-truth reasoning, ready for the annotator.

    Attributes:
        id: Unique id (resuming skips ids already written).
        task: The question.
        natural_language_plan: The reasoning the annotator converts.
        answer: The gold answer the executed annotation must reach.
        dataset: The data set name (chooses the metric: `gsm8k`, `strategyqa`, ...).
        domain: The Lumos domain whose tools execute the annotation.
        instruction: The conversion instruction (default: the domain's
            `conversion_instruction`).
    """

    id: str
    task: str
    natural_language_plan: str
    answer: Any
    dataset: str
    domain: str
    instruction: str = ""


def gsm8k_plan(solution: str) -> str:
    """The natural language plan of a GSM8K solution.

    The original read the Socratic format (`sub-question ** step`), keeping everything
    after the first ` ** `; a solution in the main format (no ` ** `) is used whole, its
    lines joined by spaces as in the in-context examples. The `#### answer` is cut.
    """
    body = solution.split("####")[0]
    if " ** " in body:
        return " ".join(body.split(" ** ")[1:])
    return " ".join(line.strip() for line in body.strip().splitlines() if line.strip())


def gsm8k_ground_truth(examples: Iterable[Example]) -> list[GroundTruth]:
    """GSM8K examples (`load_dataset("gsm8k")`, with `meta["solution"]`) to convert."""
    out = []
    for ex in examples:
        solution = ex.meta.get("solution")
        if not isinstance(solution, str):
            msg = f"{ex.id}: a GSM8K example needs its solution text (meta['solution'])."
            raise ValueError(msg)
        out.append(GroundTruth(ex.id, ex.question, gsm8k_plan(solution), ex.answer, "gsm8k", "maths"))
    return out


def strategyqa_plan(row: Mapping[str, Any]) -> str | None:
    """The original StrategyQA plan: facts, decomposition and evidence paragraphs, answer.

    Reproduces `convert_qa_to_human_solution` of the original: the first annotator's
    evidence without `no_evidence` names the paragraphs of each step; None when every
    annotator has a step without evidence (the original skipped those questions).

    Raises:
        ValueError: The row lacks `facts`, `decomposition` or `evidence`.
    """
    for key in ("facts", "decomposition", "evidence"):
        if key not in row:
            msg = f"a StrategyQA record needs {key!r} (the original train file, strategyqa_train.json)."
            raise ValueError(msg)
    prompt = "We find relevant facts: " + " ".join(row["facts"]) + " We need to answer these questions: "
    useful = False
    all_ref: list[list[str]] = []
    for evidence in row["evidence"]:
        useful = True
        all_ref = []
        for ref in evidence:
            if "no_evidence" in ref:
                useful = False
                break
            lists = [r for r in ref if isinstance(r, list)]
            all_ref.extend(lists) if lists else all_ref.append([])
        if useful:
            break
    if not useful:
        return None
    for i, question in enumerate(row["decomposition"]):
        if i >= len(all_ref):
            msg = f"step {i + 1} of the decomposition has no evidence entry."
            raise ValueError(msg)
        refs = [f"'{r}'" for r in all_ref[i]]
        prompt += f"{i + 1}. {question} "
        if refs:
            prompt += f"(Can be answered based on paragraph {', '.join(refs)}) "
    prompt += f"Based on these evidences and decomposed questions, the answer is {row['answer']!s}."
    return prompt


def strategyqa_ground_truth(rows: Iterable[Mapping[str, Any]]) -> list[GroundTruth]:
    """StrategyQA train records to convert.

    The records of the original train file (`qid`, `question`, `answer`, `facts`,
    `decomposition`, `evidence`); questions the original skipped (no usable evidence)
    are left out.
    """
    out = []
    for i, row in enumerate(rows):
        key = str(row.get("qid", f"strategyqa-{i}"))
        try:
            plan = strategyqa_plan(row)
        except ValueError as exc:
            msg = f"{key}: {exc}"
            raise ValueError(msg) from None
        if plan is not None:
            out.append(
                GroundTruth(key, str(row["question"]), plan, bool(row["answer"]), "strategyqa", "complex_qa")
            )
    return out


def hotpotqa_ground_truth(rows: Iterable[Mapping[str, Any]]) -> list[GroundTruth]:
    """HotpotQA records with supporting facts to convert.

    The records of the train or dev distractor files: `_id`, `question`, `answer`,
    `supporting_facts` (`[title, sentence index]`) and `context` (`[title, sentences]`).

    The plan follows the original's StrategyQA wording (the original converted no HotpotQA
    data): the supporting sentences as facts, the question answerable from their
    paragraphs, and the answer.

    Raises:
        ValueError: A record without supporting facts or context.
    """
    out = []
    for i, row in enumerate(rows):
        key = str(row.get("_id", row.get("id", f"hotpotqa-{i}")))
        facts, context = row.get("supporting_facts"), row.get("context")
        if not facts or not context:
            msg = f"{key}: a HotpotQA record needs 'supporting_facts' and 'context' (the train/dev distractor files)."
            raise ValueError(msg)
        paragraphs = {str(title): sentences for title, sentences in context}
        sentences, titles = [], []
        for title, index in facts:
            para = paragraphs.get(str(title), [])
            if 0 <= int(index) < len(para):
                sentences.append(" ".join(str(para[int(index)]).split()))
            if title not in titles:
                titles.append(title)
        refs = ", ".join(f"'{t}'" for t in titles)
        plan = (
            f"We find relevant facts: {' '.join(sentences)} We need to answer these questions: "
            f"1. {row['question']} (Can be answered based on paragraph {refs}) "
            f"Based on these evidences and decomposed questions, the answer is {row['answer']}."
        )
        out.append(GroundTruth(key, str(row["question"]), plan, row["answer"], "hotpotqa", "complex_qa"))
    return out


def jsonl_ground_truth(
    path: str | Path,
    *,
    domain: str,
    question_field: str = "question",
    answer_field: str = "answer",
    rationale_field: str = "rationale",
    id_field: str = "id",
    dataset: str | None = None,
    limit: int | None = None,
) -> list[GroundTruth]:
    """User data: a JSONL file (or JSON list) with a question, an answer and a rationale.

    Raises:
        ValueError: A record without one of the fields.
    """
    from langchain_lumos.evaluation.datasets import load_jsonl

    examples = load_jsonl(
        path,
        limit,
        question_field=question_field,
        answer_field=answer_field,
        id_field=id_field,
        dataset=dataset,
    )
    out = []
    for ex in examples:
        rationale = ex.meta.get(rationale_field)
        if not isinstance(rationale, str) or not rationale.strip():
            msg = f"{path}: example {ex.id} has no {rationale_field!r} text."
            raise ValueError(msg)
        out.append(
            GroundTruth(ex.id, ex.question, rationale.strip(), ex.answer, ex.dataset, get_domain(domain).name)
        )
    return out


def _read_rows(path: str | Path) -> list[dict[str, Any]]:
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        rows: list[dict[str, Any]] = json.loads(text)
        return rows
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_ground_truth(
    source: str | Path,
    *,
    path: str | Path | None = None,
    limit: int | None = None,
    domain: str | None = None,
    **fields: Any,
) -> list[GroundTruth]:
    """Questions with ground-truth reasoning from a named data set or a user file.

    Args:
        source: `gsm8k` (the packaged test set, or `path`), `strategyqa` (the original
            train file with facts and decompositions: `path` required), `hotpotqa` (a file
            with supporting facts: `path` required), or the path of a user JSONL file.
        path: The data set file.
        limit: Keep the first `limit` questions.
        domain: The domain of a user file (required there).
        **fields: A user file's field names (`question_field`, `answer_field`,
            `rationale_field`, `id_field`) and `dataset`.

    Raises:
        ValueError: A source that needs a path or a domain without one, or bad records.
    """
    name = str(source).lower()
    if name in ("gsm8k", "gsm"):
        from langchain_lumos.evaluation.datasets import load_gsm8k

        return gsm8k_ground_truth(load_gsm8k(limit, path=path))
    if name in ("strategyqa", "hotpotqa"):
        if path is None:
            msg = (
                f"{name} needs path= to a file with its reasoning (StrategyQA: strategyqa_train.json with "
                "facts and decompositions; HotpotQA: a distractor file with supporting_facts)."
            )
            raise ValueError(msg)
        rows = _read_rows(path)
        items = strategyqa_ground_truth(rows) if name == "strategyqa" else hotpotqa_ground_truth(rows)
        return items[:limit] if limit is not None else items
    if domain is None:
        msg = f"A user file ({source}) needs domain= (the tools that execute its annotations)."
        raise ValueError(msg)
    return jsonl_ground_truth(path or source, domain=domain, limit=limit, **fields)


def _domain_instruction(domain: str) -> str:
    try:
        return get_domain(domain).conversion_instruction
    except ValueError:  # an unregistered domain: no instruction of its own
        return ""


def conversion_messages(item: GroundTruth) -> list[BaseMessage]:
    """The annotator prompt of one question: the original system message and instruction.

    Raises:
        ValueError: A domain without a conversion instruction (pass `instruction`).
    """
    prompts = conversion_prompts()
    key = item.instruction or _domain_instruction(item.domain)
    if key not in prompts["instructions"]:
        msg = (
            f"No conversion instruction for domain {item.domain!r}; set GroundTruth.instruction to one of "
            f"{sorted(prompts['instructions'])}."
        )
        raise ValueError(msg)
    user = (
        prompts["instructions"][key]
        + f"Task: {item.task}\n\n"
        + f"Natural language plan: {item.natural_language_plan}\n\n"
    )
    return [SystemMessage(prompts["system"]), HumanMessage(user)]


# ---------------------------------------------------------------------------------------
# The execution check
# ---------------------------------------------------------------------------------------


class AnnotationRejected(Exception):
    """An annotation fails the execution check (`reason` is one of `REJECTION_REASONS`)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class ExecutionCheck:
    """The outcome of running one annotation.

    Attributes:
        kept: It executed without error and reached the gold answer.
        reason: The rejection reason (None when kept).
        detail: What went wrong (the action, the error, or result vs gold).
        prediction: The final result as text, when execution finished.
    """

    kept: bool
    reason: str | None = None
    detail: str = ""
    prediction: str | None = None


def _final_value(values: Mapping[str, Any]) -> Any:
    """`Output` if assigned, else the highest-numbered `R<k>` (the Lumos answer rule)."""
    if "Output" in values:
        return values["Output"]
    numbered = [(int(k[1:]), k) for k in values if k[:1] == "R" and k[1:].isdigit()]
    return values[max(numbered)[1]] if numbered else None


def execute_annotation(
    subgoal_plan: str, tools: Sequence[BaseTool] | Mapping[str, BaseTool]
) -> tuple[str, dict[str, Any]]:
    """Run every action of an annotated plan with the tools, in plan order.

    Actions are read with `langchain_lumos.parsing.parse_actions` (the annotated `= value`
    after each action is ignored) and bound to the tools as the executor binds them.

    Returns:
        The final result as text (the text after `Answer: ` when present) and every
        variable's value.

    Raises:
        AnnotationRejected: A plan without subgoals, a subgoal without actions, an
            unreadable action, an unknown action, arguments that do not fit, a tool
            error, or no result.
    """
    from langchain_lumos.errors import ToolArgumentError
    from langchain_lumos.executor import bind_arguments
    from langchain_lumos.parsing import parse_actions, substitute_variables
    from langchain_lumos.state import GroundedAction, render_value
    from langchain_lumos.training.convert import parse_subgoal_plan

    def fail(reason: str, detail: str) -> NoReturn:
        raise AnnotationRejected(reason, detail)

    by_name = dict(tools) if isinstance(tools, Mapping) else {t.name: t for t in tools}
    if "Subgoal 1" not in subgoal_plan:
        fail("no_subgoals", "the annotation has no 'Subgoal 1'.")
    subgoals, blocks = parse_subgoal_plan(subgoal_plan)
    values: dict[str, Any] = {}
    for k, (subgoal, lines) in enumerate(zip(subgoals, blocks, strict=True), start=1):
        lines = [line for line in lines if line.strip()]
        if not lines:
            fail("empty_subgoal", f"{subgoal.strip()!r} has no actions.")
        for j, line in enumerate(lines, start=1):
            parsed = parse_actions(line)
            if parsed.errors or len(parsed.actions) != 1:
                why = parsed.errors[0].reason if parsed.errors else "expected one action"
                fail("parse_error", f"{line.strip()!r}: {why}.")
            action = parsed.actions[0]
            undefined = [v for v in action.references if v[:1] == "R" and v[1:].isdigit() and v not in values]
            if undefined:
                fail("argument_error", f"{action.text}: {undefined[0]} is not defined yet.")
            if not action.name:  # an alias: `Output = R9`
                value: Any = values.get(action.args.strip())
                if value is None:
                    value = substitute_variables(action.args, values)
            else:
                tool = by_name.get(action.name)
                if tool is None:
                    fail(
                        "unknown_action", f"{action.name!r} is not one of {sorted(by_name)} ({action.text})."
                    )
                grounded = GroundedAction(
                    id=f"s{k}.g0.a{j}",
                    subgoal=k,
                    attempt=0,
                    text=action.text,
                    variables=list(action.variables),
                    name=action.name,
                    args=action.args,
                    depends_on=[],
                    kwargs=None,
                )
                try:
                    args = bind_arguments(tool, grounded, values)
                except ToolArgumentError as exc:
                    fail("argument_error", f"{action.text}: {exc}")
                try:
                    value = tool.invoke(args)
                except Exception as exc:  # any tool failure rejects the annotation
                    fail("tool_error", f"{action.text}: {exc}")
            if len(action.variables) > 1:
                if not isinstance(value, (list, tuple)) or len(value) != len(action.variables):
                    fail(
                        "tool_error",
                        f"{action.text} returned {render_value(value, 200)!r} for {len(action.variables)} variables.",
                    )
                values.update(zip(action.variables, value, strict=True))
            else:
                values[action.variables[0]] = value
    final = _final_value(values)
    if final is None:
        fail("no_result", "no R<k> or Output variable was assigned.")
    text = render_value(final)
    if "Answer: " in text:
        text = text.split("Answer: ", 1)[1]
    return text.strip(), values


def _metric_for(item: GroundTruth, metric: str | Metric | None) -> Metric:
    from langchain_lumos.evaluation.metrics import default_metric, get_metric

    if metric is not None:
        return get_metric(metric)
    if item.dataset in ("gsm8k", "svamp", "hotpotqa", "strategyqa", "fanoutqa"):
        return default_metric(item.dataset)
    return get_metric("numeric" if item.domain == "maths" else "qa")


def check_annotation(
    subgoal_plan: str,
    item: GroundTruth,
    tools: Sequence[BaseTool] | Mapping[str, BaseTool],
    *,
    metric: str | Metric | None = None,
) -> ExecutionCheck:
    """The paper's execution check: keep an annotation only if it runs and is right.

    Args:
        subgoal_plan: The annotator's output.
        item: The question and its gold answer.
        tools: The domain's tools (`get_domain(item.domain).create_tools(...)`).
        metric: A metric name or object (default: the data set's, e.g. the original exact
            string match for GSM8K; `numeric` for a maths user file, `qa` otherwise).

    Returns:
        Kept, or the rejection reason and detail.
    """
    from langchain_lumos.evaluation.datasets import Example

    if not subgoal_plan.strip():
        return ExecutionCheck(False, "empty", "the annotator returned nothing.")
    try:
        prediction, _ = execute_annotation(subgoal_plan, tools)
    except AnnotationRejected as exc:
        return ExecutionCheck(False, exc.reason, exc.detail)
    scorer = _metric_for(item, metric)
    example = Example(id=item.id, question=item.task, answer=item.answer, dataset=item.dataset)
    if not scorer.correct(scorer.score(prediction, example)):
        detail = f"the annotation gives {prediction!r}, the gold answer is {item.answer!r}."
        return ExecutionCheck(False, "wrong_answer", detail, prediction)
    return ExecutionCheck(True, prediction=prediction)


# ---------------------------------------------------------------------------------------
# Annotating a data set
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class AnnotateSummary:
    """What one `annotate` run did.

    Attributes:
        output: The raw annotations file (kept records).
        rejected_output: The rejected records (`id`, `reason`, `detail`, `subgoal_plan`).
        total: Questions given.
        skipped: Questions already in either file (a resumed run).
        kept: Records kept in this run.
        rejected: Records rejected in this run, by reason.
    """

    output: Path
    rejected_output: Path
    total: int = 0
    skipped: int = 0
    kept: int = 0
    rejected: Counter[str] = dataclasses.field(default_factory=Counter)

    def format(self) -> str:
        """One line: `kept 39 / rejected 11 (wrong_answer 6, tool_error 5); 0 already done; ...`."""
        reasons = ", ".join(f"{reason} {n}" for reason, n in self.rejected.most_common())
        rejected = sum(self.rejected.values())
        return (
            f"kept {self.kept} / rejected {rejected}"
            + (f" ({reasons})" if reasons else "")
            + f"; {self.skipped} already done; raw annotations in {self.output}, rejections in "
            f"{self.rejected_output}"
        )


def _rejected_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejected.jsonl")


def _done_ids(output: Path, rejected: Path) -> set[str]:
    """Ids already written (annotator failures are retried, so they do not count)."""
    done: set[str] = set()
    for file in (output, rejected):
        if not file.is_file():
            continue
        for line in file.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interrupted run: that id is redone
            if isinstance(record, dict) and "id" in record and record.get("reason") != "annotator_error":
                done.add(str(record["id"]))
    return done


def _prompt_for(model: BaseLanguageModel, messages: list[BaseMessage]) -> str | list[BaseMessage]:
    if isinstance(model, BaseChatModel):
        return messages
    return "\n\n".join(str(m.content) for m in messages)


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="annotate", unit="q")


async def aannotate(
    items: Sequence[GroundTruth],
    annotator: BaseLanguageModel,
    output: str | Path,
    *,
    tools: Sequence[BaseTool] | None = None,
    tool_options: Mapping[str, Any] | None = None,
    qa_llm: BaseLanguageModel | None = None,
    metric: str | Metric | None = None,
    check: bool = True,
    concurrency: int = 4,
    max_attempts: int = 2,
    progress: bool = False,
    rejected_output: str | Path | None = None,
) -> AnnotateSummary:
    """Annotate questions with a model and keep the annotations that pass the execution check.

    Args:
        items: The questions with their reasoning (`load_ground_truth`).
        annotator: A chat model or LLM (the original used GPT-4, temperature 0).
        output: The raw annotations JSONL (appended to; ids already there are skipped).
        tools: The tools that execute the annotations (default: each item's domain
            toolkit, `get_domain(domain).create_tools(**tool_options)`).
        tool_options: Keyword arguments of the toolkit factory.
        qa_llm: The model of complex QA's `QA` tool (default: the annotator).
        metric: The answer metric (default: the data set's).
        check: Run the execution check (False keeps every non-empty annotation).
        concurrency: Questions annotated at once.
        max_attempts: Annotator calls per question when a call fails or returns nothing.
        progress: Show a progress bar (tqdm, when installed).
        rejected_output: Where rejected records go (default `<output stem>.rejected.jsonl`).

    Returns:
        The run's `AnnotateSummary`.

    Raises:
        ValueError: `concurrency` or `max_attempts` below 1.
    """
    if concurrency < 1 or max_attempts < 1:
        msg = "concurrency and max_attempts must be at least 1."
        raise ValueError(msg)
    from langchain_lumos.model_calls import acall_model

    out = Path(output)
    rejected_file = Path(rejected_output) if rejected_output else _rejected_path(out)
    done = _done_ids(out, rejected_file)
    todo = [item for item in items if item.id not in done]
    summary = AnnotateSummary(out, rejected_file, total=len(items), skipped=len(items) - len(todo))
    toolkits: dict[tuple[str, str], Sequence[BaseTool]] = {}

    def toolkit(item: GroundTruth) -> Sequence[BaseTool]:
        if tools is not None:
            return tools
        key = (item.domain, item.dataset)
        if key not in toolkits:
            domain: Domain = get_domain(item.domain)
            options = dict(tool_options or {})
            if "llm" in domain.toolkit_needs and options.get("llm") is None:
                options["llm"] = qa_llm or annotator
            if item.dataset == "strategyqa" and domain.name == "complex_qa":
                options.setdefault("force_yes_no", True)
            toolkits[key] = domain.create_tools(**options)
        return toolkits[key]

    gate = asyncio.Semaphore(concurrency)

    async def one(item: GroundTruth) -> tuple[GroundTruth, str, ExecutionCheck]:
        async with gate:
            prompt = _prompt_for(annotator, conversion_messages(item))
            reply, error = "", ""
            for _ in range(max_attempts):
                try:
                    reply = (await acall_model(annotator, prompt)).text
                except Exception as exc:  # a failed call is retried, then recorded
                    error = f"{type(exc).__name__}: {exc}"
                    continue
                if reply.strip():
                    break
            if not reply.strip() and error:
                return item, "", ExecutionCheck(False, "annotator_error", error)
            if not check:
                ok = bool(reply.strip())
                return item, reply, ExecutionCheck(ok, None if ok else "empty")
            kit = toolkit(item)
            result = await asyncio.to_thread(check_annotation, reply, item, kit, metric=metric)
            return item, reply, result

    def _write(files: tuple[Any, Any], item: GroundTruth, reply: str, result: ExecutionCheck) -> None:
        kept_f, rej_f = files
        if result.kept:
            record = {
                "id": item.id,
                "dataset": item.dataset,
                "task": item.task,
                "natural_language_plan": item.natural_language_plan,
                "subgoal_plan": reply,
                "ans": item.answer,
            }
            kept_f.write(json.dumps(record) + "\n")
            kept_f.flush()
            summary.kept += 1
        else:
            reason = result.reason or "empty"
            rejection = {
                "id": item.id,
                "dataset": item.dataset,
                "reason": reason,
                "detail": result.detail,
                "prediction": result.prediction,
                "task": item.task,
                "subgoal_plan": reply,
                "ans": item.answer,
            }
            rej_f.write(json.dumps(rejection) + "\n")
            rej_f.flush()
            summary.rejected[reason] += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(kept=summary.kept, rejected=sum(summary.rejected.values()))

    bar = _progress(len(todo), progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    rejected_file.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as kept_f, rejected_file.open("a", encoding="utf-8") as rej_f:
        tasks = [asyncio.ensure_future(one(item)) for item in todo]
        try:
            for next_done in asyncio.as_completed(tasks):
                item, reply, result = await next_done
                _write((kept_f, rej_f), item, reply, result)
        finally:
            for task in tasks:
                task.cancel()
    if bar is not None:
        bar.close()
    return summary


def annotate(
    items: Sequence[GroundTruth],
    annotator: BaseLanguageModel,
    output: str | Path,
    **kwargs: Any,
) -> AnnotateSummary:
    """Synchronous `aannotate` (the same arguments)."""
    return asyncio.run(aannotate(items, annotator, output, **kwargs))


# ---------------------------------------------------------------------------------------
# `lumos annotate`
# ---------------------------------------------------------------------------------------


def add_annotate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `annotate` subcommand to an `argparse` subparsers object."""
    p = subparsers.add_parser(
        "annotate",
        help="convert ground-truth reasoning into Lumos annotations (kept after an execution check)",
        description="Prompt an annotator model with the original Lumos conversion prompts to turn "
        "ground-truth reasoning into Subgoal/Action annotations; keep those that execute with the "
        "domain's tools and reach the gold answer. FanOutQA needs no model: its gold decompositions "
        "become annotations and training dialogues directly.",
    )
    p.add_argument(
        "--dataset",
        required=True,
        help="gsm8k, strategyqa, hotpotqa, fanoutqa, or a JSONL/JSON file with question, answer and rationale",
    )
    p.add_argument("--path", default=None, help="the data set file (required for strategyqa and hotpotqa)")
    p.add_argument(
        "--output", required=True, help="raw annotations JSONL (fanoutqa: a folder for the training files)"
    )
    p.add_argument("--model", default=None, help="the annotator's model spec (e.g. openai:gpt-4o)")
    p.add_argument("--qa-model", default=None, help="model spec of the QA tool in the execution check")
    p.add_argument("--domain", default=None, help="the domain of a user file (maths, complex_qa, ...)")
    p.add_argument("--limit", type=int, default=None, help="annotate the first N questions")
    p.add_argument("--concurrency", type=int, default=4, help="questions annotated at once")
    p.add_argument("--max-new-tokens", type=int, default=800, help="annotator decoding cap")
    p.add_argument("--metric", default=None, help="answer metric (default: the data set's)")
    p.add_argument("--no-check", action="store_true", help="keep annotations without executing them")
    p.add_argument("--question-field", default="question")
    p.add_argument("--answer-field", default="answer")
    p.add_argument("--rationale-field", default="rationale")
    p.add_argument("--id-field", default="id")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_annotate)
    return p


def run_annotate(args: argparse.Namespace) -> int:
    """Run `lumos annotate`; returns the exit status."""
    if str(args.dataset).lower() in ("fanoutqa", "fanout"):
        from langchain_lumos.training.fanoutqa import write_fanoutqa_training_set

        try:
            written = write_fanoutqa_training_set(args.output, path=args.path)
        except (ValueError, OSError, ImportError) as exc:
            print(f"lumos annotate: error: {exc}", file=sys.stderr)
            return 2
        for key, reason in written["rejected"]:
            print(f"rejected {key}: {reason}", file=sys.stderr)
        print(
            f"kept {written['kept']} / rejected {len(written['rejected'])}; raw annotations in "
            f"{written['raw']}; training files: {', '.join(str(p) for p in written['files'].values())}"
        )
        return 0
    if not args.model:
        print("lumos annotate: error: --model is required (an annotator model spec)", file=sys.stderr)
        return 2
    try:
        items = load_ground_truth(
            args.dataset,
            path=args.path,
            limit=args.limit,
            domain=args.domain,
            question_field=args.question_field,
            answer_field=args.answer_field,
            rationale_field=args.rationale_field,
            id_field=args.id_field,
        )
        if not items:
            print("lumos annotate: nothing to annotate", file=sys.stderr)
            return 0
        from langchain_lumos.presets import resolve_models

        models = resolve_models(
            args.model,
            domain=items[0].domain,
            mode="onetime",
            qa_model=args.qa_model,
            max_new_tokens=args.max_new_tokens,
        )
        summary = annotate(
            items,
            models.planner,
            args.output,
            qa_llm=models.qa_llm,
            metric=args.metric,
            check=not args.no_check,
            concurrency=args.concurrency,
            progress=not args.no_progress,
        )
    except (ValueError, OSError, ImportError) as exc:
        print(f"lumos annotate: error: {exc}", file=sys.stderr)
        return 2
    print(summary.format())
    return 0
