"""The domain registry: one place for a domain's prompts, tools, checkpoints and data sets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from langchain_lumos.domains import (
    COMPLEX_QA,
    DATASET_PROFILES,
    DOMAINS,
    MATHS,
    WEB_AGENT,
    WEBSHOP,
    DatasetProfile,
    Domain,
    get_domain,
    list_datasets,
    list_domains,
    register_domain,
)


def test_domains_by_name_and_errors() -> None:
    assert get_domain("maths") is MATHS
    assert get_domain("complex-qa") is COMPLEX_QA
    assert get_domain(WEB_AGENT) is WEB_AGENT
    assert list_domains() == ["complex_qa", "maths", "web_agent", "webshop", "multimodal"]
    assert list_domains(with_tools=True) == ["complex_qa", "maths", "web_agent", "webshop"]
    with pytest.raises(ValueError, match=r"Unknown Lumos domain 'chess'.*svamp"):
        get_domain("chess")
    with pytest.raises(TypeError, match="name or a Domain"):
        get_domain(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "domain", "cap", "answer"),
    [
        ("hotpotqa", "complex_qa", 5, "qa"),
        ("strategyqa", "complex_qa", 5, "yes_no"),
        ("gsm8k", "maths", 8, "value"),
        ("svamp", "maths", 2, "value"),
        ("mind2web", "web_agent", 15, "step"),
        ("webshop", "webshop", 5, "reward"),
    ],
)
def test_dataset_profiles_carry_the_original_loop_caps(name: str, domain: str, cap: int, answer: str) -> None:
    # Caps from the original loops: `range(10)` (QA, WebShop), `range(16)` (GSM8K),
    # `range(4)` (SVAMP): two iterations (plan, ground) per subgoal; Mind2Web `range(15)`.
    resolved = get_domain(name)
    assert resolved.name == domain
    assert resolved.max_subgoals == cap
    assert resolved.dataset is not None and resolved.dataset.name == name
    assert resolved.dataset.answer == answer
    assert DATASET_PROFILES[name] in get_domain(domain).datasets
    assert name in list_datasets()


def test_dataset_specialisation_keeps_the_domain_profile() -> None:
    svamp = get_domain("svamp")
    assert svamp.interface == MATHS.interface and svamp.checkpoints == MATHS.checkpoints
    assert svamp == MATHS.for_dataset("svamp")
    assert list_datasets("maths") == ["gsm8k", "svamp"]
    with pytest.raises(ValueError, match="not a data set of domain 'maths'"):
        MATHS.for_dataset("hotpotqa")


def test_strategyqa_suffixes_and_mind2web_episode() -> None:
    strategy = DATASET_PROFILES["strategyqa"]
    assert strategy.final_qa_suffix == " Must answer yes/no."
    assert (strategy.onetime_last_qa, strategy.onetime_last_qa_suffix) == ("own", " Must answer yes/no.")
    hotpot = DATASET_PROFILES["hotpotqa"]
    assert (hotpot.final_qa_suffix, hotpot.onetime_last_qa, hotpot.onetime_last_qa_suffix) == ("", "task", "")
    mind2web = DATASET_PROFILES["mind2web"]
    assert mind2web.teacher_forced and mind2web.episode_bounded
    assert mind2web.formulations == ("iterative",)
    assert [name for name, p in DATASET_PROFILES.items() if not p.planner_stops] == ["mind2web", "webshop"]


def test_webshop_carries_its_exemplars_and_unified_checkpoints() -> None:
    assert get_domain("webshop") is WEBSHOP
    assert len(WEBSHOP.plan_exemplars) == 2 and len(WEBSHOP.ground_exemplars) == 2
    assert WEBSHOP.ground_prefix == "R1 = "
    assert {c.domain for c in WEBSHOP.checkpoints} == {"unified"}


def test_eval_profiles_use_the_strict_stop_rule() -> None:
    assert not any(d.loose_stop for d in DOMAINS.values())


def test_create_tools_builds_the_toolkit() -> None:
    assert [t.name for t in get_domain("maths").create_tools()] == [
        t.name for t in get_domain("gsm8k").create_tools()
    ]
    assert {t.name for t in WEB_AGENT.create_tools()} == {"CLICK", "TYPE", "SELECT"}
    with pytest.raises(ValueError, match="has no toolkit"):
        get_domain("multimodal").create_tools()
    with pytest.raises(ValueError, match="'webshop' toolkit needs env="):
        WEBSHOP.create_tools()
    with pytest.raises(ValueError, match="'complex_qa' toolkit needs llm="):
        get_domain("hotpotqa").create_tools()


def test_get_tools_asks_the_registry() -> None:
    from langchain_lumos.testing import InMemoryShop
    from langchain_lumos.tools import get_tools

    assert {t.name for t in get_tools("webshop", env=InMemoryShop())} == {
        "Search",
        "FeatureRetrieve",
        "Pick",
        "Click",
    }
    assert [t.name for t in get_tools("svamp")] == [t.name for t in get_tools(MATHS)]
    with pytest.raises(ValueError, match="Unknown Lumos domain"):
        get_tools("chess")


def test_register_a_new_domain() -> None:
    profile = DatasetProfile(name="toyset", domain="toy", max_subgoals=3, answer="value")
    toy = Domain(name="toy", interface="The available action list is 'Echo'.\n\n", datasets=(profile,))
    try:
        register_domain(toy)
        assert get_domain("toy") is toy
        assert get_domain("toyset").max_subgoals == 3
        assert "toy" in list_domains() and "toy" not in list_domains(with_tools=True)
        with pytest.raises(ValueError, match="already registered"):
            register_domain(toy)
    finally:
        DOMAINS.pop("toy", None)
        DATASET_PROFILES.pop("toyset", None)
    with pytest.raises(ValueError, match="belongs to domain"):
        register_domain(Domain(name="other", interface="", datasets=(profile,)))


def test_importing_the_registry_stays_light() -> None:
    code = (
        "import sys, langchain_lumos.domains as d; d.get_domain('svamp'); "
        "bad = [m for m in ('langchain_lumos.tools', 'torch', 'transformers') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_webshop_grounding_quirks_are_webshop_only() -> None:
    assert WEBSHOP.echo_ground_prefix and WEBSHOP.strip_keep_planning_first
    assert get_domain("webshop").echo_ground_prefix
    for domain in (COMPLEX_QA, MATHS, WEB_AGENT, get_domain("hotpotqa"), get_domain("svamp")):
        assert not domain.echo_ground_prefix and not domain.strip_keep_planning_first
        assert domain.ground_prefix == ""
