"""In-context Lumos exemplars for the small-model profile.

`COMPLEX_QA_FEWSHOT`, `MATHS_FEWSHOT`: one worked dialogue per module for models that were
not fine-tuned on the Lumos format (the offline default SmolLM2-135M-Instruct, or an API
chat model); `with_fewshot(domain)` gives any domain its small-model profile. The released
domain checkpoints need none. WebShop's two original dialogues belong to the WebShop domain
itself (`langchain_lumos.domains.WEBSHOP`).
"""

from __future__ import annotations

from langchain_lumos.domains import COMPLEX_QA, MATHS, Domain
from langchain_lumos.prompts import (
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


COMPLEX_QA_FEWSHOT = COMPLEX_QA.replace(
    plan_exemplars=(_QA_PLAN,), ground_exemplars=(_QA_GROUND,), loose_stop=True
)
MATHS_FEWSHOT = MATHS.replace(
    plan_exemplars=(_MATHS_PLAN,), ground_exemplars=(_MATHS_GROUND,), loose_stop=True
)


def with_fewshot(domain: Domain) -> Domain:
    """The small-model profile of a domain: worked exemplars and the loose stop rules.

    Complex QA and maths get one worked dialogue per module; a domain that already carries
    exemplars (WebShop's original two) keeps them. A dataset specialisation (loop cap,
    dataset profile) is kept. Every result has `loose_stop=True`.
    """
    shipped = {"complex_qa": COMPLEX_QA_FEWSHOT, "maths": MATHS_FEWSHOT}
    base = shipped.get(domain.name)
    if base is None or domain.plan_exemplars or domain.ground_exemplars:
        return domain.replace(loose_stop=True)
    return domain.replace(
        plan_exemplars=base.plan_exemplars, ground_exemplars=base.ground_exemplars, loose_stop=True
    )
