"""The WebShop 2-shot prompts equal what the original evaluation script built."""

from __future__ import annotations

import json
from importlib import resources

from langchain_lumos.domains import WEBSHOP, get_domain
from langchain_lumos.prompts import ground_request, plan_request, render_prompt

PLAN_PREFIX = "Please provide a reasonable subgoal-based plan to solve the given task.\n"
GROUND_PREFIX = (
    "Please ground the given subgoal to corresponding executable actions for solving the given task. The grounded "
    "actions must be the one in available action list.\n\nThe available action list is 'Search', 'FeatureRetrieve', "
    "'Pick' and 'Click'.\nSearch(Query): Search related items according to the Query; FeatureRetrieve(Feature_list, "
    "Query): Select the most relevant features from Feature_list according to Query; Pick(Item_names, Item_features, "
    "Query): Pick the most relevant item from Item_names according to Query, Item_names and Item_features; "
    "Click(Item): Click the Item to check more information.\n\n"
)


def _original_prompts(task: str, subgoal: str) -> tuple[str, str]:
    """Re-implementation of the string building in the original eval/webshop/run_eval.py."""
    data = json.loads(resources.files("langchain_lumos.data").joinpath("webshop_exemplars.json").read_text())
    plan_p, ground_p = "", ""
    for plan_ex, ground_ex in zip(data["plan"], data["ground"], strict=True):
        tmp = []
        plan_p += (
            "<|user|>\n"
            + PLAN_PREFIX
            + "Task: "
            + plan_ex["instruction"].strip()
            + "; Initial Environment Description: None.\n<|assistant|>\n"
        )
        for i, sg in enumerate(plan_ex["subgoals"].split("; Subgoal ")):
            full = sg if i == 0 else f"Subgoal {sg}"
            results, sg_text = full.split(" || Results: ")[1], full.split(" || Results: ")[0]
            plan_p += (
                sg_text.strip()
                + f"\n\n<|user|>\nThe execution result for Subgoal {i + 1} is {results.strip('.')}.\n<|assistant|>\n"
            )
            tmp.append(sg_text)
        plan_p += "\n\n"
        ground_p += "<|user|>\n" + GROUND_PREFIX + "Task: " + ground_ex["instruction"].strip()
        for i, action in enumerate(ground_ex["actions"].split("; Action ")):
            action = f"Action {action}"
            if i == 0:
                ground_p += f" \nSubgoal to be grounded: {tmp[i]}\n<|assistant|>\n"
            else:
                ground_p += f"\n\n<|user|>\nSubgoal to be grounded: {tmp[i]}\n<|assistant|>\n"
            for act in action.split(" || "):
                ground_p += act[act.find(":") + 1 :].strip() + "; "
            ground_p = ground_p[:-2]
        ground_p += "\n\n"
    plan_p += (
        "<|user|>\n"
        + PLAN_PREFIX
        + "Task: "
        + task.strip()
        + "; Initial Environment Description: None.\n<|assistant|>\n"
    )
    ground_p += (
        "<|user|>\n"
        + GROUND_PREFIX
        + "Task: "
        + task.strip()
        + f" \nSubgoal to be grounded: {subgoal}\n<|assistant|>\n"
        + "R1 = "
    )
    return plan_p, ground_p


def test_webshop_two_shot_prompts_are_byte_exact() -> None:
    task = "i need a red cotton t-shirt in size small, and price lower than 30.00 dollars"
    subgoal = "Subgoal 1: Search two relevant items and the product names according to the instruction."
    plan_expected, ground_expected = _original_prompts(task, subgoal)
    # The domain by name always carries the original's two exemplars.
    webshop = get_domain("webshop")
    plan = render_prompt([plan_request(task)], exemplars=webshop.plan_exemplars)
    ground = render_prompt(
        [ground_request(webshop, task, subgoal)],
        exemplars=webshop.ground_exemplars,
        assistant_prefix=webshop.ground_prefix,
    )
    assert plan == plan_expected
    assert ground == ground_expected
    assert "R13 = Click(buy now)." in ground


def test_webshop_by_name_is_not_the_239_character_prompt() -> None:
    plan = render_prompt([plan_request("x")], exemplars=get_domain("webshop").plan_exemplars)
    assert len(plan) > 2000
    assert get_domain("webshop") is WEBSHOP
    assert not WEBSHOP.loose_stop
