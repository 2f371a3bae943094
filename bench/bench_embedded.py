"""The embedded default on its offline question set, GSM8K and the README's `lumos run`.

One command, one table:

- the offline question set (`langchain_lumos/data/embedded_questions.jsonl`: single-hop and
  two-hop questions whose answers lie in the offline Wikipedia summaries, and HotpotQA dev
  questions the corpus covers): per mode (Lumos-I, Lumos-O), the share of answers that
  contain the gold answer, the mean F1 (`langchain_lumos.evaluation.metrics`) and the parse
  rate of the planner and grounder outputs;
- GSM8K, first 50 questions: accuracy per mode and the share of grounded maths actions
  that call a tool;
- `lumos run` on the README's question, end to end (a fresh process, model load included),
  with the prefill (prompt) and decode (completion) tokens per module from `usage`.

    python bench/bench_embedded.py                 # everything (slow on 2 CPU cores)
    python bench/bench_embedded.py --limit 8       # 8 questions per set, both modes
    python bench/bench_embedded.py --modes onetime --skip-gsm8k --skip-run
    python bench/bench_embedded.py --limit 8 --profile small   # with langchain_lumos.profiles
    python bench/bench_embedded.py --run-only 3    # only `lumos run`, 3 fresh processes

`--profile preset` (default) runs the domain exactly as `resolve_models` gives it, i.e.
what `lumos run` runs; `--profile small` applies `profiles.small_model_profile` on top.

Every failure of a run (a model error, a time-out) is counted as a wrong, unparsed answer
and the benchmark goes on; the figures may be low, the command still prints its table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

README_QUESTION = "Where was Franz Kafka born?"
GSM8K_DEFAULT = 50
MODES = ("iterative", "onetime")
MODULES = ("planner", "grounder", "executor")


def load_questions(limit: int | None) -> list[dict[str, Any]]:
    """The offline question set; `limit` keeps that many, taken in turn from each type."""
    text = (
        resources.files("langchain_lumos.data")
        .joinpath("embedded_questions.jsonl")
        .read_text(encoding="utf-8")
    )
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    if limit is None or limit >= len(rows):
        return rows
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_type[row["type"]].append(row)
    picked: list[dict[str, Any]] = []
    while len(picked) < limit:
        for group in by_type.values():
            if group and len(picked) < limit:
                picked.append(group.pop(0))
    return picked


def _turns(state: dict[str, Any], key: str) -> list[str]:
    return [t["content"] for t in state.get(key) or [] if t.get("role") == "assistant"]


def parse_counts(state: dict[str, Any]) -> tuple[int, int, int, int]:
    """`(planner ok, planner outputs, grounder ok, grounder outputs)` of one run."""
    from langchain_lumos.parsing import parse_actions, parse_plan

    plans = _turns(state, "planner_turns")
    grounds = _turns(state, "grounder_turns")
    plan_ok = sum(parse_plan(text, loose_stop=True).error is None for text in plans)
    ground_ok = 0
    for text in grounds:
        parsed = parse_actions(text)
        ground_ok += bool(parsed.actions) and not parsed.errors
    return plan_ok, len(plans), ground_ok, len(grounds)


def tool_share(state: dict[str, Any], tool_names: set[str]) -> tuple[int, int]:
    """`(actions calling a registered tool, all grounded actions)` of one run."""
    from langchain_lumos.parsing import parse_actions

    calls = total = 0
    for text in _turns(state, "grounder_turns"):
        for action in parse_actions(text).actions:
            total += 1
            calls += action.name in tool_names
    return calls, total


class CapCounter:
    """Counts, per Lumos module, the model calls and those that ran to the decoding cap.

    A callback handler (`finish_reason == "length"` in a generation's info), so a grounder
    output cut by the token cap shows in the table next to its decode tokens.
    """

    def __init__(self) -> None:
        from langchain_core.callbacks import BaseCallbackHandler

        counter = self
        self.calls: dict[str, int] = defaultdict(int)
        self.capped: dict[str, int] = defaultdict(int)
        self.tokens: dict[str, int] = defaultdict(int)
        modules: dict[Any, str] = {}

        class _Handler(BaseCallbackHandler):
            def on_llm_start(self, serialized: Any, prompts: Any, *, run_id: Any, **kwargs: Any) -> None:
                modules[run_id] = str((kwargs.get("metadata") or {}).get("lumos_module") or "tool")

            def on_chat_model_start(
                self, serialized: Any, messages: Any, *, run_id: Any, **kwargs: Any
            ) -> None:
                self.on_llm_start(serialized, messages, run_id=run_id, **kwargs)

            def on_llm_end(self, response: Any, *, run_id: Any, **kwargs: Any) -> None:
                module = modules.pop(run_id, "tool")
                for generation in (g for row in response.generations for g in row):
                    info = generation.generation_info or {}
                    counter.calls[module] += 1
                    counter.capped[module] += info.get("finish_reason") == "length"
                    counter.tokens[module] += int(info.get("completion_tokens") or 0)

        self.handler = _Handler()


def _agent(
    spec: str, domain: str, mode: str, profile: str, max_new_tokens: int | None = None
) -> tuple[Any, dict[str, Any], set[str]]:
    """The agent as `lumos run` builds it; `profile="small"` swaps in `langchain_lumos.profiles` exemplars."""
    from dataclasses import replace

    from langchain_lumos import create_lumos_agent
    from langchain_lumos.presets import preset_tools, resolve_models

    options: dict[str, Any] = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
    models = resolve_models(spec, domain=domain, mode=mode, **options)
    if profile == "small" and models.profile == "small":
        from langchain_lumos.profiles import small_model_profile

        models = replace(models, domain=small_model_profile(models.domain, mode=mode))
    tools, variables = preset_tools(models)
    agent = create_lumos_agent(
        models.planner,
        models.grounder,
        tools,
        mode="onetime" if mode == "onetime" else "iterative",
        domain=models.domain,
    )
    return agent, variables, {t.name for t in tools}


def _invoke(
    agent: Any, task: str, variables: dict[str, Any], time_limit: float, caps: CapCounter | None = None
) -> tuple[dict[str, Any], str]:
    from langchain_lumos import LumosContext

    inputs: dict[str, Any] = {"task": task, **({"variables": dict(variables)} if variables else {})}
    config: dict[str, Any] = {"callbacks": [caps.handler]} if caps is not None else {}
    try:
        state = agent.invoke(inputs, config=config, context=LumosContext(time_limit_s=time_limit))
        return dict(state), ""
    except Exception as exc:  # a run that fails counts as wrong; the benchmark goes on
        return {}, f"{type(exc).__name__}: {exc}"[:200]


def _first_title(obs: dict[str, Any]) -> str:
    """The title of a `KnowledgeQuery` observation's first page (`"Prague *** ..."` -> `Prague`)."""
    return str(obs.get("output", "")).lstrip("[\"' ").split(" *** ", 1)[0]


def second_hop_asked(state: dict[str, Any], bridge: str) -> bool:
    """Whether a run looked the bridge entity up: a later `KnowledgeQuery` names or finds it.

    Counted on the observations: a `KnowledgeQuery` after the first one whose action text
    holds the bridge, or whose first page is the bridge's (`"Prague *** ..."`). The bridge
    comes from the question set and is only read here, never given to the agent.
    """
    from langchain_lumos.evaluation.metrics import normalize_answer

    wanted = normalize_answer(bridge)
    queries = [o for o in state.get("observations") or [] if "KnowledgeQuery(" in o.get("action", "")]
    for obs in queries[1:]:
        if wanted and (
            wanted in normalize_answer(obs["action"]) or wanted == normalize_answer(_first_title(obs))
        ):
            return True
    return False


def evidence_found(state: dict[str, Any], titles: list[str]) -> bool:
    """Whether a run's search found an evidence page: a `KnowledgeQuery` whose first page is one.

    The evidence titles come from the question set and are only read here, never given to
    the agent.
    """
    wanted = {" ".join(t.split()).casefold() for t in titles}
    return any(
        "KnowledgeQuery(" in obs.get("action", "")
        and obs.get("status", "success") == "success"
        and " ".join(_first_title(obs).split()).casefold() in wanted
        for obs in state.get("observations") or []
    )


def bench_questions(
    spec: str,
    mode: str,
    rows: list[dict[str, Any]],
    time_limit: float,
    profile: str = "preset",
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """Gold-contained share, mean F1, parse rates and capped outputs of one mode on the question set."""
    from langchain_lumos.evaluation.metrics import f1_score, normalize_answer

    agent, variables, _ = _agent(spec, "complex_qa", mode, profile, max_new_tokens)
    caps = CapCounter()
    contained = f1 = 0.0
    plan = [0, 0]
    ground = [0, 0]
    hops = [0, 0]
    found = [0, 0]
    by_type: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    errors = 0
    start = time.perf_counter()
    for row in rows:
        state, error = _invoke(agent, row["question"], variables, time_limit, caps)
        errors += bool(error)
        answer = str(state.get("answer") or "")
        gold = normalize_answer(row["answer"])
        hit = bool(gold) and gold in normalize_answer(answer)
        score = f1_score(answer, row["answer"])
        contained += hit
        f1 += score
        group = by_type[row["type"]]
        group[0] += 1
        group[1] += hit
        group[2] += score
        if row.get("evidence_titles"):
            found[1] += 1
            found[0] += evidence_found(state, row["evidence_titles"])
        if row.get("bridge"):
            hops[1] += 1
            hops[0] += second_hop_asked(state, row["bridge"])
        p_ok, p_n, g_ok, g_n = parse_counts(state)
        plan[0] += p_ok
        plan[1] += p_n
        ground[0] += g_ok
        ground[1] += g_n
        print(
            f"  [{mode}] {row['id']}: {answer[:60]!r} (gold {row['answer']!r}){' ' + error if error else ''}"
        )
    n = max(len(rows), 1)
    return {
        "n": len(rows),
        "contained": contained / n,
        "f1": f1 / n,
        "plan_parse": plan[0] / plan[1] if plan[1] else float("nan"),
        "ground_parse": ground[0] / ground[1] if ground[1] else float("nan"),
        "errors": errors,
        "seconds": time.perf_counter() - start,
        "second_hop": (hops[0], hops[1]),
        "evidence_found": (found[0], found[1]),
        "by_type": {k: (int(v[0]), v[1] / v[0], v[2] / v[0]) for k, v in by_type.items()},
        "capped": dict(caps.capped),
        "calls": dict(caps.calls),
        "tokens": dict(caps.tokens),
    }


def bench_gsm8k(
    spec: str,
    mode: str,
    limit: int,
    time_limit: float,
    profile: str = "preset",
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """Accuracy and the share of grounded actions that call a tool, on GSM8K's first questions."""
    from langchain_lumos.evaluation.datasets import load_dataset
    from langchain_lumos.evaluation.metrics import default_metric

    examples = load_dataset("gsm8k", limit=limit)
    metric = default_metric(examples)
    agent, variables, names = _agent(spec, "gsm8k", mode, profile, max_new_tokens)
    caps = CapCounter()
    correct = calls = actions = errors = 0
    start = time.perf_counter()
    for example in examples:
        state, error = _invoke(agent, example.question, variables, time_limit, caps)
        errors += bool(error)
        answer = state.get("answer")
        correct += metric.correct(metric.score(None if answer is None else str(answer), example))
        c, t = tool_share(state, names)
        calls += c
        actions += t
        print(
            f"  [{mode}] {example.id}: {str(answer)[:40]!r} (gold {example.answer!r}){' ' + error if error else ''}"
        )
    return {
        "n": len(examples),
        "accuracy": correct / max(len(examples), 1),
        "tool_share": calls / actions if actions else float("nan"),
        "actions": actions,
        "errors": errors,
        "seconds": time.perf_counter() - start,
        "capped": dict(caps.capped),
        "calls": dict(caps.calls),
        "tokens": dict(caps.tokens),
    }


def _lumos_command() -> list[str]:
    exe = shutil.which("lumos", path=str(Path(sys.executable).parent)) or shutil.which("lumos")
    return [exe] if exe else [sys.executable, "-m", "langchain_lumos.cli"]


def bench_run(spec: str, timeout: float, max_new_tokens: int | None = None) -> dict[str, Any]:
    """`lumos run` on the README's question in a fresh process: wall time and tokens per module."""
    command = [*_lumos_command(), "run", README_QUESTION, "--model", spec, "--json"]
    if max_new_tokens:
        command += ["--max-new-tokens", str(max_new_tokens)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"seconds": time.perf_counter() - start, "error": f"timed out after {timeout:.0f} s"}
    seconds = time.perf_counter() - start
    out = done.stdout
    at = out.find("\n{")
    result: dict[str, Any] = {"seconds": seconds, "returncode": done.returncode}
    if at < 0:
        result["error"] = (done.stderr.strip().splitlines() or ["no JSON in the output"])[-1][:200]
        return result
    try:
        payload = json.loads(out[at + 1 :])
    except json.JSONDecodeError as exc:
        result["error"] = f"unreadable JSON: {exc}"
        return result
    result["answer"] = payload.get("answer")
    result["usage"] = payload.get("usage") or {}
    return result


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{100 * value:.0f}%"  # NaN: nothing to count


def _order(module: str) -> int:
    return MODULES.index(module) if module in MODULES else len(MODULES)


def _print_caps(title: str, results: dict[str, dict[str, Any]]) -> None:
    """Model calls per module, those that ran to the decoding cap, and their decode tokens."""
    print(f"\n| {title}: module calls | mode | calls | ran to the cap | decode tokens | per call |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mode, r in results.items():
        name = "Lumos-I" if mode == "iterative" else "Lumos-O"
        for module in sorted(r.get("calls", {}), key=lambda m: (_order(m), m)):
            calls, tokens = r["calls"][module], r["tokens"].get(module, 0)
            print(
                f"| {module} | {name} | {calls} | {r['capped'].get(module, 0)} | {tokens} "
                f"| {tokens / max(calls, 1):.1f} |"
            )


def print_table(
    qa: dict[str, dict[str, Any]], gsm: dict[str, dict[str, Any]], run: dict[str, Any] | None
) -> None:
    """The benchmark's table (Markdown)."""
    if qa:
        print(
            "\n| offline question set | n | gold contained | F1 | planner parse | grounder parse | errors | s |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for mode, r in qa.items():
            name = "Lumos-I" if mode == "iterative" else "Lumos-O"
            print(
                f"| {name} | {r['n']} | {_pct(r['contained'])} | {r['f1']:.2f} | {_pct(r['plan_parse'])} "
                f"| {_pct(r['ground_parse'])} | {r['errors']} | {r['seconds']:.0f} |"
            )
        print("\n| offline set by type | mode | n | gold contained | F1 |")
        print("| --- | --- | --- | --- | --- |")
        for mode, r in qa.items():
            name = "Lumos-I" if mode == "iterative" else "Lumos-O"
            for kind, (count, hit, score) in r.get("by_type", {}).items():
                print(f"| {kind} | {name} | {count} | {_pct(hit)} | {score:.2f} |")
            hit, searched = r.get("evidence_found", (0, 0))
            if searched:
                print(f"| evidence page found by a search | {name} | {searched} | {_pct(hit / searched)} | |")
            asked, two_hop = r.get("second_hop", (0, 0))
            if two_hop:
                print(f"| two-hop: second hop asked | {name} | {two_hop} | {_pct(asked / two_hop)} | |")
        _print_caps("offline question set", qa)
    if gsm:
        print("\n| GSM8K | n | accuracy | actions calling a tool | actions | errors | s |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for mode, r in gsm.items():
            name = "Lumos-I" if mode == "iterative" else "Lumos-O"
            print(
                f"| {name} | {r['n']} | {_pct(r['accuracy'])} | {_pct(r['tool_share'])} | {r['actions']} "
                f"| {r['errors']} | {r['seconds']:.0f} |"
            )
        _print_caps("GSM8K", gsm)
    if run is not None:
        print(f"\n`lumos run {README_QUESTION!r}`: {run['seconds']:.1f} s end to end", end="")
        if "error" in run:
            print(f" (failed: {run['error']})")
            return
        print(f", answer {run.get('answer')!r}")
        print("\n| module | calls | prefill tokens | decode tokens | s |")
        print("| --- | --- | --- | --- | --- |")
        for module, u in sorted(run["usage"].items(), key=lambda kv: (_order(kv[0]), kv[0])):
            print(
                f"| {module} | {u.get('calls', 0)} | {u.get('prompt_tokens', 0)} | {u.get('completion_tokens', 0)} "
                f"| {u.get('seconds', 0.0):.1f} |"
            )


def _modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        msg = f"--modes takes iterative and/or onetime, comma-separated; got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return modes


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=None, help="questions per set (default: all; GSM8K 50)")
    parser.add_argument("--modes", type=_modes, default=list(MODES), help="iterative,onetime (default: both)")
    parser.add_argument("--skip-gsm8k", action="store_true", help="skip the GSM8K part")
    parser.add_argument(
        "--gsm8k-limit", type=int, default=None, help="GSM8K questions (default: 50, or --limit if smaller)"
    )
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="decoding cap per module call (default: the preset's)",
    )
    parser.add_argument("--skip-run", action="store_true", help="skip the `lumos run` timing")
    parser.add_argument(
        "--run-only",
        type=int,
        default=0,
        metavar="N",
        help="only the `lumos run` timing, N times in fresh processes (no question sets)",
    )
    parser.add_argument(
        "--model", default="smollm2", help="model spec (default: smollm2, the embedded default)"
    )
    parser.add_argument(
        "--profile",
        choices=["preset", "small"],
        default="preset",
        help="preset: the domain as resolve_models gives it (default); small: with langchain_lumos.profiles exemplars",
    )
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per question (default 120)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(
        f"# bench_embedded: model {args.model}, profile {args.profile}, modes {','.join(args.modes)}, "
        f"limit {args.limit}"
    )
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    if args.run_only:
        timeout = max(args.time_limit, 60.0) * 3
        for _ in range(args.run_only):
            print_table({}, {}, bench_run(args.model, timeout=timeout, max_new_tokens=args.max_new_tokens))
        print(f"# load average at the end {os.getloadavg()}")
        return 0
    rows = load_questions(args.limit)
    qa = {
        mode: bench_questions(args.model, mode, rows, args.time_limit, args.profile, args.max_new_tokens)
        for mode in args.modes
    }
    gsm: dict[str, dict[str, Any]] = {}
    if not args.skip_gsm8k:
        n = args.gsm8k_limit or (GSM8K_DEFAULT if args.limit is None else min(args.limit, GSM8K_DEFAULT))
        gsm = {
            mode: bench_gsm8k(args.model, mode, n, args.time_limit, args.profile, args.max_new_tokens)
            for mode in args.modes
        }
    run = (
        None
        if args.skip_run
        else bench_run(args.model, timeout=max(args.time_limit, 60.0) * 3, max_new_tokens=args.max_new_tokens)
    )
    print_table(qa, gsm, run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
