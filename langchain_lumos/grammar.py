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
`transformers` generation (one matcher per batch row). llama.cpp's server takes grammars in
its own GBNF dialect, which differs from this one only in details; `gbnf_grammar` converts
(or refuses with a clear error).

Constrained decoding never changes an output the grammar already accepts: at each step it
only masks tokens that cannot continue a well-formed line, so a greedy path that stays
well-formed is kept token for token.
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = [
    "GrammarLogitsProcessor",
    "compile_grammar",
    "gbnf_grammar",
    "grounding_grammar",
    "per_prompt_grammars",
    "planning_grammar",
    "span_grammar",
    "vllm_grammar_fields",
]

_ACTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_MAX_DEPTH = 3  # levels of a bounded argument: its text and two nested parentheses
# Character-class bodies (EBNF text) of the free-text parts.
_ARGUMENT_CHARS = r"()\n"  # argument text between parentheses
_QUESTION_CHARS = r"()\[\]:;\n"  # a question after a marker such as `Question: `
_SUBGOAL_CHARS = r"\n"  # an iterative subgoal
_ITEM_CHARS = r"\n;"  # a one-time subgoal, in a `; `-joined list


def _text(excluded: str, max_words: int | None, *, nonempty: bool, max_word_chars: int = 32) -> str:
    r"""Text of the characters outside `excluded` (a class body in EBNF, such as `()\n`).

    Bounded (`max_words`): at most `max_words` words, a word being a run of at most
    `max_word_chars` characters without spaces. A bound on characters (`[^()\n]{0,160}`)
    would be exact but is expensive: xgrammar expands it into one rule position per
    character and precomputes token masks for each, about 1.5 s of compile time per occurrence with a 49k vocabulary and 4 s for a small
    profile's grounding grammar, paid for every new grammar (each grounding turn has its own
    variables). Words of bounded length compile in about 0.1 s and mask a token in about
    0.15 ms, and still stop a small model that runs a phrase, or a single word, on and on.
    """
    full = f"[^{excluded}]"
    if max_words is None:
        return full + ("+" if nonempty else "*")
    if max_words < 1 or max_word_chars < 1:
        msg = f"Word bounds must be >= 1, got max_words={max_words} and max_word_chars={max_word_chars}."
        raise ValueError(msg)
    word = f"[^{excluded} ]{{0,{max_word_chars}}}"
    body = word if max_words == 1 else f'{word} (" " {word}){{0,{max_words - 1}}}'
    return f"{full} {body}" if nonempty else body


def _args_rule(max_words: int | None, max_word_chars: int = 32) -> str:
    r"""Argument text: runs of anything but newlines and parentheses, and balanced groups.

    Written as character-class runs around the groups (`[^()\n]* ("(" args ")" [^()\n]*)*`)
    rather than the equivalent `([^()\n] | "(" args ")")*`: xgrammar handles a
    character-class repetition in bulk, which makes the per-token mask about a thousand times
    cheaper (about 0.03 ms instead of 30 ms per token with a 49k vocabulary).

    Bounded (`max_words`): each level holds a run of at most `max_words` words, at most
    one group and a second run, and groups nest at most two deep.
    """
    if max_words is None:
        return 'args ::= [^()\\n]* ("(" args ")" [^()\\n]*)*\n'
    names = ["args", *(f"args{d}" for d in range(1, _MAX_DEPTH))]
    rules = [f'{name} ::= argtext ("(" {inner} ")" argtext)?\n' for name, inner in itertools.pairwise(names)]
    return (
        "".join(rules)
        + f"{names[-1]} ::= argtext\nargtext ::= {_text(_ARGUMENT_CHARS, max_words, nonempty=False, max_word_chars=max_word_chars)}\n"
    )


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
    max_argument_words: int | None = None,
    max_word_chars: int = 32,
    end: str = "\n",
    final_actions: Sequence[str] = (),
    final_count: int = 1,
    signatures: Mapping[str, Sequence[str]] | None = None,
    context_words: Sequence[str] = (),
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
        max_argument_words: Bound each run of argument text (between parentheses), and
            each question text, to this many words (one group per level, nested at most
            two deep), so a small model cannot run an argument to the token cap. None:
            unbounded.
        max_word_chars: With `max_argument_words`: the longest word.
        end: What closes the line (the newline the grounder stops at).
        final_actions: The actions that complete the line (empty: any line of up to
            `max_actions` actions). With them, the line ends right after its
            `final_count`-th final action and cannot end before it: the early stop of a
            grounding line, enforced by the grammar (once the last final action's closing
            parenthesis is written, only `end` may follow, so generation stops there).
        final_count: How many final actions the line holds (one per subgoal it grounds).
        signatures: With `final_actions`: the argument shapes of some actions, as parts
            joined by `", "`: `"var"` (one variable defined before, `R1` .. `R{i-1}`),
            `"[vars]"` (a bracketed list of them), or a marker ending in a space followed
            by a question text without parentheses, brackets, `:`, `;` or newlines that
            ends at its first `?` if it has one (`"Query: "`; so no `Answer: ...` guess
            and no run-on text after the question rides along).
            `{"ParagraphRetrieve": ("var", "Query: ")}` allows
            `ParagraphRetrieve(R1, Query: Who ...?)` only. `"words"` is a variable defined
            before or 1 to 8 of `context_words` joined by spaces (a search query made of
            the question's own words, so no exemplar's entity is copied). Actions not
            listed take any balanced argument text.
        context_words: The words a `"words"` part may use (the caller's choice; the small profile gives the task's and the answers found).
            Empty: such a part takes any text without parentheses.

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
    if final_actions:
        return _final_grounding_grammar(
            actions,
            first_variable=first_variable,
            max_actions=max_actions,
            multi_output=multi_output,
            forced_prefix=forced_prefix,
            max_argument_words=max_argument_words,
            max_word_chars=max_word_chars,
            end=end,
            final_actions=final_actions,
            final_count=final_count,
            signatures=signatures or {},
            context_words=context_words,
        )
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
        _check_prefix(prefix, first_variable)
        # After the forced `R{n} = `, only a single-output call may follow.
        rest = f' ("; " a{first_variable + 1})?' if max_actions > 1 else ""
        root = f"root ::= call{rest} {_literal(end)}\n"
    return root + "".join(lines) + _args_rule(max_argument_words, max_word_chars)


def _check_prefix(prefix: str, first_variable: int) -> None:
    head = f"R{first_variable} = "
    if prefix != head:
        msg = f"forced_prefix must be {head!r} for the first new variable, got {prefix!r}."
        raise ValueError(msg)


def _final_grounding_grammar(
    actions: Sequence[str],
    *,
    first_variable: int,
    max_actions: int,
    multi_output: Sequence[str],
    forced_prefix: str,
    max_argument_words: int | None,
    max_word_chars: int,
    end: str,
    final_actions: Sequence[str],
    final_count: int,
    signatures: Mapping[str, Sequence[str]],
    context_words: Sequence[str] = (),
) -> str:
    """`grounding_grammar` with final actions: the line ends at its `final_count`-th one.

    Rule `a{i}_{k}` is the rest of the line from variable `R{i}` with `k` final actions
    still to write; only choices that can still reach `k` final actions within
    `max_actions` are offered, so every sentence of the grammar is a complete line.
    """
    unknown = sorted(set(final_actions) - set(actions))
    if unknown:
        msg = f"final_actions names actions that are not registered: {unknown}."
        raise ValueError(msg)
    if final_count < 1 or final_count > max_actions:
        msg = f"final_count must be between 1 and max_actions ({max_actions}), got {final_count}."
        raise ValueError(msg)
    finals = set(final_actions)
    groups = {
        "fcall": sorted(finals),
        "ncall": sorted(set(actions) - finals),
        "fmcall": sorted(set(multi_output) & finals),
        "nmcall": sorted(set(multi_output) - finals),
    }
    bad = sorted(set(signatures) - set(actions))
    if bad:
        msg = f"signatures names actions that are not registered: {bad}."
        raise ValueError(msg)
    lines: list[str] = []
    texts = False
    words_used = False
    defined_calls: set[str] = set()

    def call_rule(rule: str, i: int) -> str | None:
        """The rule of a call group at `R{i}` (per variable when signatures apply)."""
        nonlocal texts, words_used
        names = groups[rule]
        if not signatures:
            return rule if names else None
        alternatives = []
        for name in names:
            shape = signatures.get(name)
            if shape is None:
                alternatives.append(f'{_literal(name)} "(" args ")"')
                continue
            if i <= 1 and any(part in ("var", "[vars]") for part in shape):
                continue  # no variable defined yet: the action cannot run here
            parts = []
            for part in shape:
                if part == "var":
                    parts.append(f"v{i}")
                elif part == "words":
                    parts.append(f"(v{i} | ctxtext)" if i > 1 else "ctxtext")
                    words_used = True
                elif part == "[vars]":
                    parts.append(f'"[" v{i} (", " v{i})* "]"')
                elif part.endswith(" "):
                    parts.append(f"{_literal(part)} qtext")
                    texts = True
                else:
                    msg = f"Unknown signature part {part!r} of {name}: use 'var', '[vars]', 'words' or 'Marker: '."
                    raise ValueError(msg)
            alternatives.append(f'{_literal(name)} "(" ' + ' ", " '.join(parts) + ' ")"')
        if not alternatives:
            return None
        key = f"{rule}{i}"
        if key not in defined_calls:
            defined_calls.add(key)
            lines.append(f"{key} ::= " + " | ".join(f"({a})" for a in alternatives) + "\n")
        return key

    if not signatures:
        lines = [
            f'{rule} ::= ({" | ".join(_literal(a) for a in names)}) "(" args ")"\n'
            for rule, names in groups.items()
            if names
        ]
    last = first_variable + max_actions  # variables past this are not reachable
    reachable: set[tuple[int, int]] = set()
    rules: dict[tuple[int, int], list[str]] = {}

    def options(i: int, k: int, head: str, outputs: int, final: bool, group: str) -> str | None:
        """One choice at `R{i}`: a call assigning `outputs` variables, then the rest."""
        call = call_rule(group, i)
        if call is None:
            return None
        after, left = i + outputs, k - int(final)
        if left == 0:
            return f"{head}{call}"
        if (after, left) not in reachable:
            return None
        return f'{head}{call} "; " a{after}_{left}'

    # Built from the last variable back, so a rule only refers to reachable ones.
    for i in range(last - 1, first_variable - 1, -1):
        for k in range(1, final_count + 1):
            choices = [
                options(i, k, f'"R{i} = " ', 1, True, "fcall"),
                options(i, k, f'"R{i} = " ', 1, False, "ncall"),
            ]
            if i + 1 < last:
                choices += [
                    options(i, k, f'"R{i}, R{i + 1} = " ', 2, True, "fmcall"),
                    options(i, k, f'"R{i}, R{i + 1} = " ', 2, False, "nmcall"),
                ]
            kept = [c for c in choices if c is not None]
            if kept:
                rules[(i, k)] = kept
                reachable.add((i, k))
    if (first_variable, final_count) not in reachable:  # pragma: no cover - final_count <= max_actions
        msg = "No grounding line fits these bounds."
        raise ValueError(msg)
    close = _literal(end)
    if forced_prefix:
        _check_prefix(forced_prefix, first_variable)
        # After the forced `R{n} = `, only a single-output call may follow.
        head = f'"R{first_variable} = " '
        firsts = [c[len(head) :] for c in rules[(first_variable, final_count)] if c.startswith(head)]
        root = f"root ::= ({' | '.join(f'({c})' for c in firsts)}) {close}\n"
    else:
        root = f"root ::= a{first_variable}_{final_count} {close}\n"
    body = "".join(
        f"a{i}_{k} ::= " + " | ".join(f"({c})" for c in rules[(i, k)]) + "\n" for (i, k) in sorted(rules)
    )
    if signatures:
        used = sorted({int(m.group(1)) for m in re.finditer(r"\bv(\d+)\b", "".join(lines))})
        body += "".join(f"v{i} ::= " + " | ".join(f'"R{j}"' for j in range(1, i)) + "\n" for i in used)
    if texts:
        # A question ends at its question mark: only the closing parenthesis may follow.
        text = _text(_QUESTION_CHARS + "?", max_argument_words, nonempty=True, max_word_chars=max_word_chars)
        body += f'qtext ::= {text} "?"?\n'
    if words_used:
        body += f"ctxtext ::= {_context_text(context_words, max_argument_words, max_word_chars)}\n"
    return root + "".join(lines) + body + _args_rule(max_argument_words, max_word_chars)


_CONTEXT_WORDS = 8  # the most words of a query made of context words
_WORD_STRIP = "\"'“”‘’.,;:!?()[]"  # punctuation around a word (context words, evidence spans)


def _context_text(words: Sequence[str], max_words: int | None, max_word_chars: int) -> str:
    """1 to `_CONTEXT_WORDS` of `words` joined by spaces (free text if there are none)."""
    choices = sorted({w.strip(_WORD_STRIP) for w in words} - {""})
    choices = [w for w in choices if "\n" not in w and "(" not in w and ")" not in w]
    if not choices:
        return _text(_ARGUMENT_CHARS, max_words, nonempty=True, max_word_chars=max_word_chars)
    word = "(" + " | ".join(_literal(w) for w in choices) + ")"
    return f'{word} (" " {word}){{0,{_CONTEXT_WORDS - 1}}}'


def planning_grammar(
    *,
    mode: Literal["iterative", "onetime"],
    next_index: int = 1,
    max_subgoals: int = 8,
    max_subgoal_words: int | None = None,
    max_word_chars: int = 32,
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
        max_subgoal_words: Bound each subgoal to this many words (None: unbounded).
        max_word_chars: With `max_subgoal_words`: the longest word.
        end: What closes the line.

    Returns:
        An xgrammar EBNF grammar with rule `root`.
    """
    if next_index < 1 or max_subgoals < 1:
        msg = f"next_index and max_subgoals must be >= 1, got {next_index} and {max_subgoals}."
        raise ValueError(msg)
    close = _literal(end)
    text_rule = (
        f"text ::= {_text(_SUBGOAL_CHARS, max_subgoal_words, nonempty=True, max_word_chars=max_word_chars)}\n"
    )
    item_rule = (
        f"item ::= {_text(_ITEM_CHARS, max_subgoal_words, nonempty=True, max_word_chars=max_word_chars)}\n"
    )
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


def span_grammar(texts: Sequence[str], *, max_words: int = 5, end: str = "\n") -> str:
    """The grammar of a short span copied from `texts`: the evidence-constrained QA answer.

    A sentence is any run of 1 to `max_words` consecutive words of one of the texts (words
    split at whitespace and joined by one space), the last one without its surrounding
    punctuation (`Prague,` ends a span as `Prague`), then `end`. A model constrained to it
    can only answer with words of the evidence, in their order.

    Args:
        texts: The evidence sentences.
        max_words: The most words a span holds.
        end: What closes the answer.

    Returns:
        An xgrammar EBNF grammar with rule `root`.

    Raises:
        ValueError: No words in `texts`, or `max_words` below 1.
    """
    if max_words < 1:
        msg = f"max_words must be >= 1, got {max_words}."
        raise ValueError(msg)
    rules: list[str] = []
    starts: list[str] = []
    defined: set[tuple[int, int, int]] = set()
    for j, text in enumerate(texts):
        words = text.split()
        cores = [w.strip(_WORD_STRIP) for w in words]
        for i in range(len(words) - 1, -1, -1):  # from the end, so a rule only names defined ones
            for d in range(1, max_words + 1):
                options = [_literal(cores[i])] if cores[i] else []
                if d > 1 and (j, i + 1, d - 1) in defined:
                    options.append(f"{_literal(words[i] + ' ')} s{j}_{i + 1}_{d - 1}")
                if options:
                    defined.add((j, i, d))
                    rules.append(f"s{j}_{i}_{d} ::= " + " | ".join(f"({o})" for o in options) + "\n")
            if cores[i]:
                starts.append(f"s{j}_{i}_{max_words}")
    if not starts:
        msg = "span_grammar needs texts with at least one word."
        raise ValueError(msg)
    return f"root ::= ({' | '.join(reversed(starts))}) {_literal(end)}\n" + "".join(rules)


def per_prompt_grammars(grammar: str | Sequence[str | None] | None, n_prompts: int) -> list[str | None]:
    """One grammar (or None) per prompt from a model call's `grammar=` argument.

    Args:
        grammar: None, one grammar for every prompt, or one grammar (or None) per prompt.
        n_prompts: How many prompts the call has.

    Returns:
        A list of `n_prompts` grammars or Nones (empty strings become None).

    Raises:
        ValueError: A list of the wrong length or with non-string entries.
    """
    if grammar is None or isinstance(grammar, str):
        return [grammar or None] * n_prompts
    rows = list(grammar)
    if len(rows) != n_prompts or not all(g is None or isinstance(g, str) for g in rows):
        msg = f"grammar must be a string or a list of {n_prompts} strings (or None), one per prompt."
        raise ValueError(msg)
    return [g or None for g in rows]


def vllm_grammar_fields(grammar: str) -> dict[str, Any]:
    """Request fields that constrain a vLLM completion to `grammar`.

    vLLM's OpenAI-compatible server takes the grammar as `structured_outputs.grammar`
    (and, in releases before 0.10, as `guided_grammar`); its xgrammar backend reads this
    EBNF dialect.
    """
    return {"structured_outputs": {"grammar": grammar}, "guided_grammar": grammar}


_GBNF_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_GBNF_MAX_REPETITION = 2000  # llama.cpp's MAX_REPETITION_THRESHOLD


def gbnf_grammar(grammar: str) -> str:
    r"""Convert an xgrammar EBNF grammar to llama.cpp's GBNF dialect.

    The two dialects share rules (`name ::= ...`), string literals, character classes
    (`[^()\n]`), grouping, alternation, `?`/`*`/`+` and `{m,n}` repetition and `#`
    comments. They differ in what this function handles:

    * GBNF rule names may hold only letters, digits and `-`: other characters (`_`, `.`)
      become `-`.
    * GBNF has no lookahead assertions (`(= ...)`) and no built-in macros
      (`TagDispatch(...)`): refused.
    * llama.cpp refuses repetition bounds above 2000: refused here first.

    Args:
        grammar: An xgrammar EBNF grammar (for example from `grounding_grammar`).

    Returns:
        The same grammar in GBNF, for llama.cpp's `grammar` request field.

    Raises:
        ValueError: The grammar uses a construct GBNF does not have.
    """
    out: list[str] = []
    renamed: dict[str, str] = {}
    i, n = 0, len(grammar)
    while i < n:
        c = grammar[i]
        if c in '"[':  # a string literal or a character class: copied as is
            close = '"' if c == '"' else "]"
            j = i + 1
            while j < n and grammar[j] != close:
                j += 2 if grammar[j] == "\\" else 1
            if j >= n:
                kind = "string" if c == '"' else "character class"
                msg = f"Unterminated {kind} at offset {i}."
                raise ValueError(msg)
            out.append(grammar[i : j + 1])
            i = j + 1
        elif c == "#":  # a comment, to the end of the line
            j = grammar.find("\n", i)
            j = n if j < 0 else j
            out.append(grammar[i:j])
            i = j
        elif c == "(" and grammar[i + 1 :].lstrip().startswith("="):
            msg = "GBNF has no lookahead assertions `(= ...)`; llama.cpp cannot take this grammar."
            raise ValueError(msg)
        elif c == "{":
            j = grammar.find("}", i)
            bounds = grammar[i + 1 : j] if j > 0 else ""
            if j < 0 or not re.fullmatch(r"\s*\d+\s*(,\s*\d*\s*)?", bounds):
                msg = f"Bad repetition at offset {i}: {grammar[i : i + 12]!r}."
                raise ValueError(msg)
            if any(int(b) > _GBNF_MAX_REPETITION for b in re.findall(r"\d+", bounds)):
                msg = (
                    f"Repetition {{{bounds}}} exceeds llama.cpp's limit of {_GBNF_MAX_REPETITION}; "
                    "lower the bound (for example max_argument_words)."
                )
                raise ValueError(msg)
            out.append(grammar[i : j + 1])
            i = j + 1
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (grammar[j].isalnum() or grammar[j] in "_-."):
                j += 1
            name = grammar[i:j]
            if grammar[j : j + 1] == "(":
                msg = (
                    f"GBNF has no built-in macros such as `{name}(...)`; llama.cpp cannot take this grammar."
                )
                raise ValueError(msg)
            gbnf = name if _GBNF_NAME.match(name) else re.sub(r"[^A-Za-z0-9-]", "-", name)
            if renamed.setdefault(gbnf, name) != name:
                msg = f"Rule names {renamed[gbnf]!r} and {name!r} are both {gbnf!r} in GBNF; rename one."
                raise ValueError(msg)
            out.append(gbnf)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


_COMPILERS: weakref.WeakKeyDictionary[Any, dict[int, Any]] = weakref.WeakKeyDictionary()
_COMPILERS_LOCK = threading.Lock()


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
        ValueError: `grammar` is not a valid xgrammar EBNF grammar.
    """
    try:
        import xgrammar as xgr
    except ImportError as exc:  # pragma: no cover - the dependency is declared
        msg = "Constrained decoding needs xgrammar: pip install xgrammar"
        raise ImportError(msg) from exc
    # One compiler per tokenizer (kept while the tokenizer lives); it caches what it compiled.
    with _COMPILERS_LOCK:
        per_size = _COMPILERS.setdefault(tokenizer, {})
        compiler = per_size.get(vocab_size or 0)
        if compiler is None:
            info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
            compiler = per_size[vocab_size or 0] = xgr.GrammarCompiler(info, cache_enabled=True)
    try:
        return compiler.compile_grammar(grammar)
    except RuntimeError as exc:  # xgrammar's parse errors name the line and column
        msg = f"Invalid grammar: {exc}"
        raise ValueError(msg) from exc


class GrammarLogitsProcessor:
    """A `transformers` logits processor that keeps every row inside its grammar.

    One matcher per batch row; rows may have different grammars, and a row whose grammar
    is None is left unconstrained. A row whose grammar is complete (the closing newline
    accepted) gets only its stop tokens. A row that finished (its stopping criterion hit,
    padding follows) is no longer masked. Use a new instance for each `generate` call.

    Args:
        grammars: One compiled grammar (or None) per batch row, or one for all rows.
        prompt_length: The number of prompt tokens per row (the left-padded input width):
            tokens after it are the generated ones the matchers must accept.

    Raises:
        ValueError: No row has a grammar.
    """

    def __init__(self, grammars: Sequence[Any | None] | Any, prompt_length: int) -> None:
        self._grammars: list[Any | None] = (
            list(grammars) if isinstance(grammars, (list, tuple)) else [grammars]
        )
        if all(g is None for g in self._grammars):
            msg = "GrammarLogitsProcessor needs at least one row with a grammar."
            raise ValueError(msg)
        self._prompt_length = prompt_length
        self._matchers: dict[int, Any] = {}  # row -> its matcher (rows with a grammar)
        self._live: list[int] = []  # rows still constrained
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
            self._matchers = {row: xgr.GrammarMatcher(g) for row, g in enumerate(grammars) if g is not None}
            self._live = sorted(self._matchers)
            vocab = next(g for g in grammars if g is not None).tokenizer_info.vocab_size
            self._bitmask = xgr.allocate_token_bitmask(batch, vocab)
        elif input_ids.shape[1] > self._prompt_length:
            live = []
            for row in self._live:
                matcher = self._matchers[row]
                # A token the mask allowed is always accepted; a rejected one is the
                # padding of a finished row (or a stop token ended it): stop masking it.
                if matcher.accept_token(int(input_ids[row, -1])) and not matcher.is_terminated():
                    live.append(row)
            self._live = live
        if not self._live:
            return scores
        for row in self._live:
            self._matchers[row].fill_next_token_bitmask(self._bitmask, row)
        device = scores.device
        bitmask = self._bitmask.to(device) if device.type != "cpu" else self._bitmask
        xgr.apply_token_bitmask_inplace(scores, bitmask, indices=self._live)
        return scores
