"""HF_HUB_OFFLINE keeps huggingface_hub off the hub, not off the operator's own TGI server."""

from __future__ import annotations

import pytest
from fake_llm_server import FakeLLMServer, generate
from huggingface_hub import constants, get_session
from huggingface_hub.errors import OfflineModeIsEnabled
from langchain_core.messages import HumanMessage

from image_interpreter.agent.llm import llm_config, make_backend


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_the_tgi_backend_talks_to_its_server_while_the_hub_is_offline():
    with FakeLLMServer() as server:
        server.script("/generate", generate("Final Answer: hello"))
        backend = make_backend(
            llm_config(None, backend="tgi", base_url=server.url, model="m", max_retries=0)
        )
        reply = backend.complete([HumanMessage("hi")])
    assert reply.text == "Final Answer: hello" and server.paths() == ["/generate"]
    with pytest.raises(OfflineModeIsEnabled):  # the hub itself stays out of reach
        get_session().get("https://huggingface.co/api/models/gpt2")
    with pytest.raises(OfflineModeIsEnabled):  # and so does any other server not configured
        get_session().get("http://127.0.0.1:9/generate")
