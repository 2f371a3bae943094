"""Lumos-I (iterative), served by `langgraph.json`: plan a subgoal, ground it, execute, plan again.

The graph lives in the package (`langchain_lumos.serve`); settings are described there.
"""

from langchain_lumos.serve import build_graph

graph = build_graph("iterative", name="lumos_iterative")
