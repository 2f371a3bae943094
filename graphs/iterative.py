"""Lumos-I (iterative): plan one subgoal, ground it, execute it, and plan again.

Models and tools come from the run context (`GraphContext`): see `graphs/_shared.py`.
"""

from __future__ import annotations

from graphs._shared import GraphContext, build_graph

__all__ = ["GraphContext", "graph"]

graph = build_graph("iterative", name="lumos_iterative")
