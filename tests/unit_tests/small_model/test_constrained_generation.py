"""The profile's grammar and early stop inside real `transformers` generation (tiny random Llama).

The grammar allows `R3 = QA(...); R4 = QA(...)`; the stopping criterion must end the line
after the first whole `QA(...)`, long before the token cap.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("xgrammar")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from langchain_lumos.grammar import GrammarLogitsProcessor, compile_grammar  # noqa: E402
from langchain_lumos.parsing import parse_actions  # noqa: E402
from langchain_lumos.profiles import (  # noqa: E402
    GroundingStoppingCriteria,
    cut_grounding,
    grammar_for,
)

try:
    from tests.tiny_llama import build_tiny_llama
except ImportError:  # tests/ is not a package: import the helper from its directory
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tiny_llama import build_tiny_llama  # type: ignore[no-redef]

TOOLS = ["KnowledgeQuery", "ParagraphRetrieve", "QA", "Calculator", "Code"]
PROMPT = "<|user|>\nSubgoal to be grounded: Subgoal 1: Obtain the birthplace of Franz Kafka.\n<|assistant|>\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    path = build_tiny_llama(tmp_path_factory.mktemp("tiny_llama_profile"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    model.eval()
    return model, tokenizer


def _generate(
    model: Any, tokenizer: Any, tools: list[str], seed: int
) -> tuple[str, GroundingStoppingCriteria]:
    grammar = grammar_for("complex_qa", tools, mode="iterative", state={"variables": {"R1": "x", "R2": "y"}})
    ids = tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False).input_ids
    processor = GrammarLogitsProcessor(
        compile_grammar(grammar, tokenizer, vocab_size=model.config.vocab_size), prompt_length=ids.shape[1]
    )
    stopper = GroundingStoppingCriteria(tokenizer, ids.shape[1], "complex_qa")
    newline = tokenizer.convert_tokens_to_ids(tokenizer.tokenize("\n"))
    torch.manual_seed(seed)
    out = model.generate(
        ids,
        do_sample=True,
        temperature=1.5,
        max_new_tokens=2000,
        logits_processor=transformers.LogitsProcessorList([processor]),
        stopping_criteria=transformers.StoppingCriteriaList([stopper]),
        eos_token_id=[tokenizer.eos_token_id, *newline],
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True), stopper


@pytest.mark.parametrize("seed", range(2))
def test_a_sampled_grounding_stops_after_its_first_whole_qa(tiny: tuple[Any, Any], seed: int) -> None:
    model, tokenizer = tiny
    text, stopper = _generate(model, tokenizer, ["QA"], seed)
    assert stopper.done == [True], text  # stopped by the profile, not by the token cap
    parsed = parse_actions(cut_grounding(text, "complex_qa"))
    assert not parsed.errors, (text, parsed)
    assert [(a.variables, a.name) for a in parsed.actions] == [(("R3",), "QA")]  # numbered on from the state
