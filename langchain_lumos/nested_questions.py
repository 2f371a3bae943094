"""Nested questions: the two hops of "Which emperor exiled the author of the Metamorphoses?".

The small-model profile's plan rule for complex QA. A 135M planner does not split a
nested question: given "What is the population of the city where Franz Kafka was born?"
it writes one subgoal holding the whole question, and its grounder then asks that whole
question over the Kafka page. `split_nested_question` reads the two hops off the
question's syntax, and the profile plans them by rule (`nested_plan`):

- **the inner hop** is the innermost definite phrase naming an unknown entity: `the
  <role> of <Name>` (`the author of the Metamorphoses`, `the painter of the Mona Lisa`)
  or `the <role> where|who|that|which <clause>` (`the city where Franz Kafka was born`);
- **the outer hop** is what the question asks of that entity, as a subgoal (`Which
  emperor exiled {}?` -> `Obtain the emperor that exiled {}.`).

A question splits only when both parse: it opens with a question word (`What`, `Which`,
`On which`, ...), the inner phrase is not the whole of what is asked ("What is the
capital of Egypt?" asks for the phrase itself: one hop), no `and` follows the inner
name (a list), and the outer question has one of the shapes `outer_subgoal` knows. Read
against HotpotQA dev questions it was not written for, it also leaves alone choices
("..., A or B?"), two questions joined by `, and`, names cut at a comma or a possessive,
and a place kind's `of` ("the village of Shienga" is Shienga); a `the <role> of <Name>`
inside a relative clause gives way to that clause. Anything else plans as the model
writes it.

The plan the rule writes is the one the profile's own exemplars teach (Lumos's subgoal
style, `Obtain ...`):

- one-time: `Subgoal 1: Obtain the author of the Metamorphoses.; Subgoal 2: Obtain the
  emperor that exiled that author.` (the grounder names the bridge by its variable);
- iterative: `Subgoal 1: Obtain the author of the Metamorphoses.`, then, once it is
  answered (`Ovid`), `No, I will keep planning. Subgoal 2: Obtain the emperor that exiled
  Ovid.`, then `Yes, I will stop planning.` (the profile's two-subgoal cap,
  `SMALL_MAX_SUBGOALS`, ends the plan before that turn: `budget:max_subgoals`); the model
  plans on when the first hop found no answer.

The inner hop's `QA` asks the inner phrase itself (`first_hop_question`: "Who is the
author of the Metamorphoses?"), not the grounder's rewrite of the whole task. The task
itself is then asked over the second hop's evidence by the profile's final QA, as for
every small-profile plan. None of this touches the eval-compatible style.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_lumos.domains import Domain, get_domain
from langchain_lumos.parsing import Action, action_dependencies, split_arguments
from langchain_lumos.prompts import KEEP_PLANNING, STOP_PLANNING
from langchain_lumos.state import GroundedAction

__all__ = [
    "NestedQuestion",
    "ask_hops",
    "first_hop_question",
    "nested_plan",
    "outer_subgoal",
    "second_hop_question",
    "split_nested_question",
]

_QUESTION_WORDS = "what|which|who|whom|whose|where|when|how"
_OPENING_RE = re.compile(rf"^(?:(?:in|on|at|from|to|for|by|with|of) )?(?:{_QUESTION_WORDS})\b", re.IGNORECASE)
_TWO_QUESTIONS_RE = re.compile(rf",? and (?:{_QUESTION_WORDS})\b|, and ", re.IGNORECASE)
_RELATIVES = frozenset({"where", "who", "whom", "whose", "that", "which", "when"})
# Lowercase words a name may hold between its capitalised words ("One Hundred Years of Solitude").
_NAME_LINKS = frozenset({"of", "the", "and", "de", "da", "del", "von", "van", "der", "la", "le", "in", "on"})
# Role words that do not name an entity of their own ("the same name", "the first of"), and
# place kinds whose `of` names the place itself ("the village of Shienga" is Shienga).
_NOT_ROLES = frozenset({"same", "first", "last", "other", "following", "one", "most"})
_PLACE_KINDS = frozenset(
    {"village", "city", "town", "state", "county", "province", "region", "island", "kingdom", "republic"}
    | {"district", "borough", "municipality", "commune", "parish", "port", "isle", "empire"}
)
# Prepositions: never a role word ("the town in which ...": the role is `town`).
_PREPOSITIONS = frozenset({"in", "on", "at", "for", "from", "with", "to", "into", "by", "of", "as", "about"})
# Nouns of time: "In what year was {} born?" ends with a verb the inner clause would swallow.
_TIMES = frozenset({"year", "date", "time", "decade", "century", "month", "day", "era", "season"})
_COPULAS = "is|was|are|were"
_MAX_ROLE_WORDS = 3


@dataclass(frozen=True)
class NestedQuestion:
    """A two-hop question: its inner phrase and what the question asks of it.

    Attributes:
        inner: The inner hop's phrase, e.g. `the author of the Metamorphoses`.
        outer: The question with `{}` for the inner phrase, e.g. `Which emperor exiled {}?`.
        role: The inner phrase's head noun, e.g. `author`: a one-time plan's second
            subgoal names the bridge as `that author`.
    """

    inner: str
    outer: str
    role: str

    @property
    def first_subgoal(self) -> str:
        """The inner hop as a subgoal, e.g. `Obtain the author of the Metamorphoses.`; see `second_subgoal`."""
        return f"Obtain {self.inner}."

    def second_subgoal(self, bridge: str | None = None) -> str:
        """The outer hop as a subgoal, about `bridge` (default: `that <role>`).

        `Obtain the emperor that exiled Ovid.`, or `... exiled that author.` before the
        bridge is known (a one-time plan).
        """
        subgoal = outer_subgoal(self.outer)
        if subgoal is None:  # split_nested_question only returns parsed outers
            msg = f"The outer question {self.outer!r} has no subgoal form."
            raise ValueError(msg)
        plural = self.role.endswith("s") and not self.role.endswith("ss")
        return subgoal.replace("{}", bridge or f"{'those' if plural else 'that'} {self.role}")


def _name_end(words: Sequence[str], start: int) -> int | None:
    """The index past a name starting at `words[start]` (an optional `the` first), or None."""
    i = start + (start < len(words) and words[start].lower() == "the")
    if i >= len(words) or not (words[i][:1].isupper() or words[i][:1].isdigit()):
        return None
    if not any(ch.isalpha() for ch in words[i]):  # "the 5 most used ..." is a count, not a name
        return None
    end = i + 1
    for k in range(i + 1, len(words)):
        if words[k - 1].endswith(","):
            break  # "the state of Georgia, Brunswick ...": the name ends at its comma
        word = words[k]
        if word[:1].isupper() or word[:1].isdigit():
            end = k + 1
        elif word.lower() not in _NAME_LINKS:
            break
    return end


def _is_role_word(word: str) -> bool:
    return bool(word) and word[:1].islower() and word.replace("-", "").isalpha()


def _inner_at(words: Sequence[str], i: int) -> tuple[int, int] | None:
    """The inner phrase starting at the `the` at `words[i]`, as `(start, end)`, or None."""
    for n in range(1, _MAX_ROLE_WORDS + 1):
        role = words[i + 1 : i + 1 + n]
        if len(role) < n or not all(_is_role_word(w) for w in role):
            return None
        if role[-1] in _PREPOSITIONS and role[-1] not in ("of", "by"):
            if n < 2 or i + 1 + n >= len(words) or words[i + 1 + n] not in ("which", "whom"):
                return None
            if any(w.endswith(",") for w in words[i + 1 + n :]):
                return None
            return i, len(words)  # "the town in which Fort Kongenstein is located"
        if role[0] in _NOT_ROLES or role[-1] in ("of", "by") or _RELATIVES & set(role):
            return None
        after = i + 1 + n
        if after >= len(words):
            return None
        if words[after] in ("of", "by"):
            end = _name_end(words, after + 1)
            if end is None:
                continue  # "the population of the city where ...": look further in
            if n == 1 and role[0] in _PLACE_KINDS and words[after] == "of":
                return None  # "the village of Shienga" names the place itself
            if end < len(words) and (words[end] == "and" or not _ends_name(words[end])):
                return None  # a list ("... of X and Y"), or a name cut short ("the Big Five companies")
            if words[end - 1].endswith(("'s", "’s")) or (end < len(words) and words[end - 1].endswith(",")):
                return None  # "the time of Providenza Panno's death"; "of X, the Irish ...": not the whole phrase
            return i, end
        if words[after] in _RELATIVES:
            if any(w.endswith(",") for w in words[after:]):
                return None  # where the clause ends is not known ("in the years 2000, 2005, ...")
            return i, len(words)
    return None


def _ends_name(word: str) -> bool:
    """Whether a lowercase word after a name can follow it: a verb or particle, not a noun it modifies.

    "the author of One Hundred Years of Solitude win ..." reads on with a verb; "the
    Big Five companies" and "the TV series Girls" carry on the name with a plural noun.
    """
    return not (word.endswith("s") and not word.endswith("ss") and word not in ("is", "was", "has", "does"))


@functools.lru_cache(maxsize=256)
def split_nested_question(question: str) -> NestedQuestion | None:
    """The two hops of a nested question, or None when it does not split (see the module docstring).

    Args:
        question: The task.

    Returns:
        A `NestedQuestion` (the innermost phrase when hops nest deeper), or None.
    """
    text = " ".join(question.split())
    if not _OPENING_RE.match(text) or text.count("?") > 1 or _TWO_QUESTIONS_RE.search(text):
        return None
    from langchain_lumos.profiles import question_options

    if question_options(text):  # "Which airport is in Georgia, A or B?": a choice, not a hop
        return None
    words = text.rstrip("?").rstrip().split(" ")
    spans = [span for i in range(1, len(words)) if words[i] == "the" and (span := _inner_at(words, i))]
    if not spans:
        return None
    # The innermost hop; but a `the <role> of <Name>` inside a relative clause describes
    # its entity ("the movie in which Nolan North played the role of Superboy").
    start, end = spans[-1]
    clause = next((s for s in spans if s[0] < start and s[1] == len(words) and _relative(words, s)), None)
    if clause is not None:
        start, end = clause
    inner = " ".join(words[start:end]).rstrip(",")
    outer = " ".join([*words[:start], "{}", *words[end:]]) + "?"
    if re.match(rf"^(?:what|who|which(?: [\w-]+)?) (?:{_COPULAS}) \{{\}}", outer, re.IGNORECASE):
        return None  # "What is the capital of Egypt?": the phrase is what is asked
    if outer_subgoal(outer) is None:
        return None
    opening = re.match(r"^(?:\w+ )?(?:which|what) (\w+)", outer, re.IGNORECASE)
    if opening and opening.group(1).lower() in _TIMES and len(inner.split()) > 2 and end == len(words):
        return None  # "In what year was the singer who popularized X born?": the verb went inside
    role = _role(words[start + 1 : end])
    return NestedQuestion(inner=inner, outer=outer, role=role)


def _relative(words: Sequence[str], span: tuple[int, int]) -> bool:
    """Whether an inner phrase is `the <role> <relative clause>`."""
    head = words[span[0] + 1 : span[1]]
    return any(w in _RELATIVES for w in head[: _MAX_ROLE_WORDS + 1])


def _role(words: Sequence[str]) -> str:
    """The head noun of an inner phrase's words after `the`: the last role word before `of`/a relative."""
    head: list[str] = []
    for word in words:
        if word in _PREPOSITIONS or word in _RELATIVES:
            break
        head.append(word)
    nouns = [
        w for w in head if not w.endswith(("ed", "ly"))
    ]  # "the footballer replaced by ...", "eventually"
    return (nouns or head)[-1]


_OUTER_FORMS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    # What is the population of {}? / Who was the younger rival of {}?
    (re.compile(rf"^(?:What|Who) (?:{_COPULAS}) (the .*\{{\}}.*)\?$"), lambda m: f"Obtain {m[1]}."),
    # On which river is {}? -> the river that {} is on
    (
        re.compile(
            rf"^(In|On|At|From|Near|Along) (?:which|what) ([\w-]+(?: [\w-]+)?) ({_COPULAS}) \{{\}}\?$"
        ),
        lambda m: f"Obtain the {m[2]} that {{}} {m[3]} {m[1].lower()}.",
    ),
    # Which opera was written by {}? -> the opera that was written by {}
    (
        re.compile(rf"^Which ((?:[\w-]+ ){{0,2}}?[\w-]+) ((?:{_COPULAS}) .*\{{\}}.*)\?$"),
        lambda m: f"Obtain the {m[1]} that {m[2]}.",
    ),
    # Which prize did {} win in 1982? -> the prize that {} did win in 1982
    (
        re.compile(r"^Which ((?:[\w-]+ ){0,2}?[\w-]+) (did|does|do) \{\} (.+)\?$"),
        lambda m: f"Obtain the {m[1]} that {{}} {m[2]} {m[3]}.",
    ),
    # Which emperor exiled {}? -> the emperor that exiled {}
    (
        re.compile(r"^Which ([a-z][\w-]*) ([a-z][\w-]*ed\b.*\{\}.*)\?$"),
        lambda m: f"Obtain the {m[1]} that {m[2]}.",
    ),
    # Where was {} born? -> the place where {} was born
    (
        re.compile(rf"^Where ({_COPULAS}) \{{\}} (.+)\?$"),
        lambda m: f"Obtain the place where {{}} {m[1]} {m[2]}.",
    ),
)


def outer_subgoal(outer: str) -> str | None:
    """The outer question as a subgoal with `{}` for the bridge, or None for a shape it does not know.

    `What is the population of {}?` -> `Obtain the population of {}.`; `On which river is
    {}?` -> `Obtain the river that {} is on.`; `Which opera was written by {}?` ->
    `Obtain the opera that was written by {}.`; `Which prize did {} win in 1982?` ->
    `Obtain the prize that {} did win in 1982.`; `Which emperor exiled {}?` -> `Obtain the
    emperor that exiled {}.`; `Where was {} born?` -> `Obtain the place where {} was born.`
    """
    for pattern, form in _OUTER_FORMS:
        match = pattern.match(outer)
        if match:
            return form(match)
    return None


def first_hop_question(nested: NestedQuestion, asked: Sequence[str] = ()) -> str:
    """The question the inner hop asks: the inner phrase itself.

    `Who is the author of the Metamorphoses?` when one of the grounder's own questions for
    that hop opens with `Who` (`Who wrote the book Moby-Dick?`) or the phrase's clause is
    a `who` clause, else `What is the city where Franz Kafka was born?`.

    Args:
        nested: The split question.
        asked: The questions the grounder wrote for that hop.
    """
    who = any(q.lstrip().lower().startswith("who") for q in asked)
    who = who or re.search(r"\bwho(?:m|se)?\b", nested.inner) is not None
    return f"{'Who' if who else 'What'} is {nested.inner}?"


def second_hop_question(nested: NestedQuestion, bridge: str) -> str:
    """The question the outer hop asks about the bridge: `Which emperor exiled Ovid?`.

    `bridge` may be the variable that will hold it (`R3`, in a one-time grounding).
    """
    return nested.outer.replace("{}", bridge)


def nested_plan(domain: str | Domain, mode: str, state: Mapping[str, Any]) -> str | None:
    """The planner's reply by rule for a nested question, or None to let the model plan.

    Only for complex QA in the small-model profile; None anywhere else.

    Args:
        domain: The run's domain.
        mode: `iterative` or `onetime`.
        state: The run's state so far (`task`, `subgoals`, `actions`, `observations`).

    Returns:
        One-time: both subgoals. Iterative: the first subgoal; after it, the second one
        about its answer (None when it found no answer, or when the plan so far is not
        the rule's own); after that, the stop.
    """
    resolved = get_domain(domain)
    if resolved.profile != "small" or resolved.name != "complex_qa":
        return None
    nested = split_nested_question(str(state.get("task") or ""))
    if nested is None:
        return None
    subgoals = [s["text"] for s in state.get("subgoals") or ()]
    if mode == "onetime":
        return (
            None if subgoals else f"Subgoal 1: {nested.first_subgoal}; Subgoal 2: {nested.second_subgoal()}"
        )
    if not subgoals:
        return f"Subgoal 1: {nested.first_subgoal}"
    if subgoals[0] != nested.first_subgoal:
        return None
    if len(subgoals) == 1:
        bridge = _bridge(state)
        if bridge is None:
            return None
        return f"{KEEP_PLANNING} Subgoal 2: {nested.second_subgoal(bridge)}"
    return STOP_PLANNING


_ASKING = {"ParagraphRetrieve": "Query", "QA": "Question"}


def _asked(action: GroundedAction) -> tuple[str, str] | None:
    """A `ParagraphRetrieve(Rk, Query: ...)` or `QA([...], Question: ...)` action's `(evidence, question)`."""
    key = _ASKING.get(action["name"])
    if key is None or action.get("error") or action.get("kwargs") is not None:
        return None
    evidence, keywords = split_arguments(action["args"])
    if evidence is None or [k for k, _ in keywords] != [key]:
        return None
    return evidence.strip(), keywords[0][1]


def _asking(action: GroundedAction, evidence: str, question: str) -> GroundedAction:
    args = f"{evidence}, {_ASKING[action['name']]}: {question}"
    return {**action, "args": args, "text": Action(tuple(action["variables"]), action["name"], args).text}


def _hops(actions: Sequence[GroundedAction]) -> list[list[tuple[int, str, str]]]:
    """The asking actions as `(index, evidence, question)`, one list per hop: each hop ends at its `QA`."""
    hops: list[list[tuple[int, str, str]]] = [[]]
    for k, action in enumerate(actions):
        asked = _asked(action)
        if asked is not None:
            hops[-1].append((k, *asked))
            if action["name"] == "QA":
                hops.append([])
    return [h for h in hops if h]


def ask_hops(actions: Sequence[GroundedAction], state: Mapping[str, Any]) -> list[GroundedAction]:
    """The grounded actions of a nested task's plan, each hop asking its own question.

    A small grounder rewrites the whole task into every query ("Who ruled the dynasty of
    the emperor who gave Zheng He his surname?" for the first hop). Where the plan is
    `nested_plan`'s, the `ParagraphRetrieve` queries and the `QA` question of each hop
    become the hop's question, with their evidence kept:

    - the first hop (the first subgoal's grounding, or the first hop of a one-time
      line): `first_hop_question`;
    - the second hop: `second_hop_question` about the bridge, the first hop's answer
      (iterative) or the variable its `QA` writes (one-time: `Which emperor exiled R3?`,
      filled with the answer when it runs), and its first `KnowledgeQuery` searches the
      bridge (`KnowledgeQuery(Ovid)`, or `KnowledgeQuery(R3)`), not a name the small
      grounder copied from the task.

    Anything else is returned as it is.
    """
    out = list(actions)
    nested = split_nested_question(str(state.get("task") or ""))
    subgoals = state.get("subgoals") or []
    if nested is None or not subgoals or subgoals[0]["text"] != nested.first_subgoal:
        return out
    hops = _hops(out)
    if not hops:
        return out
    bridge: str | None
    if state.get("actions"):  # an iterative second grounding: the bridge is the first hop's answer
        bridge = _bridge(state)
        if bridge is None or len(subgoals) != 2 or subgoals[1]["text"] != nested.second_subgoal(bridge):
            return out
        start = 0
        plan = [(hops[0], second_hop_question(nested, bridge))]
    else:
        plan = [(hops[0], first_hop_question(nested, [question for _, _, question in hops[0]]))]
        qa = out[hops[0][-1][0]]
        if len(hops) < 2 or qa["name"] != "QA" or len(qa["variables"]) != 1:
            bridge, start = None, len(out)
        else:  # a one-time line: the second hop reads the first hop's answer by its variable
            bridge, start = qa["variables"][0], hops[0][-1][0] + 1
            plan.append((hops[1], second_hop_question(nested, bridge)))
    for hop, question in plan:
        for k, evidence, _ in hop:
            out[k] = _asking(out[k], evidence, question)
    if bridge is not None:
        _search_bridge(out, start, bridge)
    return _ordered(out)


def _ordered(actions: list[GroundedAction]) -> list[GroundedAction]:
    """The actions with their dependencies read again: a rewrite may read a variable (`R3`)."""
    ready = [a for a in actions if not a.get("error")]
    deps = action_dependencies([Action(tuple(a["variables"]), a["name"], a["args"]) for a in ready])
    ids = [a["id"] for a in ready]
    order = {a["id"]: [ids[j] for j in dep] for a, dep in zip(ready, deps, strict=True)}
    return [a if a.get("error") else {**a, "depends_on": order[a["id"]]} for a in actions]


def _search_bridge(actions: list[GroundedAction], start: int, bridge: str) -> None:
    """The second hop's first `KnowledgeQuery` (at or after `start`) searches the bridge."""
    for k in range(start, len(actions)):
        action = actions[k]
        if action["name"] == "KnowledgeQuery" and not action.get("error") and action.get("kwargs") is None:
            text = Action(tuple(action["variables"]), action["name"], bridge).text
            actions[k] = {**action, "args": bridge, "text": text}
            return


def _bridge(state: Mapping[str, Any]) -> str | None:
    """The first subgoal's answer, as the second subgoal names it (None when it has none)."""
    from langchain_lumos.profiles import found_answer
    from langchain_lumos.state import subgoal_result

    subgoals = state.get("subgoals") or []
    return found_answer(subgoal_result(state, subgoals[0]["index"])) if subgoals else None  # type: ignore[arg-type]
