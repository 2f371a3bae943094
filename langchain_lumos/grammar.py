"""Grammars of the Lumos formats, for constrained decoding.

`grounding_grammar` writes an EBNF grammar whose sentences are exactly the well-formed
grounding lines over the registered actions (`R1 = KnowledgeQuery(...); R2 = QA([R1], ...)`,
variables numbered on from the ones already defined, balanced parentheses).
`planning_grammar` does the same for planner lines (`Subgoal k: ...`, the keep/stop
phrases, one-time `; `-joined lists). Every grammar ends with the newline the Lumos
modules stop at.

The grammars are in the EBNF dialect of [xgrammar](https://github.com/mlc-ai/xgrammar), the
structured-generation engine used here: it is maintained, runs on the CPU, ships a Hugging
Face logits processor, and vLLM and SGLang accept the same grammars through their
structured-output APIs (`vllm_grammar_fields`), so a released checkpoint served by vLLM can
be constrained with the very same text. `GrammarLogitsProcessor` applies a grammar to local
`transformers` generation (one matcher per batch row).

Constrained decoding never changes an output the grammar already accepts: at each step it
only masks tokens that cannot continue a well-formed line, so a greedy path that stays
well-formed is kept token for token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

__all__ = [
    "GrammarLogitsProcessor",
    "compile_grammar",
    "grounding_grammar",
    "planning_grammar",
    "vllm_grammar_fields",
]

_ACTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _args_rule(max_chars: int | None) -> str:
    """Argument text: anything but newlines and parentheses, or a balanced group."""
    repeat = "*" if max_chars is None else f"{{0,{max_chars}}}"
    return f'args ::= ([^()\\n] | "(" args ")"){repeat}\n'


def _literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def grounding_grammar(
    actions: Sequence[str],
    *,
    first_variable: int = 1,
    max_actions: int = 8,
    multi_output: Sequence[str] = (),
    forced_prefix: str = "",
    max_argument_chars: int | None = None,
    end: str = "\n",
) -> str:
    """The grammar of one grounding line over `actions`.

    Args:
        actions: The action names the grounder may call (the registered tools).
        first_variable: The number of the first new variable (`R{first_variable}`): one past
            the variables earlier groundings defined.
        max_actions: The most actions one line may hold.
        multi_output: Actions that may assign two variables (`R1, R2 = SolveEquation(...)`).
        forced_prefix: Text the prompt already ends with (for example `"R1 = "`): the
            grammar starts after it.
        max_argument_chars: Bound the characters (and groups) of each level of an
            action's arguments, so a small model cannot run an argument to the token cap.
            None: unbounded.
        end: What closes the line (the newline the grounder stops at).

    Returns:
        An xgrammar EBNF grammar with rule `root`.

    Raises:
        ValueError: No actions, an action name that is not an identifier, or bad bounds.
    """
    if not actions:
        msg = "A grounding grammar needs at least one action name."
        raise ValueError(msg)
    bad = [a for a in actions if not _ACTION_NAME.match(a)]
    if bad:
        msg = f"Action names must be identifiers, got {bad}."
        raise ValueError(msg)
    if first_variable < 1 or max_actions < 1:
        msg = f"first_variable and max_actions must be >= 1, got {first_variable} and {max_actions}."
        raise ValueError(msg)
    unknown = sorted(set(multi_output) - set(actions))
    if unknown:
        msg = f"multi_output names actions that are not registered: {unknown}."
        raise ValueError(msg)
    single = " | ".join(_literal(a) for a in sorted(set(actions)))
    lines = [f'call ::= ({single}) "(" args ")"\n']
    if multi_output:
        multi = " | ".join(_literal(a) for a in sorted(set(multi_output)))
        lines.append(f'mcall ::= ({multi}) "(" args ")"\n')
    last = first_variable + max_actions  # variables past this are not reachable
    for i in range(first_variable, last):
        steps_left = last - i - 1
        options = [f'"R{i} = " call' + (f' ("; " a{i + 1})?' if steps_left > 0 else "")]
        if multi_output and i + 1 < last:
            nxt = f' ("; " a{i + 2})?' if i + 2 < last else ""
            options.append(f'"R{i}, R{i + 1} = " mcall{nxt}')
        lines.append(f"a{i} ::= " + " | ".join(f"({o})" for o in options) + "\n")
    first = f"a{first_variable}"
    root = f"root ::= {first} {_literal(end)}\n"
    prefix = forced_prefix
    if prefix:
        head = f"R{first_variable} = "
        if prefix != head:
            msg = f"forced_prefix must be {head!r} for the first new variable, got {prefix!r}."
            raise ValueError(msg)
        # After the forced `R{n} = `, only a single-output call may follow.
        rest = f' ("; " a{first_variable + 1})?' if max_actions > 1 else ""
        root = f"root ::= call{rest} {_literal(end)}\n"
    return root + "".join(lines) + _args_rule(max_argument_chars)


def planning_grammar(
    *,
    mode: Literal["iterative", "onetime"],
    next_index: int = 1,
    max_subgoals: int = 8,
    max_subgoal_chars: int | None = None,
    end: str = "\n",
) -> str:
    """The grammar of one planner line.

    Iterative mode: the first turn is `Subgoal 1: ...`; later turns are
    `No, I will keep planning. Subgoal k: ...` or `Yes, I will stop planning.`.
    One-time mode: `Subgoal 1: ...; Subgoal 2: ...` up to `max_subgoals`.

    Args:
        mode: `iterative` or `onetime`.
        next_index: The number of the next subgoal (1 on the first turn).
        max_subgoals: The most subgoals a one-time plan may hold.
        max_subgoal_chars: Bound each subgoal's length (None: unbounded).
        end: What closes the line.

    Returns:
        An xgrammar EBNF grammar with rule `root`.
    """
    if next_index < 1 or max_subgoals < 1:
        msg = f"next_index and max_subgoals must be >= 1, got {next_index} and {max_subgoals}."
        raise ValueError(msg)
    close = _literal(end)
    repeat = "+" if max_subgoal_chars is None else f"{{1,{max_subgoal_chars}}}"
    text_rule = f"text ::= [^\\n]{repeat}\n"
    item_rule = f"item ::= [^\\n;]{repeat}\n"
    if mode == "onetime":
        items = [f'"Subgoal {k}: " item' for k in range(1, max_subgoals + 1)]
        chain = items[-1]
        for item in reversed(items[:-1]):
            chain = f'{item} ("; " {chain})?'
        return f"root ::= {chain} {close}\n" + item_rule
    if mode != "iterative":
        msg = f"mode must be 'iterative' or 'onetime', got {mode!r}."
        raise ValueError(msg)
    subgoal = f'"Subgoal {next_index}: " text'
    if next_index == 1:
        return f"root ::= {subgoal} {close}\n" + text_rule
    return (
        f'root ::= ("No, I will keep planning. " {subgoal} | "Yes, I will stop planning.") {close}\n'
        + text_rule
    )


def vllm_grammar_fields(grammar: str) -> dict[str, Any]:
    """Request fields that constrain a vLLM completion to `grammar`.

    vLLM's OpenAI-compatible server takes the grammar as `structured_outputs.grammar`
    (and, in releases before 0.10, as `guided_grammar`); its xgrammar backend reads this
    EBNF dialect.
    """
    return {"structured_outputs": {"grammar": grammar}, "guided_grammar": grammar}


_COMPILERS: dict[tuple[int, int], Any] = {}


def compile_grammar(grammar: str, tokenizer: Any, *, vocab_size: int | None = None) -> Any:
    """Compile `grammar` for a Hugging Face tokenizer (cached per grammar and tokenizer).

    Args:
        grammar: An xgrammar EBNF grammar.
        tokenizer: A `transformers` tokenizer.
        vocab_size: The model's vocabulary size when larger than the tokenizer's (padding).

    Returns:
        An `xgrammar.CompiledGrammar`.

    Raises:
        ImportError: xgrammar is not installed (`pip install xgrammar`).
    """
    try:
        import xgrammar as xgr
    except ImportError as exc:  # pragma: no cover - the dependency is declared
        msg = "Constrained decoding needs xgrammar: pip install xgrammar"
        raise ImportError(msg) from exc
    key = (id(tokenizer), vocab_size or 0)
    compiler = _COMPILERS.get(key)
    if compiler is None:  # one compiler per tokenizer; it caches what it compiled
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        compiler = _COMPILERS[key] = xgr.GrammarCompiler(info, cache_enabled=True)
    return compiler.compile_grammar(grammar)


class GrammarLogitsProcessor:
    """A `transformers` logits processor that keeps every row inside its grammar.

    One matcher per batch row; rows may have different grammars. A row whose grammar is
    complete (the closing newline accepted) gets only its stop tokens. Use a new instance
    for each `generate` call.

    Args:
        grammars: One compiled grammar per batch row (or one for all rows).
        prompt_length: The number of prompt tokens per row (the left-padded input width):
            tokens after it are the generated ones the matchers must accept.
    """

    def __init__(self, grammars: Sequence[Any] | Any, prompt_length: int) -> None:
        self._grammars: list[Any] = list(grammars) if isinstance(grammars, (list, tuple)) else [grammars]
        self._prompt_length = prompt_length
        self._matchers: list[Any] = []
        self._bitmask: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """Accept each row's last token, then mask the tokens its grammar forbids."""
        import xgrammar as xgr

        batch = input_ids.shape[0]
        if not self._matchers:
            grammars = self._grammars * batch if len(self._grammars) == 1 else self._grammars
            if len(grammars) != batch:
                msg = f"{len(grammars)} grammars for a batch of {batch} rows."
                raise ValueError(msg)
            self._matchers = [xgr.GrammarMatcher(g) for g in grammars]
            self._bitmask = xgr.allocate_token_bitmask(batch, grammars[0].tokenizer_info.vocab_size)
        elif input_ids.shape[1] > self._prompt_length:
            for row, matcher in enumerate(self._matchers):
                if not matcher.is_terminated():
                    matcher.accept_token(int(input_ids[row, -1]))
        for row, matcher in enumerate(self._matchers):
            if not matcher.is_terminated():
                matcher.fill_next_token_bitmask(self._bitmask, row)
        device = scores.device
        bitmask = self._bitmask.to(device) if device.type != "cpu" else self._bitmask
        xgr.apply_token_bitmask_inplace(scores, bitmask)
        return scores
