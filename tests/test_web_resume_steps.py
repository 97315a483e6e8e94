"""A resumed web thread shows the tool steps of its turns again, where they were: after the
user's message and before the answer, with their arguments and results (errors marked)."""

from __future__ import annotations

import asyncio
import json

import huggingface_hub.constants
import pytest
from fake_llm_server import FakeLLMServer, call, completion

from image_interpreter.agent.llm import llm_config
from image_interpreter.interfaces.chainlit_web import ThreadStore
from image_interpreter.interfaces.conversation import ChatConfig, Conversations
from image_interpreter.settings import load_settings

CHAT = "/v1/chat/completions"


@pytest.fixture(autouse=True)
def _hub_reaches_our_own_server(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_a_resumed_thread_shows_the_llms_tool_calls_as_steps(tmp_path):
    settings = load_settings(profile="tiny", device="cpu", data_dir=tmp_path / "data")
    with FakeLLMServer() as server:
        llm = llm_config(None, backend="openai", base_url=server.url + "/v1", model="m")
        conversations = Conversations(settings, config=ChatConfig(extract=""), llm=llm)
        try:
            threads = ThreadStore(conversations)
            session = conversations.start("steps")
            threads.link("thread-1", session.id, None, "steps")
            server.script(
                CHAT,
                completion(None, [call("undo", json.dumps({}))]),
                completion("There was nothing to undo yet."),
            )
            conversations.say(session, "could you take back whatever you did last, please?")
            steps = asyncio.run(threads.get_thread("thread-1"))["steps"]
        finally:
            conversations.close()

    assert [s["type"] for s in steps] == ["user_message", "tool", "assistant_message"]
    tool = steps[1]
    assert tool["name"] == "undo" and json.loads(tool["input"]) == {}
    assert tool["isError"] and "undo" in tool["output"].lower()  # nothing to undo: an error
    assert steps[2]["output"] == "There was nothing to undo yet."
    again = asyncio.run(_steps_again(settings, "thread-1"))
    assert [s["id"] for s in again] == [s["id"] for s in steps]  # stable ids across reads


async def _steps_again(settings, thread_id: str) -> list[dict]:
    conversations = Conversations(settings, config=ChatConfig(extract=""))
    try:
        return (await ThreadStore(conversations).get_thread(thread_id))["steps"]
    finally:
        conversations.close()
