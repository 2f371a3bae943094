"""Lumos against LangChain's `create_agent`: same fake models, same tools, interleaved.

Both agents get instant (or fixed-latency) fake models and the same instant tool, so what is
measured is the framework: graph steps, state writes, callbacks. The peer's fake chat model
binds its tools as LangChain's own `create_agent` test model does (`bind_tools` returns a
`RunnableBinding` with a name-only spec: the layer every tool-calling model adds, without a
real model's schema conversion); a row also times it on a fake whose `bind_tools` returns
the model itself, the peer's lower bound. Lumos's text grounding binds no tools. Three figures:

1. Async time and CPU per question, Lumos on text LLMs (`FakeListLLM`) and on chat models
   (`ScriptChatModel`, natively async like the peer's fake: the model class `create_agent`
   takes; langchain-core's text-LLM call path inspects the model's signature twice per
   call, the chat path once). Lumos-O
   answers with 2 model calls and 4 tool calls;
   `create_agent` does the same (one model call with 4 parallel tool calls, then the answer).
   Lumos-I answers with 5 model calls and 2 tool calls (plan, ground, plan, ground, stop);
   `create_agent` cannot make that exact mix (it stops at the first reply without tool calls),
   so its time for 5 model and 2 tool calls is fitted from runs of 1-4 sequential tool rounds
   (least squares, time = a + b * model calls + c * tool calls).
2. `abatch` of 100 questions, 2 x `--latency` model calls each, at concurrency 4, 8 and 20:
   the fraction of the ideal wall time, ceil(100 / C) * 2 * latency, for both (Lumos-O
   with one action against `create_agent` with one tool call; the best of 3 interleaved
   runs of each). Lumos runs twice: on text LLMs (`SleepLLM`, the raw-prompt protocol of the
   released checkpoints) and on chat models (`SleepChatModel`, the model class
   `create_agent` takes), so the comparison on the same model class is there too.
3. The ratio of each Lumos figure to the peer's (time: <= 1.0 is the goal).

    python bench/bench_peers.py [--runs 200] [--latency 0.05] [--questions 100]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ScriptChatModel, SleepChatModel, SleepLLM, echo_tool
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, FakeListLLM
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable

from langchain_lumos.agent import create_lumos_agent


class ToolRoundsChatModel(BaseChatModel):
    """A fake chat model for `create_agent`: `rounds` rounds of `width` tool calls, then an answer.

    The reply depends only on how many tool rounds the conversation already holds, so one
    instance serves concurrent questions.
    """

    rounds: int = 1
    width: int = 1
    delay_s: float = 0.0
    binds: bool = True
    """Whether `bind_tools` binds (as every tool-calling model does) or returns the model itself."""

    @property
    def _llm_type(self) -> str:
        return "tool-rounds-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:  # type: ignore[override]
        """Bind the tools as LangChain's own `create_agent` test model does: a name-only spec.

        Every tool-calling chat model returns a `RunnableBinding` here (real ones also convert
        each tool's schema, which this skips), so the peer pays what it pays with any model.
        """
        if not self.binds:
            return self
        specs = [{"type": "function", "function": {"name": tool.name}} for tool in tools]
        return self.bind(tools=specs, **kwargs)

    def _reply(self, messages: list[BaseMessage]) -> ChatResult:
        done = sum(1 for m in messages if isinstance(m, AIMessage) and m.tool_calls)
        if done < self.rounds:
            calls = [
                {
                    "name": "Echo",
                    "args": {"query": f"q{done}-{i}"},
                    "id": f"call-{done}-{i}",
                    "type": "tool_call",
                }
                for i in range(self.width)
            ]
            message = AIMessage("", tool_calls=calls)
        else:
            last = next(m for m in reversed(messages) if isinstance(m, ToolMessage))
            message = AIMessage(str(last.content))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._reply(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._reply(messages)


def peer(
    rounds: int, width: int, delay_s: float = 0.0, *, lumos_state: bool = False, binds: bool = True
) -> Any:
    """`create_agent`; with `lumos_state`, its state gets as many more fields as Lumos's has.

    `binds=False` gives it a model whose `bind_tools` returns the model itself: no
    `RunnableBinding` layer, which no tool-calling model spares it (the peer's lower bound).
    """
    from langchain.agents import create_agent

    model = ToolRoundsChatModel(rounds=rounds, width=width, delay_s=delay_s, binds=binds)
    if not lumos_state:
        return create_agent(model, [echo_tool()])
    return create_agent(model, [echo_tool()], state_schema=_lumos_sized_state())


def _lumos_sized_state() -> Any:
    """`AgentState` plus fields until it has Lumos's state fields: as many with a reducer, as many without.

    LangGraph's work per step grows with the number of channels; this peer isolates that
    cost from the rest of the framework comparison.
    """
    import operator
    import typing

    from langchain.agents import AgentState

    from langchain_lumos.state import LumosState

    def with_reducer(hint: Any) -> bool:
        return typing.get_origin(hint) is typing.Annotated and not isinstance(hint.__metadata__[-1], type)

    ours = {
        k: h
        for k, h in typing.get_type_hints(LumosState, include_extras=True).items()
        if k != "remaining_steps"
    }
    theirs = typing.get_type_hints(AgentState, include_extras=True)
    reduced = sum(map(with_reducer, ours.values())) - sum(map(with_reducer, theirs.values()))
    plain = len(ours) - len(theirs) - reduced
    fields: dict[str, Any] = {f"extra_{i}": typing.NotRequired[str] for i in range(plain)}
    fields.update({f"extra_list_{i}": typing.Annotated[list, operator.add] for i in range(reduced)})
    return typing.TypedDict("LumosSizedState", {**theirs, **fields}, total=False)  # type: ignore[operator]


def lumos(mode: str, delay_s: float = 0.0, *, chat: bool = False) -> Any:
    if mode == "onetime":
        plan = "Subgoal 1: Echo a; Subgoal 2: Echo b."
        ground = "R1 = Echo(a); R2 = Echo(b); R3 = Echo(c); R4 = Echo(d)"
        if delay_s:
            sleeper: Any = SleepChatModel if chat else SleepLLM
            return create_lumos_agent(
                sleeper(response=plan, delay_s=delay_s),
                sleeper(response="R1 = Echo(done)", delay_s=delay_s),
                [echo_tool()],
                mode="onetime",
                domain="maths",
            )
        fake: Any = ScriptChatModel if chat else FakeListLLM
        return create_lumos_agent(
            fake(responses=[plan]),
            fake(responses=[ground]),
            [echo_tool()],
            mode="onetime",
            domain="maths",
        )
    fake = ScriptChatModel if chat else FakeListLLM
    planner = fake(
        responses=[
            "Subgoal 1: Echo a.",
            "No, I will keep planning. Subgoal 2: Echo b.",
            "Yes, I will stop planning.",
        ]
    )
    grounder = fake(responses=["R1 = Echo(a)", "R2 = Echo(R1)"])
    return create_lumos_agent(planner, grounder, [echo_tool()], mode="iterative", domain="maths")


def peer_input(i: int) -> dict[str, Any]:
    return {"messages": [("user", f"question {i}")]}


async def _time_one(agent: Any, make_input: Any, runs: int) -> tuple[float, float]:
    """Mean wall and CPU seconds per question over `runs` sequential async questions."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(runs):
        await agent.ainvoke(make_input(i))
    return (time.perf_counter() - wall0) / runs, (time.process_time() - cpu0) / runs


async def per_question(runs: int, repeats: int = 5) -> dict[str, dict[str, float]]:
    """Interleave Lumos and peer runs `repeats` times; keep the best mean of each."""
    agents: dict[str, tuple[Any, Any]] = {
        "lumos-onetime": (lumos("onetime"), lambda i: f"question {i}"),
        "lumos-iterative": (lumos("iterative"), lambda i: f"question {i}"),
        "lumos-onetime chat": (lumos("onetime", chat=True), lambda i: f"question {i}"),
        "lumos-iterative chat": (lumos("iterative", chat=True), lambda i: f"question {i}"),
        "peer 1x4": (peer(1, 4), peer_input),  # 2 model calls, 4 tool calls
        "peer 1x4 lumos-sized": (peer(1, 4, lumos_state=True), peer_input),
        "peer 1x4 unbound": (peer(1, 4, binds=False), peer_input),
    }
    for k in range(1, 5):  # k sequential tool rounds: k + 1 model calls, k tool calls
        agents[f"peer {k}x1"] = (peer(k, 1), peer_input)
    best: dict[str, dict[str, float]] = {}
    for agent, make_input in agents.values():  # warm up
        await _time_one(agent, make_input, 5)
    for _ in range(repeats):
        for name, (agent, make_input) in agents.items():
            wall, cpu = await _time_one(agent, make_input, runs)
            if name not in best or wall < best[name]["wall"]:
                best[name] = {"wall": wall, "cpu": cpu}
    return best


def fit_peer(best: dict[str, dict[str, float]], model_calls: int, tool_calls: int) -> float:
    """Least-squares a + b * model calls + c * tool calls over the peer runs; predict."""
    rows = [(2, 4, best["peer 1x4"]["wall"])] + [(k + 1, k, best[f"peer {k}x1"]["wall"]) for k in range(1, 5)]
    # Normal equations of a 3-parameter linear fit, solved by Cramer's rule.
    xs = [(1.0, float(m), float(t)) for m, t, _ in rows]
    ata = [[sum(x[i] * x[j] for x in xs) for j in range(3)] for i in range(3)]
    aty = [sum(x[i] * y for x, (_, _, y) in zip(xs, rows, strict=True)) for i in range(3)]

    def det(m: list[list[float]]) -> float:
        return (
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        )

    d = det(ata)
    coef = []
    for i in range(3):
        m = [row[:] for row in ata]
        for r in range(3):
            m[r][i] = aty[r]
        coef.append(det(m) / d)
    return coef[0] + coef[1] * model_calls + coef[2] * tool_calls


async def batch_fraction(
    agent: Any, make_input: Any, questions: int, concurrency: int, latency: float
) -> float:
    ideal = math.ceil(questions / concurrency) * 2 * latency
    start = time.perf_counter()
    await agent.abatch([make_input(i) for i in range(questions)], {"max_concurrency": concurrency})
    return ideal / (time.perf_counter() - start)


async def batches(
    questions: int, latency: float, levels: Sequence[int], repeats: int = 3
) -> list[tuple[int, float, float, float]]:
    """Per concurrency level: Lumos-O on LLMs, Lumos-O on chat models, `create_agent` (fractions of ideal)."""
    ours = lumos("onetime", delay_s=latency)
    ours_chat = lumos("onetime", delay_s=latency, chat=True)
    theirs = peer(1, 1, delay_s=latency)
    for agent in (ours, ours_chat):  # warm up
        await batch_fraction(agent, str, 10, 10, latency)
    await batch_fraction(theirs, peer_input, 10, 10, latency)
    out = []
    for c in levels:
        a, a_chat, b = 0.0, 0.0, 0.0
        for _ in range(repeats):  # interleaved, best of each: load changes hit all alike
            a = max(a, await batch_fraction(ours, lambda i: f"question {i}", questions, c, latency))
            a_chat = max(
                a_chat, await batch_fraction(ours_chat, lambda i: f"question {i}", questions, c, latency)
            )
            b = max(b, await batch_fraction(theirs, peer_input, questions, c, latency))
        out.append((c, a, a_chat, b))
    return out


def main(runs: int = 200, latency: float = 0.05, questions: int = 100) -> list[dict[str, object]]:
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    best = asyncio.run(per_question(runs))
    fitted = fit_peer(best, 5, 2)
    rows: list[dict[str, object]] = []
    print("\n| question | Lumos ms | Lumos CPU ms | create_agent ms | create_agent CPU ms | ratio (time) |")
    print("| --- | --- | --- | --- | --- | --- |")
    one, it, p14 = best["lumos-onetime"], best["lumos-iterative"], best["peer 1x4"]
    ratio_o = one["wall"] / p14["wall"]
    ratio_i = it["wall"] / fitted
    print(
        f"| one-time, 2 model + 4 tool calls | {1000 * one['wall']:.2f} | {1000 * one['cpu']:.2f} | "
        f"{1000 * p14['wall']:.2f} | {1000 * p14['cpu']:.2f} | {ratio_o:.2f} |"
    )
    print(
        f"| iterative, 5 model + 2 tool calls | {1000 * it['wall']:.2f} | {1000 * it['cpu']:.2f} | "
        f"{1000 * fitted:.2f} (fitted) | - | {ratio_i:.2f} |"
    )
    one_c, it_c = best["lumos-onetime chat"], best["lumos-iterative chat"]
    ratio_oc, ratio_ic = one_c["wall"] / p14["wall"], it_c["wall"] / fitted
    print(
        f"| one-time, chat models (create_agent's model class) | {1000 * one_c['wall']:.2f} | "
        f"{1000 * one_c['cpu']:.2f} | {1000 * p14['wall']:.2f} | {1000 * p14['cpu']:.2f} | {ratio_oc:.2f} |"
    )
    print(
        f"| iterative, chat models | {1000 * it_c['wall']:.2f} | {1000 * it_c['cpu']:.2f} | "
        f"{1000 * fitted:.2f} (fitted) | - | {ratio_ic:.2f} |"
    )
    # One-time against two variants of the peer: reported, not goals.
    variants = (
        ("a create_agent with as many state fields as Lumos", best["peer 1x4 lumos-sized"]),
        ("create_agent on a model whose bind_tools binds nothing", best["peer 1x4 unbound"]),
    )
    for label, theirs in variants:
        print(
            f"| one-time, vs {label} | {1000 * one['wall']:.2f} | {1000 * one['cpu']:.2f} | "
            f"{1000 * theirs['wall']:.2f} | {1000 * theirs['cpu']:.2f} | {one['wall'] / theirs['wall']:.2f} |"
        )
    rows.append(
        {
            "bench": "peers: one-time time / create_agent",
            "value": f"{ratio_o:.2f}",
            "goal": "<= 1.0",
            "pass": ratio_o <= 1.0,
        }
    )
    rows.append(
        {
            "bench": "peers: iterative time / create_agent (fitted)",
            "value": f"{ratio_i:.2f}",
            "goal": "<= 1.0",
            "pass": ratio_i <= 1.0,
        }
    )
    for label, ratio in (("one-time", ratio_oc), ("iterative", ratio_ic)):
        rows.append(
            {
                "bench": f"peers: {label} time / create_agent, Lumos on chat models",
                "value": f"{ratio:.2f}",
                "goal": "<= 1.0",
                "pass": ratio <= 1.0,
            }
        )
    for label, theirs in variants:
        rows.append(
            {
                "bench": f"peers: one-time time / {label}",
                "value": f"{one['wall'] / theirs['wall']:.2f}",
                "goal": "report",
                "pass": None,
            }
        )
    print(
        f"\n| abatch {questions} questions, 2 x {1000 * latency:.0f} ms calls, fraction of ideal "
        "| Lumos-O, text LLMs | Lumos-O, chat models | create_agent (chat model) | ratio, LLMs | ratio, chat models |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for c, a, a_chat, b in asyncio.run(batches(questions, latency, (4, 8, 20))):
        print(f"| concurrency {c} | {a:.2f} | {a_chat:.2f} | {b:.2f} | {a / b:.2f} | {a_chat / b:.2f} |")
        for label, ours in (("text LLMs", a), ("chat models", a_chat)):
            rows.append(
                {
                    "bench": f"peers: abatch fraction of ideal, concurrency {c}, Lumos on {label}",
                    "value": f"{ours:.2f} vs {b:.2f}",
                    "goal": ">= create_agent",
                    "pass": ours >= b,
                }
            )
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()
    main(args.runs, args.latency, args.questions)
