"""In-context Lumos exemplars, for models that were not fine-tuned on the Lumos format.

The released checkpoints need none. A small general model (the offline default,
SmolLM2-135M-Instruct) or an API chat model follows the format far better after one
worked dialogue per module. The dialogues use the exact Lumos format.
"""

from __future__ import annotations

from langchain_lumos.prompts import (
    COMPLEX_QA,
    MATHS,
    Domain,
    Turn,
    ground_followup,
    ground_request,
    plan_feedback,
    plan_request,
)

__all__ = ["COMPLEX_QA_FEWSHOT", "MATHS_FEWSHOT", "with_fewshot"]

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

COMPLEX_QA_FEWSHOT = COMPLEX_QA.replace(plan_exemplars=(_QA_PLAN,), ground_exemplars=(_QA_GROUND,))
MATHS_FEWSHOT = MATHS.replace(plan_exemplars=(_MATHS_PLAN,), ground_exemplars=(_MATHS_GROUND,))


def with_fewshot(domain: Domain) -> Domain:
    """The domain with its worked exemplars (unchanged when none are shipped)."""
    return {"complex_qa": COMPLEX_QA_FEWSHOT, "maths": MATHS_FEWSHOT}.get(domain.name, domain)
