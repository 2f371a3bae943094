"""Trace the plan / ground / execute modules to LangSmith, or print the module tree.

With `LANGSMITH_API_KEY` set, runs go to LangSmith (`LANGSMITH_TRACING=true`, project from
`LANGSMITH_PROJECT`); filter them by the tags `lumos:planner`, `lumos:grounder`,
`lumos:executor` or the metadata `lumos_module`, `lumos_subgoal_index`. Without a key, a
callback handler prints the same tree locally. Run: `python cookbook/tracing.py`.
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

from _common import QUESTION, models, tools
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig

from langchain_lumos.agent import create_lumos_agent


class ModuleTree(BaseCallbackHandler):
    """Prints Lumos module runs as a tree: subgoal -> planner / grounder -> tools."""

    def __init__(self) -> None:
        self.subgoal: object = None

    def _show(self, name: str | None, metadata: dict[str, Any] | None) -> None:
        meta = metadata or {}
        module = meta.get("lumos_module")
        if not module:
            return
        index = meta.get("lumos_subgoal_index")
        if index != self.subgoal:
            self.subgoal = index
            print(f"subgoal {index} [{meta.get('lumos_mode')}/{meta.get('lumos_domain')}]")
        if module == "executor":
            print(f"    tool {name} (action {meta.get('lumos_action_id')})")
        else:
            attempt = meta.get("lumos_attempt")
            print(f"  {module} ({name})" + (f" attempt {attempt}" if attempt else ""))

    def on_llm_start(self, serialized: Any, prompts: Any, *, run_id: UUID, **kw: Any) -> None:
        self._show(kw.get("name"), kw.get("metadata"))

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any) -> None:
        self._show(kw.get("name"), kw.get("metadata"))

    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, **kw: Any) -> None:
        self._show(kw.get("name"), kw.get("metadata"))


def main() -> None:
    m = models("iterative")
    agent = create_lumos_agent(m.planner, m.grounder, tools(m), mode="iterative", domain=m.domain)
    config: RunnableConfig = {"tags": ["cookbook"], "metadata": {"example": "tracing"}}
    if os.environ.get("LANGSMITH_API_KEY"):
        os.environ.setdefault("LANGSMITH_TRACING", "true")
        os.environ.setdefault("LANGSMITH_PROJECT", "lumos-cookbook")
        print(f"Tracing to LangSmith project {os.environ['LANGSMITH_PROJECT']!r}")
    else:
        print("No LANGSMITH_API_KEY: printing the module tree locally")
        config["callbacks"] = [ModuleTree()]
    result = agent.invoke(QUESTION, config)
    print("answer:", result["answer"])


if __name__ == "__main__":
    main()
