"""With an LLM configured, a message about the body that the interpreter does not fully
understand goes to the LLM, with the priors summary in words; it is never acted on half-read."""

from __future__ import annotations

import json
import random

import huggingface_hub.constants
import pytest
from agent_helpers import make_tools, start_session
from fake_llm_server import FakeLLMServer, completion

from image_interpreter.agent.llm import Backoff, llm_config, make_backend
from image_interpreter.agent.loop import Agent
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

CHAT = "/v1/chat/completions"


@pytest.fixture(autouse=True)
def _hub_reaches_our_own_server(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def session():
    store = SessionStore.from_settings(load_settings())
    yield start_session(store)
    store.close()


def test_a_half_understood_body_message_goes_to_the_llm_with_the_priors(session):
    with FakeLLMServer() as server:
        chosen = llm_config(None, backend="openai", base_url=server.url + "/v1", model="m",
                            timeout_s=2)  # fmt: skip
        backoff = Backoff(retries=0, sleep=lambda _: None, rng=random.Random(1))
        agent = Agent(session, make_tools(session), make_backend(chosen), backoff=backoff)
        server.script(CHAT, completion("Which way should she wiggle it?"))
        result = agent.turn("wiggle her left leg and raise her right arm")
    assert result.used_llm and session.current.version == 1  # nothing applied half-read
    sent = json.dumps(server.requests[0].body)
    assert "wiggle her left leg" in sent
    assert "left leg down" in sent  # the priors summary, people and limbs in words


def test_without_an_llm_the_reply_names_the_unknown_words_and_the_closest_commands(session):
    agent = Agent(session, make_tools(session))
    result = agent.turn("wiggle her left leg")
    assert not result.used_llm and session.current.version == 1
    assert "“wiggle”" in result.reply and "“raise the left leg”" in result.reply
