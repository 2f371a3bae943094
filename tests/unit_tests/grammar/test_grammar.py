"""Grammar-constrained decoding: every sampled line parses; a valid greedy path is unchanged."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("xgrammar")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from langchain_lumos.grammar import (  # noqa: E402
    GrammarLogitsProcessor,
    compile_grammar,
    gbnf_grammar,
    grounding_grammar,
    per_prompt_grammars,
    planning_grammar,
    vllm_grammar_fields,
)
from langchain_lumos.parsing import parse_actions, parse_plan  # noqa: E402

try:
    from tests.tiny_llama import build_tiny_llama
except ImportError:  # tests/ is not a package: import the helper from its directory
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tiny_llama import build_tiny_llama

ACTIONS = ["KnowledgeQuery", "ParagraphRetrieve", "QA", "Calculator"]
GROUND_PROMPT = (
    "<|user|>\nPlease ground the given subgoal to corresponding executable actions.\n"
    "Task: What is the capital of France? \nSubgoal to be grounded: Subgoal 1: Query France.\n"
    "<|assistant|>\n"
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    path = build_tiny_llama(tmp_path_factory.mktemp("tiny_llama_grammar"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    model.eval()
    return model, tokenizer


def _sample(model: object, tokenizer: object, prompt: str, grammar: str, seed: int) -> str:
    compiled = compile_grammar(grammar, tokenizer, vocab_size=model.config.vocab_size)  # type: ignore[attr-defined]
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids  # type: ignore[operator]
    torch.manual_seed(seed)
    processor = GrammarLogitsProcessor(compiled, prompt_length=ids.shape[1])
    newline = tokenizer.convert_tokens_to_ids(tokenizer.tokenize("\n"))  # type: ignore[attr-defined]
    out = model.generate(  # type: ignore[attr-defined]
        ids,
        do_sample=True,
        temperature=1.5,
        max_new_tokens=120,
        logits_processor=transformers.LogitsProcessorList([processor]),
        eos_token_id=[tokenizer.eos_token_id, *newline],  # type: ignore[attr-defined]
        pad_token_id=tokenizer.pad_token_id,  # type: ignore[attr-defined]
    )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)  # type: ignore[attr-defined]


def _finished_groundings(model: object, tokenizer: object, grammar: str) -> list[tuple[str, Any]]:
    """The 8 sampled grounding lines that ended within the token cap, each parsed.

    At least 6 of the 8 must end there (a line the cap cut has nothing to parse yet) and
    every finished one must parse without errors.
    """
    lines = []
    for seed in range(8):
        text = _sample(model, tokenizer, GROUND_PROMPT, grammar, seed)
        if not text.endswith("\n"):
            continue  # the token cap ended the line first: nothing to parse yet
        parsed = parse_actions(text)
        assert parsed.actions and not parsed.errors, (text, parsed)
        lines.append((text, parsed))
    assert len(lines) >= 6, f"only {len(lines)} of 8 sampled lines ended within the token cap"
    return lines


def test_grounding_grammar_accepts_lumos_lines_and_rejects_others() -> None:
    import xgrammar as xgr

    grammar = xgr.Grammar.from_ebnf(grounding_grammar(ACTIONS, first_variable=3, multi_output=["Calculator"]))
    good = [
        "R3 = KnowledgeQuery(Franz Kafka)\n",
        "R3 = KnowledgeQuery(Kafka); R4 = ParagraphRetrieve(R3, Query: Where (city) was he born?)\n",
        "R3, R4 = Calculator(x + (1 * 2))\n",
        "R3 = QA([R1, R2], Question: a; b)\n",
    ]
    bad = [
        "R1 = KnowledgeQuery(Kafka)\n",  # variable already defined
        "R3 = Search(Kafka)\n",  # not a registered action
        "R3 = QA((unbalanced)\n",
        "I think the answer is Prague.\n",
        "R3 = QA(x); R3 = QA(y)\n",  # variables number on
    ]
    for line in good:
        assert xgr.testing._is_grammar_accept_string(grammar, line), line
    for line in bad:
        assert not xgr.testing._is_grammar_accept_string(grammar, line), line


def test_planning_grammar_shapes() -> None:
    import xgrammar as xgr

    first = xgr.Grammar.from_ebnf(planning_grammar(mode="iterative"))
    later = xgr.Grammar.from_ebnf(planning_grammar(mode="iterative", next_index=2))
    onetime = xgr.Grammar.from_ebnf(planning_grammar(mode="onetime", max_subgoals=3))
    accept = xgr.testing._is_grammar_accept_string
    assert accept(first, "Subgoal 1: Find the birthplace of Kafka.\n")
    assert not accept(first, "No, I will keep planning. Subgoal 1: x\n")
    assert accept(later, "No, I will keep planning. Subgoal 2: Find the population.\n")
    assert accept(later, "Yes, I will stop planning.\n")
    assert not accept(later, "I don't know.\n")
    assert accept(onetime, "Subgoal 1: a; Subgoal 2: b; Subgoal 3: c\n")
    assert not accept(onetime, "Subgoal 1: a; Subgoal 3: c\n")
    assert not accept(onetime, "Subgoal 1: a; Subgoal 2: b; Subgoal 3: c; Subgoal 4: d\n")


def test_forced_prefix_grammar_starts_after_it() -> None:
    import xgrammar as xgr

    grammar = xgr.Grammar.from_ebnf(grounding_grammar(ACTIONS, forced_prefix="R1 = "))
    assert xgr.testing._is_grammar_accept_string(grammar, "KnowledgeQuery(x); R2 = QA([R1], Question: y)\n")
    assert not xgr.testing._is_grammar_accept_string(grammar, "R1 = KnowledgeQuery(x)\n")
    with pytest.raises(ValueError, match="forced_prefix"):
        grounding_grammar(ACTIONS, forced_prefix="R2 = ")


def test_bad_grammar_arguments_fail_fast() -> None:
    with pytest.raises(ValueError, match="at least one"):
        grounding_grammar([])
    with pytest.raises(ValueError, match="identifiers"):
        grounding_grammar(["Knowledge Query"])
    with pytest.raises(ValueError, match="not registered"):
        grounding_grammar(["QA"], multi_output=["SolveEquation"])


def test_every_sampled_grounding_of_a_random_model_parses(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    grammar = grounding_grammar(ACTIONS, max_actions=2, max_argument_words=2, max_word_chars=4)
    for _, parsed in _finished_groundings(model, tokenizer, grammar):
        assert {a.name for a in parsed.actions} <= set(ACTIONS)


@pytest.mark.parametrize("seed", range(3))
def test_every_sampled_plan_of_a_random_model_parses(tiny: tuple[object, object], seed: int) -> None:
    model, tokenizer = tiny
    grammar = planning_grammar(mode="iterative", next_index=2, max_subgoal_words=4, max_word_chars=8)
    text = _sample(model, tokenizer, "<|user|>\nTask: x\n<|assistant|>\n", grammar, seed)
    assert text.endswith("\n"), text
    parsed = parse_plan(text, next_index=2)
    assert parsed.stop or parsed.subgoals, (text, parsed)


def test_a_valid_greedy_path_is_unchanged(tiny: tuple[object, object]) -> None:
    """Scores whose argmax spells a valid line keep that argmax at every step."""
    model, tokenizer = tiny
    line = "R1 = KnowledgeQuery(France); R2 = QA([R1], Question: What is the capital?)\n"
    target = tokenizer(line, add_special_tokens=False).input_ids  # type: ignore[operator]
    vocab = model.config.vocab_size  # type: ignore[attr-defined]
    compiled = compile_grammar(grounding_grammar(ACTIONS), tokenizer, vocab_size=vocab)
    prompt = torch.tensor([[1, 5, 6]])
    processor = GrammarLogitsProcessor(compiled, prompt_length=prompt.shape[1])
    ids = prompt
    generator = torch.Generator().manual_seed(0)
    for token in target:
        scores = torch.randn(1, vocab, generator=generator)
        scores[0, token] = scores.max() + 1.0
        masked = processor(ids, scores.clone())
        assert int(masked.argmax()) == token
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)


def test_vllm_fields_carry_the_same_grammar() -> None:
    grammar = grounding_grammar(ACTIONS)
    fields = vllm_grammar_fields(grammar)
    assert fields["structured_outputs"]["grammar"] == grammar
    assert fields["guided_grammar"] == grammar


def test_gbnf_conversion_keeps_the_language() -> None:
    import xgrammar as xgr

    ebnf = grounding_grammar(["Knowledge_Query", "QA"], first_variable=2, max_argument_words=3) + (
        'my_rule.x ::= "a_b" [_a-z]{1,3} # a comment with my_rule\n'
    )
    gbnf = gbnf_grammar(ebnf)
    assert "my-rule-x ::= " in gbnf and '"a_b" [_a-z]{1,3}' in gbnf  # rule names only
    assert '"Knowledge_Query"' in gbnf  # literals untouched
    assert gbnf_grammar(grounding_grammar(ACTIONS)) == grounding_grammar(ACTIONS)  # already GBNF
    assert all(re.fullmatch(r"[A-Za-z0-9-]+", name) for name in re.findall(r"^(\S+) ::=", gbnf, re.M))
    # The same sentences (GBNF names are valid xgrammar names too).
    converted = xgr.Grammar.from_ebnf(gbnf)
    accept = xgr.testing._is_grammar_accept_string
    assert accept(converted, "R2 = Knowledge_Query(Kafka); R3 = QA([R2], Question: x)\n")
    assert not accept(converted, "R1 = Knowledge_Query(Kafka)\n")
    assert not accept(converted, "R2 = QA(far more than three words)\n")


def test_gbnf_conversion_refuses_what_llama_cpp_lacks() -> None:
    with pytest.raises(ValueError, match="lookahead"):
        gbnf_grammar('root ::= a "\\n"\na ::= "x" (= "y")\n')
    with pytest.raises(ValueError, match="macros"):
        gbnf_grammar('root ::= TagDispatch(("<a>", b))\nb ::= "x"\n')
    with pytest.raises(ValueError, match="limit of 2000"):
        gbnf_grammar(grounding_grammar(ACTIONS, max_argument_words=5000))
    with pytest.raises(ValueError, match="both 'a-b'"):
        gbnf_grammar('root ::= a_b a-b\na_b ::= "x"\na-b ::= "y"\n')
    with pytest.raises(ValueError, match="Unterminated string"):
        gbnf_grammar('root ::= "x')


def test_per_prompt_grammars() -> None:
    assert per_prompt_grammars(None, 2) == [None, None]
    assert per_prompt_grammars("g", 2) == ["g", "g"]
    assert per_prompt_grammars(["g", None, ""], 3) == ["g", None, None]
    with pytest.raises(ValueError, match="one per prompt"):
        per_prompt_grammars(["g"], 2)


def test_compile_errors_are_value_errors(tiny: tuple[object, object]) -> None:
    _, tokenizer = tiny
    with pytest.raises(ValueError, match="Invalid grammar"):
        compile_grammar("root ::= missing", tokenizer)
    first = compile_grammar(grounding_grammar(ACTIONS), tokenizer)
    assert compile_grammar(grounding_grammar(ACTIONS), tokenizer) is not None and first is not None


def test_rows_without_a_grammar_and_finished_rows_are_left_alone(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    vocab = model.config.vocab_size  # type: ignore[attr-defined]
    compiled = compile_grammar('root ::= "R" "\\n"', tokenizer, vocab_size=vocab)
    with pytest.raises(ValueError, match="at least one row"):
        GrammarLogitsProcessor([None, None], prompt_length=1)
    processor = GrammarLogitsProcessor([compiled, None], prompt_length=1)
    ids = torch.tensor([[5], [5]])
    scores = processor(ids, torch.zeros(2, vocab))
    allowed = (scores[0] > float("-inf")).nonzero().flatten().tolist()
    assert tokenizer.decode(allowed) == "R"  # type: ignore[attr-defined]
    assert bool((scores[1] == 0).all())  # no grammar: untouched
    r, newline = allowed[0], tokenizer("\n", add_special_tokens=False).input_ids[-1]  # type: ignore[operator]
    ids = torch.cat([ids, torch.tensor([[r], [7]])], dim=1)
    processor(ids, torch.zeros(2, vocab))
    ids = torch.cat([ids, torch.tensor([[newline], [7]])], dim=1)
    processor(ids, torch.zeros(2, vocab))  # complete: only stop tokens allowed now
    pad = torch.cat([ids, torch.tensor([[tokenizer.pad_token_id], [7]])], dim=1)  # type: ignore[attr-defined]
    scores = processor(pad, torch.zeros(2, vocab))  # the finished row's padding is not rejected loudly
    assert bool((scores == 0).all())


def test_bounded_arguments() -> None:
    import xgrammar as xgr

    grammar = xgr.Grammar.from_ebnf(grounding_grammar(["Calculator"], max_argument_words=3, max_word_chars=4))
    accept = xgr.testing._is_grammar_accept_string
    assert accept(grammar, "R1 = Calculator(x + (1 * (2 + 3)) - 4)\n")
    assert not accept(grammar, "R1 = Calculator((((x))))\n")  # nested three deep
    assert not accept(grammar, "R1 = Calculator(1 + 2 + 3 + 4 + 5)\n")  # a run of 9 words
    assert not accept(grammar, "R1 = Calculator(12345)\n")  # a word of 5 characters
    unbounded = xgr.Grammar.from_ebnf(grounding_grammar(["Calculator"]))
    assert accept(unbounded, "R1 = Calculator((((1 + 2 + 3 + 4 + 5))) (x))\n")
    assert not accept(unbounded, "R1 = Calculator((x)\n")


def test_final_actions_end_the_line_at_the_last_one() -> None:
    import xgrammar as xgr

    accept = xgr.testing._is_grammar_accept_string
    one = xgr.Grammar.from_ebnf(
        grounding_grammar(ACTIONS, first_variable=4, max_actions=3, final_actions=["QA"])
    )
    assert accept(
        one,
        "R4 = KnowledgeQuery(Prague); R5 = ParagraphRetrieve(R4, Query: x?); R6 = QA([R5], Question: x?)\n",
    )
    assert accept(one, "R4 = QA([R3], Question: x?)\n")
    assert not accept(one, "R4 = KnowledgeQuery(Prague)\n")  # cannot end before its QA
    assert not accept(one, "R4 = QA([R3], Question: x?); R5 = KnowledgeQuery(y)\n")  # nor go on after it
    two = xgr.Grammar.from_ebnf(
        grounding_grammar(ACTIONS, max_actions=9, final_actions=["QA"], final_count=2, forced_prefix="R1 = ")
    )
    assert accept(
        two,
        "KnowledgeQuery(a); R2 = QA([R1], Question: x); R3 = KnowledgeQuery(R2); R4 = QA([R3], Question: y)\n",
    )
    assert not accept(two, "KnowledgeQuery(a); R2 = QA([R1], Question: x)\n")
    assert not accept(two, "R1 = KnowledgeQuery(a); R2 = QA([R1], Question: x); R3 = QA([R2], Question: y)\n")
    maths = xgr.Grammar.from_ebnf(
        grounding_grammar(
            ["SetEquation", "SolveEquation"],
            final_actions=["SetEquation", "SolveEquation"],
            final_count=2,
            multi_output=["SolveEquation"],
        )
    )
    assert accept(maths, "R1 = SetEquation(x + y = 3); R2, R3 = SolveEquation(R1)\n")
    assert not accept(maths, "R1 = SetEquation(x + y = 3)\n")
    with pytest.raises(ValueError, match="final_actions"):
        grounding_grammar(["QA"], final_actions=["Calculator"])
    with pytest.raises(ValueError, match="final_count"):
        grounding_grammar(ACTIONS, max_actions=2, final_actions=["QA"], final_count=3)


def test_sampled_lines_under_final_actions_stop_at_their_qa(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    grammar = grounding_grammar(
        ACTIONS, max_actions=3, max_argument_words=2, max_word_chars=4, final_actions=["QA"]
    )
    for text, parsed in _finished_groundings(model, tokenizer, grammar):
        assert [a.name for a in parsed.actions].count("QA") == 1 and parsed.actions[-1].name == "QA", text


SPAN_TEXTS = [
    "Franz Kafka was a Czech writer born in Prague, in the Austro-Hungarian Empire.",
    "Located on the Vltava River, the city has a population of about 1.4 million.",
]


def test_span_grammar_accepts_only_short_runs_of_evidence_words() -> None:
    import xgrammar as xgr

    from langchain_lumos.grammar import span_grammar

    grammar = xgr.Grammar.from_ebnf(span_grammar(SPAN_TEXTS, max_words=5))
    accept = xgr.testing._is_grammar_accept_string
    for good in [
        "Prague\n",
        "born in Prague\n",
        "Vltava River\n",
        "1.4 million\n",
        "Austro-Hungarian Empire\n",
    ]:
        assert accept(grammar, good), good
    for bad in ["Paris\n", "Kafka Prague\n", "Prague,\n", "Franz Kafka was a Czech writer\n", "prague\n"]:
        assert not accept(grammar, bad), bad
    with pytest.raises(ValueError, match="one word"):
        span_grammar(["  ", "..."])
    with pytest.raises(ValueError, match="max_words"):
        span_grammar(SPAN_TEXTS, max_words=0)


def test_every_sampled_answer_under_a_span_grammar_is_an_evidence_span(tiny: tuple[object, object]) -> None:
    from langchain_lumos.grammar import span_grammar

    model, tokenizer = tiny
    grammar = span_grammar(SPAN_TEXTS, max_words=4)
    words = [t.split() for t in SPAN_TEXTS]
    finished = 0
    for seed in range(6):
        text = _sample(model, tokenizer, "Question: Where was Kafka born?\nAnswer: ", grammar, seed)
        if not text.endswith("\n"):
            continue
        finished += 1
        span = text[:-1].split()
        assert 1 <= len(span) <= 4, text
        assert any(
            [w.strip("\"'“”‘’.,;:!?()[]") for w in ws[i : i + len(span)]][-1:] == span[-1:]
            and ws[i : i + len(span) - 1] == span[:-1]
            for ws in words
            for i in range(len(ws))
        ), text
    assert finished >= 4


def test_signatures_fix_argument_markers_and_defined_variables() -> None:
    import xgrammar as xgr

    signatures = {"ParagraphRetrieve": ("var", "Query: "), "QA": ("[vars]", "Question: ")}
    grammar = xgr.Grammar.from_ebnf(
        grounding_grammar(
            ACTIONS, first_variable=4, max_actions=3, final_actions=["QA"], signatures=signatures
        )
    )
    accept = xgr.testing._is_grammar_accept_string
    head = "R4 = KnowledgeQuery(Jaws (film)); "
    assert accept(
        grammar, head + "R5 = ParagraphRetrieve(R4, Query: Who?); R6 = QA([R5, R3], Question: Who?)\n"
    )
    assert not accept(
        grammar, head + "R5 = ParagraphRetrieve(Jaws); R6 = QA([R5], Question: Who?)\n"
    )  # no query
    assert not accept(grammar, head + "R5 = ParagraphRetrieve(R6, Query: a); R6 = QA([R5], Question: b)\n")
    assert not accept(grammar, head + "R5 = ParagraphRetrieve(R4, Query: a); R6 = QA([Jaws], Question: b)\n")
    assert not accept(
        grammar, head + "R5 = ParagraphRetrieve(R4, Query: a); R6 = QA([R5], Question: b; Answer: c)\n"
    )
    assert not accept(
        grammar, head + "R5 = ParagraphRetrieve(R4, Query: a); R6 = QA([R5], Question: b, answer: c)\n"
    )
    # A question ends at its question mark: no run-on text after it.
    assert accept(grammar, head + "R5 = QA([R4], Question: Who painted the Mona Lisa?)\n")
    assert not accept(grammar, head + "R5 = QA([R4], Question: Who painted it? The answer is the artist)\n")
    assert not accept(grammar, head + "R5 = QA([R4], Question: Who?? x)\n")
    first = xgr.Grammar.from_ebnf(
        grounding_grammar(ACTIONS, max_actions=3, final_actions=["QA"], signatures=signatures)
    )
    assert not accept(first, "R1 = QA([R0], Question: b)\n")  # nothing defined yet to read
    with pytest.raises(ValueError, match="not registered"):
        grounding_grammar(ACTIONS, final_actions=["QA"], signatures={"Search": ("var",)})
    with pytest.raises(ValueError, match="signature part"):
        grounding_grammar(ACTIONS, first_variable=2, final_actions=["QA"], signatures={"QA": ("whatever",)})


def test_sampled_lines_under_signatures_parse_and_read_defined_variables(tiny: tuple[object, object]) -> None:
    model, tokenizer = tiny
    signatures = {"ParagraphRetrieve": ("var", "Query: "), "QA": ("[vars]", "Question: ")}
    grammar = grounding_grammar(
        ACTIONS,
        first_variable=3,
        max_actions=3,
        max_argument_words=2,
        max_word_chars=4,
        final_actions=["QA"],
        signatures=signatures,
    )
    for text, parsed in _finished_groundings(model, tokenizer, grammar):
        assert parsed.actions[-1].name == "QA", text
        for action in parsed.actions:
            if action.name in signatures:
                number = int(action.variables[0][1:])
                assert all(int(r) < number for r in re.findall(r"\bR(\d+)\b", action.args)), text


def test_a_words_part_takes_context_words_or_an_earlier_variable() -> None:
    import xgrammar as xgr

    signatures = {"KnowledgeQuery": ("words",), "QA": ("[vars]", "Question: ")}
    words = ["Who", "designed", "the", "Statue", "of", "Liberty?"]
    grammar = xgr.Grammar.from_ebnf(
        grounding_grammar(
            ACTIONS, first_variable=4, final_actions=["QA"], signatures=signatures, context_words=words
        )
    )
    accept = xgr.testing._is_grammar_accept_string
    tail = "; R5 = QA([R4], Question: Who designed it?)\n"
    assert accept(grammar, "R4 = KnowledgeQuery(Statue of Liberty)" + tail)  # "Liberty?" stripped
    assert accept(grammar, "R4 = KnowledgeQuery(R3)" + tail)  # the bridge entity, an earlier result
    assert not accept(grammar, "R4 = KnowledgeQuery(Dracula)" + tail)  # an exemplar's entity
    assert not accept(grammar, "R4 = KnowledgeQuery(R4)" + tail)  # not defined yet
    free = xgr.Grammar.from_ebnf(
        grounding_grammar(ACTIONS, first_variable=4, final_actions=["QA"], signatures=signatures)
    )
    assert accept(free, "R4 = KnowledgeQuery(Dracula)" + tail)  # no context words: any text
