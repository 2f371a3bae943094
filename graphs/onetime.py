"""Lumos-O (one-time): plan every subgoal, ground them all, execute, answer.

Models and tools come from the run context (`GraphContext`): see `graphs/_shared.py`.
"""

from __future__ import annotations

from graphs._shared import GraphContext, build_graph

__all__ = ["GraphContext", "graph"]

graph = build_graph("onetime", name="lumos_onetime")
