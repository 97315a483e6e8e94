"""An LLM server that never finishes its answer (an endless stream, a byte every 2 s) cannot
keep a turn past its deadline: the request is cut, the interpreter handles the message, and the
session is free for the next action at once."""

from __future__ import annotations

import itertools
import threading
import time

import huggingface_hub.constants
import pytest
from agent_helpers import start_session
from fake_llm_server import (
    FakeLLMServer,
    Reply,
    completion,
    completion_stream,
    generate,
    generate_stream,
)

from image_interpreter.agent.llm import llm_config
from image_interpreter.agent.loop import AgentConfig
from image_interpreter.interfaces.conversation import ChatConfig, Conversations
from image_interpreter.settings import load_settings

DEADLINE = 2.0
CHAT = "/v1/chat/completions"


@pytest.fixture(autouse=True)
def _hub_reaches_our_own_server(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def server():
    with FakeLLMServer() as running:
        yield running


def endless(reply: Reply) -> Reply:
    """The stream's first event again and again, forever."""
    first = next(iter(reply.events or []))
    return Reply(events=itertools.repeat(first), gap=0.05)


def trickled(reply: Reply) -> Reply:
    """The same answer, one byte every 2 s (each read well inside the client's timeout)."""
    reply.trickle = 2.0
    return reply


CASES = {
    "openai-endless-stream": ("openai", True, CHAT, endless(completion_stream(["Hi"] * 3))),
    "openai-trickle": ("openai", False, CHAT, trickled(completion("Hello there."))),
    "tgi-endless-stream": ("tgi", True, "/generate_stream", endless(generate_stream(["Hi"]))),
    "tgi-trickle": ("tgi", False, "/generate", trickled(generate("Final Answer: Hello."))),
    "tgi-trickle-stream": ("tgi", True, "/generate_stream", trickled(generate_stream(["Hi"]))),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_server_that_never_finishes_cannot_hold_the_turn_or_the_session(server, tmp_path, case):
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
        timeout_s=5.0,  # per read: never reached by either server
        max_retries=2,
    )
    settings = load_settings(profile="tiny", device="cpu", data_dir=tmp_path / "data")
    conversations = Conversations(
        settings,
        config=ChatConfig(extract=""),
        llm=llm,
        agent_config=AgentConfig(turn_timeout_s=DEADLINE, fast_path_confidence=0.95),
    )
    try:
        session = start_session(conversations.store)
        conversations.say(session.id, "set the depth weight to 0.5")  # the fast path: no LLM
        replies = []
        turn = threading.Thread(
            target=lambda: replies.append(conversations.say(session.id, "raise the arm")),
            daemon=True,
        )
        started = time.monotonic()
        turn.start()
        turn.join(DEADLINE + 1.0)
        took = time.monotonic() - started

        assert not turn.is_alive(), f"the turn still runs after {took:.1f} s"
        text = replies[0].text
        assert "built-in interpreter handled this message" in text
        assert "is unavailable" in text and f"{DEADLINE:g} s" in text  # the turn's deadline
        assert "Raised person 1's right arm" in text and session.current.version == 3
        assert len(server.requests) == 1  # a cut request is not sent again

        undone = conversations.act(session.id, "undo")
        assert undone.error is None and conversations.open(session.id).current.version == 2
        assert time.monotonic() - started < DEADLINE + 1.5
    finally:
        conversations.close()
