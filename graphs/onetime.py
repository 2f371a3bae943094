"""Lumos-O (one-time), served by `langgraph.json`: plan every subgoal, ground them all, execute.

The graph lives in the package (`langchain_lumos.serve`); settings are described there.
"""

from langchain_lumos.serve import build_graph

graph = build_graph("onetime", name="lumos_onetime")
