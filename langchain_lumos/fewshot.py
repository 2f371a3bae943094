"""In-context Lumos exemplars.

- `WEBSHOP_FEWSHOT`: the two WebShop dialogues the original evaluation prepended when it ran
  the *unified* checkpoints on WebShop (an unseen task), rebuilt exactly as
  `eval/webshop/run_eval.py` assembled them.
- `COMPLEX_QA_FEWSHOT`, `MATHS_FEWSHOT`: one worked dialogue per module for models that
  were not fine-tuned on the Lumos format (the offline default SmolLM2-135M-Instruct, or an
  API chat model). The released domain checkpoints need none.
"""

from __future__ import annotations

import json
from importlib import resources

from langchain_lumos.prompts import (
    COMPLEX_QA,
    MATHS,
    WEBSHOP,
    Domain,
    Turn,
    ground_followup,
    ground_request,
    plan_feedback,
    plan_request,
)

__all__ = ["COMPLEX_QA_FEWSHOT", "MATHS_FEWSHOT", "WEBSHOP_FEWSHOT", "with_fewshot"]

_QA_TASK = "Where was the director of the film Jaws born?"
_QA_PLAN = (
    plan_request(_QA_TASK),
    Turn(role="assistant", content="Subgoal 1: Obtain the director of the film Jaws."),
    plan_feedback(COMPLEX_QA, 1, "", "Question: Who directed the film Jaws?; Answer: Steven Spielberg"),
    Turn(
        role="assistant",
        content="No, I will keep planning. Subgoal 2: Obtain the birthplace of Steven Spielberg.",
    ),
    plan_feedback(COMPLEX_QA, 2, "", "Question: Where was Steven Spielberg born?; Answer: Cincinnati"),
    Turn(role="assistant", content="Yes, I will stop planning."),
)
_QA_GROUND = (
    ground_request(COMPLEX_QA, _QA_TASK, "Subgoal 1: Obtain the director of the film Jaws."),
    Turn(
        role="assistant",
        content="R1 = KnowledgeQuery(Jaws (film)); R2 = ParagraphRetrieve(R1, Query: Who directed the film Jaws?); "
        "R3 = QA([R2], Question: Who directed the film Jaws?)",
    ),
    ground_followup(
        COMPLEX_QA,
        "No, I will keep planning. Subgoal 2: Obtain the birthplace of Steven Spielberg.",
        [("Subgoal 1", "Question: Who directed the film Jaws?; Answer: Steven Spielberg")],
    ),
    Turn(
        role="assistant",
        content="R4 = KnowledgeQuery(Steven Spielberg); R5 = ParagraphRetrieve(R4, Query: Where was Steven Spielberg born?); "
        "R6 = QA([R5], Question: Where was Steven Spielberg born?)",
    ),
)
_MATHS_TASK = "A shop sells 3 boxes of 12 pencils and 5 loose pencils. How many pencils is that?"
_MATHS_PLAN = (
    plan_request(_MATHS_TASK),
    Turn(role="assistant", content="Subgoal 1: Calculate the pencils in the boxes."),
    plan_feedback(MATHS, 1, "", "36"),
    Turn(role="assistant", content="No, I will keep planning. Subgoal 2: Add the loose pencils."),
    plan_feedback(MATHS, 2, "", "41"),
    Turn(role="assistant", content="Yes, I will stop planning."),
)
_MATHS_GROUND = (
    ground_request(MATHS, _MATHS_TASK, "Subgoal 1: Calculate the pencils in the boxes."),
    Turn(role="assistant", content="R1 = Calculator(3 * 12)"),
    ground_followup(MATHS, "No, I will keep planning. Subgoal 2: Add the loose pencils."),
    Turn(role="assistant", content="R2 = Calculator(R1 + 5)"),
)


def _webshop_exemplars() -> tuple[tuple[tuple[Turn, ...], ...], tuple[tuple[Turn, ...], ...]]:
    """Planner and grounder dialogues from the original WebShop exemplar data."""
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
                ground_turns.append(ground_request(WEBSHOP, ground["instruction"], subgoals[0]))
            else:
                ground_turns.append(Turn(role="user", content=f"Subgoal to be grounded: {subgoals[i]}"))
            ground_turns.append(Turn(role="assistant", content=acts))
        grounds.append(tuple(ground_turns))
    return tuple(plans), tuple(grounds)


_WEBSHOP_PLAN, _WEBSHOP_GROUND = _webshop_exemplars()
WEBSHOP_FEWSHOT = WEBSHOP.replace(plan_exemplars=_WEBSHOP_PLAN, ground_exemplars=_WEBSHOP_GROUND)
COMPLEX_QA_FEWSHOT = COMPLEX_QA.replace(plan_exemplars=(_QA_PLAN,), ground_exemplars=(_QA_GROUND,))
MATHS_FEWSHOT = MATHS.replace(plan_exemplars=(_MATHS_PLAN,), ground_exemplars=(_MATHS_GROUND,))


def with_fewshot(domain: Domain) -> Domain:
    """The domain with its worked exemplars (unchanged when none are shipped)."""
    shipped = {"complex_qa": COMPLEX_QA_FEWSHOT, "maths": MATHS_FEWSHOT, "webshop": WEBSHOP_FEWSHOT}
    return shipped.get(domain.name, domain)
