"""The base of the SymPy-backed maths tools: one text argument, the injected variables.

`CalculatorTool` (`langchain_lumos.tools.calculator`) and the maths actions
(`langchain_lumos.tools.maths`) are `SymbolicTool`s: each names a module-level action
function of the expression engine (`langchain_lumos.tools.expressions`) and runs it in a
killable worker process under a deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from langchain_core.callbacks import CallbackManagerForToolRun
from langchain_core.tools import BaseTool, InjectedToolArg, ToolException
from pydantic import Field

from langchain_lumos.tools.worker import call_with_deadline

__all__ = ["MAX_INPUT_CHARS", "InjectedVariables", "SymbolicTool"]

MAX_INPUT_CHARS = 2000
"""Longest input text a maths tool accepts (checked before any regular expression runs).

Defined here, with the tools' base, so building a toolkit does not import SymPy;
`langchain_lumos.tools.expressions` re-exports it."""

InjectedVariables = Annotated[
    dict[str, Any],
    InjectedToolArg,
    Field(
        default_factory=dict, description="Injected by the executor: the Lumos variable store (R1, R2, ...)."
    ),
]
"""The `variables` field of a maths tool's input: the variable store, hidden from the model."""


class SymbolicTool(BaseTool):
    """Base of the maths tools: one text argument plus the injected variable store.

    A subclass names a module-level action function (`text, variables, *extra -> result`);
    each call runs it in a killable worker process under `timeout_s`
    (`langchain_lumos.tools.worker`), so no model-written input can hang a run.
    """

    handle_tool_error: bool = False
    timeout_s: float | None = 10.0
    """Deadline of one call in seconds; `None` runs the action in the calling thread, unbounded."""

    def _action(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The module-level action function and its extra arguments after `(text, variables)`."""
        raise NotImplementedError

    def _call(self, text: str, variables: Mapping[str, Any] | None) -> Any:
        if len(text) > MAX_INPUT_CHARS:  # refused here, before any work
            msg = f"Input too long ({len(text)} characters; at most {MAX_INPUT_CHARS})."
            raise ToolException(msg)
        func, extra = self._action()
        store = {k: v for k, v in (variables or {}).items() if k in text}  # only what it reads
        what = f"{self.name}({text[:80]}{'...' if len(text) > 80 else ''})"
        try:
            return call_with_deadline(func, text, store, *extra, timeout_s=self.timeout_s, what=what)
        except ValueError as exc:  # Python's int-string limit, hit while printing a huge result
            if "digits" not in str(exc):
                raise
            msg = "Result too large to print."
            raise ToolException(msg) from exc

    @staticmethod
    def _text(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """The action's one text argument (its field name differs per action)."""
        values = [*args, *kwargs.values()]
        if len(values) != 1:
            msg = f"expected one argument, got {len(values)}"
            raise ToolException(msg)
        return str(values[0])

    def _run(
        self,
        *args: Any,
        variables: dict[str, Any] | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
        **kwargs: Any,
    ) -> Any:
        return self._call(self._text(args, kwargs), variables)
