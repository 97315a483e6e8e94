"""Tokens are counted with the model's tokenizer when it can be loaded, else estimated on the
safe side; every LLM turn's record says the budget and what each part of the prompt took."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest
from agent_helpers import make_tools, start_session
from fake_llm_server import FakeLLMServer, generate
from tgi_server import build_tokenizer
from tokenizers import Tokenizer

from image_interpreter.agent.llm import llm_config, make_backend
from image_interpreter.agent.llm.tokens import TokenCounter, estimate_tokens, load_counter
from image_interpreter.agent.loop import Agent
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

PROMPTS = Path(__file__).resolve().parents[1] / "image_interpreter" / "prompts"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    return build_tokenizer(tmp_path_factory.mktemp("tokenizer"))


def test_a_local_tokenizer_folder_counts_exactly(tokenizer):
    counter = TokenCounter.for_config(llm_config(None, tokenizer=str(tokenizer)))
    reference = Tokenizer.from_file(str(tokenizer / "tokenizer.json"))
    text = "Raise her left arm a bit, then <|endoftext|> draw it."
    assert counter.exact and counter(text) == len(reference.encode(text).ids)


def test_a_model_neither_here_nor_cached_is_estimated_without_the_network():
    counter = load_counter("nobody/no-such-model-here", download=False)
    assert not counter.exact and "not loaded" in counter.source
    assert counter("four words of text") == estimate_tokens("four words of text")


def test_the_estimate_errs_on_the_safe_side_of_a_bpe_tokenizer(tokenizer):
    exact = load_counter(str(tokenizer))
    for path in sorted(PROMPTS.rglob("*.txt")):
        text = path.read_text("utf-8")
        assert estimate_tokens(text) >= exact(text), path.name


def test_an_llm_turn_records_its_budget_and_each_part(tokenizer, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with SessionStore.from_settings(load_settings()) as store, FakeLLMServer() as server:
        session = start_session(store)
        server.script("/generate", generate("Final Answer: It reads well."))
        llm = llm_config(
            None,
            backend="tgi",
            base_url=server.url,
            model="m",
            native_tools="off",
            tokenizer=str(tokenizer),
            context_tokens=2048,
            max_new_tokens=256,
        )
        result = Agent(session, make_tools(session), make_backend(llm)).turn(
            "does the composition feel balanced to you"
        )
    tokens = result.tokens
    parts = ("instructions", "tools", "priors", "history", "message")
    assert all(tokens[f"prompt_{part}"] > 0 for part in parts if part != "history")
    assert tokens["budget"] < 2048 - 256 and "count_estimated" not in tokens
    sent = load_counter(str(tokenizer))(server.requests[0].body["inputs"])
    assert tokens["request_max"] == sent == tokens["prompt"]  # counted as the server counts
    assert sum(tokens[f"prompt_{p}"] for p in parts) <= tokens["budget"]
