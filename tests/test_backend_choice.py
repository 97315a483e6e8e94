"""The LLM backend chosen for a conversation is stored with its session: after a restart, or in a
second process on the same database, the conversation goes on with the same backend."""

from __future__ import annotations

import huggingface_hub.constants
import pytest
from fake_llm_server import FakeLLMServer, completion

from image_interpreter.interfaces.conversation import ChatConfig, Conversations
from image_interpreter.settings import load_settings

CHAT = "/v1/chat/completions"
QUESTION = "what could you change here, roughly?"  # not a command: it needs the LLM


@pytest.fixture(autouse=True)
def _hub_reaches_our_own_server(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def server():
    with FakeLLMServer() as running:
        yield running


def process(server: FakeLLMServer, tmp_path) -> Conversations:
    """One app process: the interpreter by default, an OpenAI-compatible server configured."""
    llm = {"backend": "interpreter", "base_url": server.url + "/v1", "model": "m", "timeout_s": 5}
    settings = load_settings(profile="tiny", device="cpu", data_dir=tmp_path / "data", llm=llm)
    return Conversations(settings, config=ChatConfig(extract=""))


def test_a_second_process_goes_on_with_the_backend_chosen_in_the_first(server, tmp_path):
    first, second = process(server, tmp_path), process(server, tmp_path)
    try:
        session = first.start("backends")
        other = first.start("left alone")
        assert "OpenAI-compatible server" in first.set_backend(session, "openai")

        assert second.backend(session.id) == "openai"
        assert second.backend(other.id) == "interpreter"  # only the session it was chosen for
        server.script(CHAT, completion("I can change the pose, the depth and the caption."))
        reply = second.say(session.id, QUESTION)
        assert reply.text.startswith("I can change the pose")
        assert server.paths() == [CHAT]
    finally:
        first.close()
        second.close()


def test_a_change_in_one_process_is_followed_by_one_that_has_the_session_open(server, tmp_path):
    first, second = process(server, tmp_path), process(server, tmp_path)
    try:
        session = first.start("backends")
        first.set_backend(session, "openai")
        assert second.backend(session.id) == "openai"  # open in the second process now

        first.set_backend(session, "interpreter")
        second.say(session.id, QUESTION)
        assert server.paths() == []  # the interpreter answered: no request to the LLM
        assert second.backend(session.id) == "interpreter"
    finally:
        first.close()
        second.close()


def test_after_a_restart_the_session_keeps_its_backend(server, tmp_path):
    before = process(server, tmp_path)
    session = before.start("backends")
    before.set_backend(session, "openai")
    before.close()

    after = process(server, tmp_path)
    try:
        assert after.backend(session.id) == "openai"
        assert after.backend(after.start("new").id) == "interpreter"
    finally:
        after.close()
