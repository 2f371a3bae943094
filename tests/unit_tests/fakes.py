"""Tiny real tools for tests (scripted models: `langchain_lumos.testing`)."""

from __future__ import annotations

import ast
import operator
from collections.abc import Sequence
from typing import Any

from langchain_core.tools import BaseTool, tool

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Gt: operator.gt,
    ast.Lt: operator.lt,
}


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _OPS:
        return _OPS[type(node.ops[0])](_eval(node.left), _eval(node.comparators[0]))
    raise ValueError("unsupported expression")


@tool("Calculator")
def calculator(formula: str) -> str:
    """Calculate the input formula."""
    value = _eval(ast.parse(formula.replace("^", "**"), mode="eval"))
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


DOCS = {
    "Titanic (1997 film)": "Titanic is a 1997 film directed by James Cameron. It won Best Picture.",
    "James Cameron": "James Cameron is a Canadian filmmaker born in 1954 in Kapuskasing.",
    "Kapuskasing": "Kapuskasing is a town in Ontario with about 8,000 people.",
}


@tool("KnowledgeQuery")
def knowledge_query(query: str) -> list[str]:
    """Capture the relevant webpages according to the query."""
    words = set(query.lower().split())
    hits = [t for t in DOCS if words & set(t.lower().replace("(", " ").split())]
    return [f"{t} *** {s.strip()}." for t in hits for s in DOCS[t].split(".") if s.strip()]


@tool("ParagraphRetrieve")
def paragraph_retrieve(context: list[str] | str, query: str) -> str:
    """Given a query, retrieve the most relevant paragraphs from the given context."""
    items = context if isinstance(context, list) else [context]
    words = set(query.lower().split())
    ranked = sorted(items, key=lambda p: -len(words & set(p.lower().split())))
    return "\n".join(f"Evidence {i + 1}: {p.split('***')[-1].strip()}" for i, p in enumerate(ranked[:5]))


@tool("QA")
def qa(context: list[str] | str, question: str) -> str:
    """Given context, answer the given query."""
    text = " ".join(context) if isinstance(context, list) else context
    found = [
        c
        for c in ("James Cameron", "Kapuskasing", "Titanic")
        if c in text and c.split()[0].lower() not in question.lower()
    ]
    answer = max(found, key=text.rfind) if found else "No answer"  # the last one mentioned
    return f"Question: {question}; Answer: {answer}"


QA_TOOLS: Sequence[BaseTool] = (knowledge_query, paragraph_retrieve, qa, calculator)
