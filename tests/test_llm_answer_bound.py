"""The model's answer is bounded by `max_answer_chars`: a server that ignores max_new_tokens and
sends megabytes (or streams without end) gives a clipped reply that says so, stored clipped."""

from __future__ import annotations

import itertools
import random
import threading

import huggingface_hub.constants
import pytest
from agent_helpers import make_tools, start_session
from fake_llm_server import (
    FakeLLMServer,
    Reply,
    completion,
    completion_stream,
    generate,
    generate_stream,
)

from image_interpreter.agent.llm import Backoff, llm_config, make_backend
from image_interpreter.agent.loop import Agent, AgentConfig
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

LIMIT = 500
HUGE = "blah " * 60_000  # 300,000 characters
CHAT = "/v1/chat/completions"


@pytest.fixture(autouse=True)
def _hub_reaches_our_own_server(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def session():
    store = SessionStore.from_settings(load_settings())
    yield start_session(store)
    store.close()


@pytest.fixture
def server():
    with FakeLLMServer() as running:
        yield running


def endless(reply: Reply) -> Reply:
    """The stream's first event, then its second (a piece of text) again and again, forever."""
    first, piece = list(reply.events or [])[:2]
    return Reply(events=itertools.chain([first], itertools.repeat(piece)), gap=0.001)


CASES = {
    "openai": ("openai", False, CHAT, completion(HUGE)),
    "openai-endless-stream": ("openai", True, CHAT, endless(completion_stream(["blah " * 20]))),
    "tgi": ("tgi", False, "/generate", generate("Final Answer: " + HUGE)),
    "tgi-endless-stream": (
        "tgi",
        True,
        "/generate_stream",
        endless(generate_stream(["Final Answer:", " blah" * 20, "."])),
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_huge_or_endless_answer_is_clipped_and_the_reply_says_so(server, session, case):
    backend, stream, path, reply = CASES[case]
    server.script(path, reply)
    base = server.url + "/v1" if backend == "openai" else server.url
    llm = llm_config(
        None,
        backend=backend,
        base_url=base,
        model="m",
        stream=stream,
        native_tools="off" if backend == "tgi" else "on",
        max_answer_chars=LIMIT,
        max_retries=0,
    )
    agent = Agent(
        session,
        make_tools(session),
        make_backend(llm),
        AgentConfig(turn_timeout_s=120, summarise_with_llm=False),
        backoff=Backoff(retries=0, rng=random.Random(1)),
    )
    results = []
    turn = threading.Thread(
        target=lambda: results.append(agent.turn("the depth map matters too much")), daemon=True
    )
    turn.start()
    turn.join(30)  # an endless stream is not read to its (missing) end

    assert not turn.is_alive()
    result = results[0]
    assert result.path == "llm" and not result.fell_back
    assert "blah blah" in result.reply and "clipped" in result.reply
    assert f"longer than {LIMIT:,} characters" in result.reply
    assert len(result.reply) < LIMIT + 200
    assert session.turns()[-1].text == result.reply  # stored clipped, not verbatim


def test_a_short_answer_is_not_clipped(server, session):
    server.script(CHAT, completion("Halved the depth weight."))
    llm = llm_config(None, backend="openai", base_url=server.url + "/v1", model="m")
    agent = Agent(session, make_tools(session), make_backend(llm), AgentConfig())
    assert agent.turn("the depth map matters too much").reply == "Halved the depth weight."


def test_the_bound_is_a_setting(monkeypatch):
    monkeypatch.setenv("IMAGE_INTERPRETER_LLM__MAX_ANSWER_CHARS", "1234")
    assert llm_config(load_settings()).max_answer_chars == 1234


def test_every_front_end_gets_a_reply_text_of_bounded_length(server, tmp_path):
    from image_interpreter.interfaces.conversation import ChatConfig, Conversations

    server.script(CHAT, completion("word " * 10_000))  # 50,000 characters, under the LLM bound
    llm = llm_config(
        None,
        backend="openai",
        base_url=server.url + "/v1",
        model="m",
        max_answer_chars=1_000_000,
        max_retries=0,
    )
    settings = load_settings(profile="tiny", device="cpu", data_dir=tmp_path / "data")
    conversations = Conversations(
        settings, config=ChatConfig(extract="", max_reply_chars=1000), llm=llm
    )
    try:
        session = start_session(conversations.store)
        reply = conversations.say(session.id, "the depth map matters too much")
        assert reply.text.startswith("word word") and len(reply.text) < 1100
        assert "The rest of this reply, 48,999 characters, is not shown." in reply.text
    finally:
        conversations.close()
