"""Byte-for-byte comparison of the prompts a `LumosAgent` sends with the original scripts'.

Each dataset x formulation runs a multi-turn scripted trajectory twice: once through a
real `LumosAgent` (`create_lumos_agent(..., domain="<dataset>")`) with scripted planner
and grounder models that record their prompts, fake tools returning scripted values and
the package's `QA` tool on a recording QA model; once through the independent
re-implementation of the original loop (`tests/unit_tests/fidelity/original.py`). Every
prompt of every module (planner, grounder, QA tool, final QA) must be identical, and so
must the number of model calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, LLMResult
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import ConfigDict, Field, create_model

from langchain_lumos import create_lumos_agent
from langchain_lumos.context import LumosContext
from langchain_lumos.domains import WEB_AGENT
from langchain_lumos.prompts import plan_feedback, plan_request, render_prompt, teacher_forced_subgoal
from langchain_lumos.testing import ScriptedLLM
from langchain_lumos.tools.complex_qa import QATool
from tests.unit_tests.fidelity import original
from tests.unit_tests.fidelity.original import OriginalRun, Script, qa_reply_for

# -- recording doubles -----------------------------------------------------------------------


class RecordingQA(BaseLLM):
    """The QA model: records every prompt; answers by the prompt's `Question:` line."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    replies: dict[str, str]
    prompts: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording-qa"

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        self.prompts.extend(prompts)
        return LLMResult(generations=[[Generation(text=qa_reply_for(self.replies, p))] for p in prompts])


def _fake_tool(name: str, fields: tuple[str, ...], values: list[Any]) -> BaseTool:
    """A tool returning `values` in call order (whatever its arguments).

    Call order is only deterministic along a chain of dependent actions, so every
    trajectory chains its actions (independent actions run concurrently).
    """
    outputs: Iterator[Any] = iter(values)
    schema = create_model(f"{name}Input", **{f: (Any, ...) for f in fields})  # type: ignore[call-overload]

    def run(**_: Any) -> Any:
        return next(outputs)

    return StructuredTool.from_function(func=run, name=name, description=f"{name}.", args_schema=schema)


FIELDS: dict[str, tuple[str, ...]] = {
    "KnowledgeQuery": ("query",),
    "ParagraphRetrieve": ("context", "query"),
    "Calculator": ("formula",),
    "Define": ("value",),
    "SetEquation": ("equation",),
    "CLICK": ("env", "query"),
    "TYPE": ("env", "query", "text"),
    "SELECT": ("env", "query", "text"),
    "Search": ("query",),
    "Click": ("item",),
    "FeatureRetrieve": ("feature_list", "query"),
    "Pick": ("item_names", "item_features", "query"),
}


@dataclasses.dataclass
class ProjectRun:
    """The prompts the agent sent, by module."""

    planner: list[str]
    grounder: list[str]
    qa: list[str]
    result: dict[str, Any]


def run_project(script: Script, dataset: str, mode: str) -> ProjectRun:
    planner = ScriptedLLM(responses=list(script.plan), role="planner")
    grounder = ScriptedLLM(responses=list(script.ground), role="grounder")
    qa_llm = RecordingQA(replies=dict(script.qa))
    tools: list[BaseTool] = [
        _fake_tool(name, FIELDS[name], list(values)) for name, values in script.tools.items()
    ]
    if script.qa:
        tools.append(QATool(llm=qa_llm))
    agent = create_lumos_agent(planner, grounder, tools, mode=mode, domain=dataset)  # type: ignore[arg-type]
    variables = {"Env": "page0"} if dataset == "mind2web" else {}
    # Mind2Web is bounded by the episode: as many subgoals as ground-truth steps.
    context = LumosContext(max_subgoals=len(script.subgoals)) if script.subgoals else None
    result = agent.invoke({"task": script.task, "variables": variables}, context=context)
    return ProjectRun(planner.prompts, grounder.prompts, qa_llm.prompts, result)


# -- the trajectories ----------------------------------------------------------------------------

_BEST_PICTURE = "Which film won Best Picture in 1998?"
_TITANIC = "Titanic (1997 film) *** Titanic is a 1997 American epic romance film directed by James Cameron."
_EVIDENCE_BP = "Evidence 1: The 70th Academy Awards honoured Titanic as Best Picture.\n"
_EVIDENCE_DIR = "Evidence 1: Titanic is a 1997 American epic romance film directed by James Cameron.\n"

HOTPOTQA_ITERATIVE = Script(
    task="Who directed the film that won Best Picture in 1998? ",
    plan=[
        "Subgoal 1: Obtain the film that won Best Picture in 1998.",
        "No, I will keep planning. Subgoal 2: Obtain the director of the film Titanic.",
        "Yes, I will stop planning.",
    ],
    ground=[
        "R1 = KnowledgeQuery(Academy Award for Best Picture); "
        f"R2 = ParagraphRetrieve(R1, Query: {_BEST_PICTURE}); R3 = QA([R2], Question: {_BEST_PICTURE})",
        "R4 = KnowledgeQuery(Titanic (1997 film)); R5 = ParagraphRetrieve(R4, Query: Who directed Titanic?); "
        "R6 = QA([R5], Question: Who directed Titanic?)",
    ],
    tools={
        "KnowledgeQuery": [
            ["Academy Award for Best Picture *** The 70th awards honoured Titanic."],
            [_TITANIC],
        ],
        "ParagraphRetrieve": [_EVIDENCE_BP, _EVIDENCE_DIR],
    },
    qa={
        _BEST_PICTURE: "Answer: Titanic",
        "Who directed Titanic?": "Answer: James Cameron",
        "Who directed the film that won Best Picture in 1998?": "Answer: James Cameron",
    },
)
HOTPOTQA_ONETIME = Script(
    task="Who directed the film that won Best Picture in 1998?",
    plan=[
        "Subgoal 1: Obtain the film that won Best Picture in 1998; Subgoal 2: Obtain the director of the film."
    ],
    ground=[
        "R1 = KnowledgeQuery(Academy Award for Best Picture); "
        f"R2 = ParagraphRetrieve(R1, Query: {_BEST_PICTURE}); R3 = QA([R2], Question: {_BEST_PICTURE}); "
        "R4 = KnowledgeQuery(R3); R5 = ParagraphRetrieve(R4, Query: Who directed Titanic?); "
        "R6 = QA([R5], Question: Who directed Titanic?)"
    ],
    tools=HOTPOTQA_ITERATIVE.tools,
    qa=HOTPOTQA_ITERATIVE.qa,
)
_BORN = "When was James Cameron born?"
STRATEGYQA_ITERATIVE = Script(
    task="Was the director of Titanic born before 1960?",
    plan=[
        "Subgoal 1: Obtain the director of the film Titanic.",
        "No, I will keep planning. Subgoal 2: Obtain the birth year of James Cameron.",
        "No, I will keep planning. Subgoal 3: Answer whether 1954 is before 1960.",
        "Yes, I will stop planning.",
    ],
    ground=[
        "R1 = KnowledgeQuery(Titanic (1997 film)); R2 = ParagraphRetrieve(R1, Query: Who directed Titanic?); "
        "R3 = QA([R2], Question: Who directed Titanic?)",
        f"R4 = KnowledgeQuery(James Cameron); R5 = ParagraphRetrieve(R4, Query: {_BORN}); R6 = QA([R5], Question: {_BORN})",
        "R7 = QA([R5], Question: Is 1954 before 1960?)",
    ],
    tools={
        "KnowledgeQuery": [
            [_TITANIC],
            ["James Cameron *** James Cameron (born August 16, 1954) is a film director."],
        ],
        "ParagraphRetrieve": [
            _EVIDENCE_DIR,
            "Evidence 1: James Cameron (born August 16, 1954) is a director.\n",
        ],
    },
    qa={
        "Who directed Titanic?": "Answer: James Cameron",
        _BORN: "Answer: 1954",
        "Is 1954 before 1960?": "Answer: Yes",
        "Was the director of Titanic born before 1960? Must answer yes/no.": "Answer: Yes",
        "Was the director of Titanic born before 1960?": "Answer: yes (no suffix)",
    },
)
STRATEGYQA_ONETIME = Script(
    task="Was the director of Titanic born before 1960?",
    plan=[
        "Subgoal 1: Obtain the director of the film Titanic; Subgoal 2: Obtain the birth year of the director; "
        "Subgoal 3: Answer whether it is before 1960."
    ],
    ground=[
        "R1 = KnowledgeQuery(Titanic (1997 film)); R2 = ParagraphRetrieve(R1, Query: Who directed Titanic?); "
        "R3 = QA([R2], Question: Who directed Titanic?); R4 = KnowledgeQuery(R3); "
        f"R5 = ParagraphRetrieve(R4, Query: {_BORN}); R6 = QA([R5], Question: Was James Cameron born before 1960?)"
    ],
    tools=STRATEGYQA_ITERATIVE.tools,
    qa={
        "Who directed Titanic?": "Answer: James Cameron",
        "Was James Cameron born before 1960? Must answer yes/no.": "Answer: Yes",
        "Was James Cameron born before 1960?": "Answer: yes (no suffix)",
        "Was the director of Titanic born before 1960?": "Answer: yes (the task)",
    },
)
GSM8K_ITERATIVE = Script(
    task="A shop sells 3 boxes of 12 pencils and 5 loose pencils. How many pencils does it sell?",
    plan=[
        "Subgoal 1: Calculate the pencils in the boxes.",
        "No, I will keep planning. Subgoal 2: Add the loose pencils.",
        "No, I will keep planning. Subgoal 3: Set the total as the answer.",
        "Yes, I will stop planning.",
    ],
    ground=[
        "R1 = Calculator(3 * 12)",
        "R2 = Define(5); R3 = Calculator(R1 + R2)",
        "R4 = SetEquation(x = R3)",
    ],
    tools={"Calculator": ["36", "41"], "Define": ["5"], "SetEquation": ["x = 41"]},
)
GSM8K_ONETIME = Script(
    task=GSM8K_ITERATIVE.task,
    plan=["Subgoal 1: Calculate the pencils in the boxes; Subgoal 2: Add the loose pencils."],
    ground=["R1 = Calculator(3 * 12); R2 = Calculator(R1 + 5)"],
    tools={"Calculator": ["36", "41"]},
)
SVAMP_ITERATIVE = Script(
    task="Jack had 4 apples and got 3 more. He ate 2. How many apples does he have now?",
    plan=[
        "Subgoal 1: Calculate the apples Jack got in total.",
        "No, I will keep planning. Subgoal 2: Calculate the apples left.",
        "No, I will keep planning. Subgoal 3: Report the answer.",
        "Yes, I will stop planning.",
    ],
    ground=["R1 = Calculator(4 + 3)", "R2 = Calculator(R1 - 2)", "R3 = Define(R2)"],
    tools={"Calculator": ["7", "5"], "Define": ["5"]},
)
SVAMP_ONETIME = Script(
    task=SVAMP_ITERATIVE.task,
    plan=["Subgoal 1: Calculate the apples Jack got in total; Subgoal 2: Calculate the apples left."],
    ground=["R1 = Calculator(4 + 3); R2 = Calculator(R1 - 2)"],
    tools={"Calculator": ["7", "5"]},
)
_WEB_SUBGOALS = [
    "Click textbox From",
    "Type Atlanta in the textbox From",
    "Select May 3 in the combobox Date",
]
MIND2WEB_ITERATIVE = Script(
    task="Find a one-way flight from Atlanta to Paris on May 3.",
    # The model writes the ground-truth subgoals, so free-running planning equals the
    # original's teacher-forced history.
    plan=[*(f"Subgoal {i + 1}: {s}" for i, s in enumerate(_WEB_SUBGOALS)), "Yes, I will stop planning."],
    ground=[
        "R1 = CLICK(Env, QUERY: From textbox)",
        "R2 = TYPE(R1, QUERY: From textbox, TEXT: Atlanta)",
        "R3 = SELECT(R2, QUERY: Date, TEXT: May 3)",
    ],
    tools={"CLICK": ["page1"], "TYPE": ["page2"], "SELECT": ["page3"]},
    subgoals=_WEB_SUBGOALS,
)
_SEARCH = "b09s3bn15c - Mens Linen Shirt ** b094q7b3ss - Women Cold Shoulder Tops"
WEBSHOP_ITERATIVE = Script(
    task="Find me slim fit women's tops with long sleeve, color: black, size: large, price lower than 50.00 dollars",
    plan=[
        "Subgoal 1: Search two relevant items and the product names according to the instruction.",
        "No, I will keep planning. Subgoal 2: Click item b094q7b3ss to see its features.",
        "No, I will keep planning. Subgoal 3: Select the most relevant features of item b094q7b3ss.",
        "No, I will keep planning. Subgoal 4: Buy this item.",
        "Yes, I will stop planning.",
    ],
    ground=[
        "Search(women's slim fit tops long sleeve black large)",
        "R2 = Click(b094q7b3ss)",
        "R3 = FeatureRetrieve(R2, Query: black large)",
        "R4 = Click(buy now)",
    ],
    tools={
        "Search": [_SEARCH],
        "Click": [["< prev", "black", "large", "buy now"], 1.0],
        "FeatureRetrieve": ["black, large"],
    },
)

CASES: dict[tuple[str, str], tuple[Script, Callable[[Script, str], OriginalRun]]] = {
    ("hotpotqa", "iterative"): (HOTPOTQA_ITERATIVE, original.complex_qa_iterative),
    ("hotpotqa", "onetime"): (HOTPOTQA_ONETIME, original.complex_qa_onetime),
    ("strategyqa", "iterative"): (STRATEGYQA_ITERATIVE, original.complex_qa_iterative),
    ("strategyqa", "onetime"): (STRATEGYQA_ONETIME, original.complex_qa_onetime),
    ("gsm8k", "iterative"): (GSM8K_ITERATIVE, original.maths_iterative),
    ("gsm8k", "onetime"): (GSM8K_ONETIME, original.maths_onetime),
    ("svamp", "iterative"): (SVAMP_ITERATIVE, original.maths_iterative),
    ("svamp", "onetime"): (SVAMP_ONETIME, original.maths_onetime),
    ("mind2web", "iterative"): (MIND2WEB_ITERATIVE, original.mind2web_iterative),
    ("webshop", "iterative"): (WEBSHOP_ITERATIVE, original.webshop_iterative),
}
_QA_DATASETS = ("hotpotqa", "strategyqa")


def _cells() -> list[Any]:
    cells = []
    for dataset, mode in CASES:
        modules = ["planner", "grounder"]
        if dataset in _QA_DATASETS:
            modules.append("qa")
            if mode == "iterative":
                modules.append("final_qa")
        for module in modules:
            cells.append(pytest.param(dataset, mode, module, id=f"{dataset}-{mode}-{module}"))
    return cells


_RUNS: dict[tuple[str, str], tuple[OriginalRun, ProjectRun]] = {}


def _runs(dataset: str, mode: str) -> tuple[OriginalRun, ProjectRun]:
    if (dataset, mode) not in _RUNS:
        script, reimplementation = CASES[(dataset, mode)]
        _RUNS[(dataset, mode)] = (reimplementation(script, dataset), run_project(script, dataset, mode))
    return _RUNS[(dataset, mode)]


def _module_prompts(run: OriginalRun | ProjectRun, module: str, actions_qa: int) -> list[str]:
    if module == "qa":
        return run.qa[:actions_qa]
    if module == "final_qa":
        return run.qa[actions_qa:]
    return list(getattr(run, module))


@pytest.mark.parametrize(("dataset", "mode", "module"), _cells())
def test_prompts_match_the_original(dataset: str, mode: str, module: str) -> None:
    ours, theirs = _runs(dataset, mode)[1], _runs(dataset, mode)[0]
    actions_qa = len(theirs.qa) - len(theirs.final_qa)
    expected = _module_prompts(theirs, module, actions_qa)
    got = _module_prompts(ours, module, actions_qa)
    assert expected, "the trajectory must exercise the module"
    # Mind2Web and WebShop end with the episode in the original; a later call is checked
    # by `test_number_of_model_calls`.
    assert got[: len(expected)] == expected


def _calls(run: OriginalRun | ProjectRun) -> tuple[int, int]:
    return len(run.planner), len(run.grounder)


@pytest.mark.parametrize(
    ("dataset", "mode"),
    [
        pytest.param(
            d,
            m,
            id=f"{d}-{m}",
        )
        for d, m in CASES
    ],
)
def test_number_of_model_calls(dataset: str, mode: str) -> None:
    theirs, ours = _runs(dataset, mode)
    assert _calls(ours) == _calls(theirs)


def test_svamp_makes_two_planner_calls() -> None:
    theirs, ours = _runs("svamp", "iterative")
    assert len(theirs.planner) == len(ours.planner) == 2


def test_webshop_echoed_prefix_runs_like_the_original() -> None:
    echoed = "R1 = Search(women's slim fit tops long sleeve black large)"
    script = dataclasses.replace(WEBSHOP_ITERATIVE, ground=[echoed, *WEBSHOP_ITERATIVE.ground[1:]])
    theirs, ours = original.webshop_iterative(script), run_project(script, "webshop", "iterative")
    # The original's history is the same with and without the echo.
    assert theirs.grounder == original.webshop_iterative(WEBSHOP_ITERATIVE).grounder
    assert ours.result["actions"][0]["text"] == echoed
    assert ours.grounder[: len(theirs.grounder)] == theirs.grounder


def test_web_feedback_drops_the_subgoals_period_as_training_did() -> None:
    """Item 4: a planned subgoal's own period is dropped before `. Should we stop planning?`.

    The original Mind2Web evaluation is teacher-forced (its ground-truth subgoals of
    CLICK/TYPE/SELECT steps have no period), so the reference for a model's own subgoal is
    the training conversion, `data/process_for_train.py`.
    """
    script = dataclasses.replace(
        MIND2WEB_ITERATIVE,
        plan=[
            "Subgoal 1: Click the From textbox.",
            "No, I will keep planning. Subgoal 2: Type Atlanta in the From textbox..",
            "Yes, I will stop planning.",
        ],
        ground=MIND2WEB_ITERATIVE.ground[:2],
        tools={"CLICK": ["page1"], "TYPE": ["page2"]},
    )
    ours = run_project(script, "mind2web", "iterative")
    for k, line in enumerate(script.plan[:2]):
        expected = original.web_feedback_train(line.split("No, I will keep planning. ")[-1])
        assert ours.planner[k + 1].endswith(f"<|assistant|>\n{line}\n\n<|user|>\n{expected}\n<|assistant|>\n")
    assert "..." not in ours.planner[2] and ". Should we stop planning?" in ours.planner[2]


def test_teacher_forced_mind2web_history_builders() -> None:
    """Mind2Web's teacher-forced planner prompts, rebuilt from the builders, byte for byte.

    The ground truth includes an ENTER step (`translate_action` ends it with a period), which
    the original reported as `... Search.. Should we stop planning?`.
    """
    subgoals = ["Click textbox From", "enter button Search.", "Select May 3 in the combobox Date"]
    script = dataclasses.replace(MIND2WEB_ITERATIVE, subgoals=subgoals)
    theirs = original.mind2web_iterative(script)
    turns = [plan_request(script.task)]
    for k, gt in enumerate(subgoals[:-1], start=1):
        turns += [teacher_forced_subgoal(k, gt), plan_feedback(WEB_AGENT, k, gt, "", verbatim=True)]
        assert render_prompt(turns) == theirs.planner[k]
    assert theirs.planner[2].endswith(
        "We have already enter button Search.. Should we stop planning?\n<|assistant|>\n"
    )


def test_webshop_first_prompts_carry_the_original_exemplars() -> None:
    """Item 5: `domain="webshop"` by name gives the original 2-shot prompts, byte for byte."""
    theirs, ours = _runs("webshop", "iterative")
    assert ours.planner[:2] == theirs.planner[:2]
    assert ours.grounder[0] == theirs.grounder[0]
    assert ours.grounder[0].endswith("<|assistant|>\nR1 = ")
    assert len(theirs.planner[0]) > 3000  # not the 239-character prompt of the bare instruction


def test_the_reimplementation_is_what_the_original_sent() -> None:
    """Spot checks of the re-implementation against strings read off the original code."""
    theirs = _runs("hotpotqa", "iterative")[0]
    assert theirs.final_qa[0].endswith(
        "Question: Who directed the film that won Best Picture in 1998?\nContext: Question: "
        f"{_BEST_PICTURE}; Answer: Titanic; Question: Who directed Titanic?; Answer: James Cameron;\n"
    )
    assert theirs.planner[1].endswith(
        "<|assistant|>\nSubgoal 1: Obtain the film that won Best Picture in 1998.\n\n<|user|>\nThe executed "
        f"result for Subgoal 1 is Question: {_BEST_PICTURE}; Answer: Titanic. Should we stop planning?\n<|assistant|>\n"
    )
    shop = _runs("webshop", "iterative")[0]
    assert "<|assistant|>\nR1 = R1 = Search(women's slim fit tops" in shop.grounder[1]
    assert "The executed result for Subgoal 2 is ['< prev', 'black', 'large', 'buy now']\n" in shop.planner[2]
    strategy = _runs("strategyqa", "onetime")[0]
    assert "Question: Was James Cameron born before 1960? Must answer yes/no.\n" in strategy.qa[-1]
