"""WebShop evaluation: Lumos episodes on a shop, scored as WebShop reports them.

Each goal is one episode: the shop is reset to the goal, the Lumos agent (planner,
grounder and the WebShop tools `Search`, `Click`, `FeatureRetrieve`, `Pick`) runs on its
instruction with the `webshop` domain, which carries the original's two in-context
dialogues (`eval/webshop/examplars.py`) and its evaluation quirks (the forced `R1 = `
grounder prefix, feedback without a question), and the episode's reward is what the shop
returned when `buy now` was clicked (0 when the agent never bought).

WebShop reports two numbers: the **score**, the average reward times 100, and the
**success rate**, the share of episodes whose reward is 1. `average_reward` (in [0, 1])
is the number the Lumos evaluation script printed.

The shop is any `ShopEnvironment` with `reset(goal_index) -> instruction`: a running
WebShop server (`langchain_lumos.tools.webshop_server.WebShopServerEnvironment`, sessions
`fixed_<i>`) or the in-memory shop of `langchain_lumos.testing`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_lumos.domains import get_domain

if TYPE_CHECKING:
    from langchain_core.language_models import BaseLanguageModel

    from langchain_lumos.tools.ranking import Ranker
    from langchain_lumos.tools.webshop import ShopEnvironment

__all__ = [
    "WebShopEpisode",
    "WebShopReport",
    "add_webshop_parser",
    "episode_reward",
    "evaluate_webshop",
    "run_webshop",
    "webshop_metrics",
]


@dataclasses.dataclass(frozen=True)
class WebShopEpisode:
    """One scored episode.

    Attributes:
        goal_index: The goal (WebShop session `fixed_<goal_index>`).
        instruction: The shopping instruction.
        reward: The reward in [0, 1] (0 when nothing was bought).
        bought: `buy now` was clicked.
        stop_reason: Why the agent stopped.
    """

    goal_index: int
    instruction: str
    reward: float
    bought: bool
    stop_reason: str = ""

    @property
    def success(self) -> bool:
        """WebShop success: the reward is 1."""
        return self.reward >= 1.0 - 1e-9


@dataclasses.dataclass(frozen=True)
class WebShopReport:
    """WebShop scores.

    Attributes:
        average_reward: Mean reward in [0, 1].
        score: WebShop's score, the average reward times 100.
        success_rate: Share of episodes with reward 1.
        episodes: Every episode.
    """

    average_reward: float
    score: float
    success_rate: float
    episodes: tuple[WebShopEpisode, ...]

    def as_dict(self) -> dict[str, Any]:
        """The scores as a JSON-ready dict (without the episodes)."""
        return {
            "average_reward": self.average_reward,
            "score": self.score,
            "success_rate": self.success_rate,
            "episodes": len(self.episodes),
        }


def webshop_metrics(episodes: Iterable[WebShopEpisode]) -> WebShopReport:
    """Average reward, score (x100) and success rate over episodes (none: all 0)."""
    done = tuple(episodes)
    n = len(done)
    average = sum(e.reward for e in done) / n if n else 0.0
    success = sum(e.success for e in done) / n if n else 0.0
    return WebShopReport(average, 100.0 * average, success, done)


def episode_reward(result: dict[str, Any], env: Any) -> tuple[float, bool]:
    """The reward of a finished run: the shop's, else the value a `Click` returned.

    Returns:
        `(reward, bought)`.
    """
    if getattr(env, "done", False):
        return float(getattr(env, "reward", 0.0)), True
    for observation in reversed(result.get("observations") or []):
        action = str(observation.get("action", ""))
        if observation.get("status") == "success" and "Click(" in action:
            try:
                return float(str(observation.get("output", "")).strip()), True
            except ValueError:
                break
    return 0.0, False


def evaluate_webshop(
    env: ShopEnvironment,
    planner: BaseLanguageModel,
    grounder: BaseLanguageModel,
    *,
    goals: Sequence[int] = tuple(range(500)),
    mode: Literal["iterative", "onetime"] = "iterative",
    ranker: Ranker | None = None,
    **agent_options: Any,
) -> WebShopReport:
    """Run Lumos on WebShop goals and score the episodes.

    Args:
        env: The shop; it must have `reset(goal_index) -> instruction`.
        planner: The planner (the original ran `ai2lumos/lumos_unified_plan_iterative`).
        grounder: The grounder (`ai2lumos/lumos_unified_ground_iterative`).
        goals: The goal indices (WebShop's test goals are 0-499).
        mode: `iterative` (the original) or `onetime`.
        ranker: Ranker of `FeatureRetrieve` and `Pick` (default BM25; the original used
            the `cross-encoder/stsb-roberta-large` cross-encoder).
        **agent_options: More `create_lumos_agent` arguments (e.g. `max_regrounds`).

    Returns:
        The `WebShopReport`.

    Raises:
        TypeError: The shop has no `reset(goal_index)`.
    """
    from langchain_lumos.agent import create_lumos_agent
    from langchain_lumos.tools.webshop import webshop_tools

    reset = getattr(env, "reset", None)
    if not callable(reset):
        msg = f"{type(env).__name__} has no reset(goal_index); WebShop episodes need one."
        raise TypeError(msg)
    domain = get_domain("webshop")
    agent = create_lumos_agent(
        planner, grounder, webshop_tools(env, ranker=ranker), mode=mode, domain=domain, **agent_options
    )
    episodes = []
    for goal in goals:
        instruction = str(reset(goal))
        result = agent.invoke(instruction)  # tool failures are observations; others fail fast
        reward, bought = episode_reward(result, env)
        episodes.append(WebShopEpisode(goal, instruction, reward, bought, str(result.get("stop_reason", ""))))
    return webshop_metrics(episodes)


def add_webshop_parser(subparsers: Any, name: str = "eval-webshop") -> argparse.ArgumentParser:
    """Add the WebShop evaluation subcommand to an `argparse` subparsers object."""
    from langchain_lumos.presets import MODEL_SPEC_HELP

    p = subparsers.add_parser(
        name,
        help="evaluate Lumos on a running WebShop server (average reward, score, success rate)",
        description="Run Lumos episodes on the goals of a running WebShop server (sessions fixed_<i>) "
        "with the original's 2-shot prompts, and report WebShop's score and success rate.",
    )
    p.add_argument("--server", default="http://127.0.0.1:3000", help="the WebShop server URL")
    p.add_argument("--model", required=True, help=f"model spec: {MODEL_SPEC_HELP}")
    p.add_argument("--start", type=int, default=0, help="first goal index")
    p.add_argument("--num", type=int, default=500, help="number of goals (WebShop's test goals: 0-499)")
    p.add_argument("--mode", default="iterative", choices=["iterative", "onetime"])
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request")
    p.add_argument("--output", default=None, help="write the scores and episodes to this JSON file")
    p.set_defaults(func=run_webshop)
    return p


def run_webshop(args: argparse.Namespace) -> int:
    """Run the WebShop evaluation subcommand; returns the exit status."""
    from langchain_lumos.presets import resolve_models
    from langchain_lumos.tools.webshop_server import WebShopServerEnvironment

    options = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}
    try:
        env = WebShopServerEnvironment(args.server, timeout=args.timeout)
        models = resolve_models(args.model, domain="webshop", mode=args.mode, **options)
        report = evaluate_webshop(
            env,
            models.planner,
            models.grounder,
            goals=range(args.start, args.start + args.num),
            mode=args.mode,
        )
    except (ValueError, OSError, ImportError) as exc:
        print(f"lumos: error: {exc}", file=sys.stderr)
        return 2
    scores = report.as_dict()
    print(json.dumps(scores, indent=1))
    if args.output:
        scores["episodes"] = [{**dataclasses.asdict(e), "success": e.success} for e in report.episodes]
        Path(args.output).write_text(json.dumps(scores, indent=1), encoding="utf-8")
    return 0
