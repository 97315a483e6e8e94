"""The LLM's answer reaches the user as it is generated: the conversation core hands each token
to the front end while the turn still runs, and the web chat streams them into one message that
the finished reply then completes."""

from __future__ import annotations

import asyncio
import threading

import huggingface_hub.constants
import pytest
from chainlit.context import init_ws_context
from chainlit.session import WebsocketSession
from fake_llm_server import FakeLLMServer, completion_stream, generate_stream

from image_interpreter.agent.llm import llm_config
from image_interpreter.interfaces.chainlit_web import AnswerFeed
from image_interpreter.interfaces.conversation import ChatConfig, Conversations
from image_interpreter.settings import load_settings

CHAT = "/v1/chat/completions"
PIECES = ["I can ", "change the ", "pose, the depth ", "and the caption."]


@pytest.fixture(autouse=True)
def _hub_reaches_our_own_server(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def server():
    with FakeLLMServer() as running:
        yield running


def conversations_on(server: FakeLLMServer, tmp_path) -> Conversations:
    settings = load_settings(profile="tiny", device="cpu", data_dir=tmp_path / "data")
    llm = llm_config(None, backend="openai", base_url=server.url + "/v1", model="m", timeout_s=5)
    return Conversations(settings, config=ChatConfig(extract=""), llm=llm)


def test_the_answer_reaches_the_front_end_token_by_token_before_the_turn_ends(server, tmp_path):
    conversations = conversations_on(server, tmp_path)
    try:
        session = conversations.start("streaming")
        server.script(CHAT, completion_stream(PIECES, gap=0.02))
        seen: list[tuple[str, str | None]] = []

        def on_token(piece: str) -> None:
            # the reply is not stored yet: the turn is still running
            seen.append((piece, conversations.open(session.id).turns()[-1].role))

        reply = conversations.say(session, "what could you change, roughly?", on_token=on_token)
    finally:
        conversations.close()
    assert [piece for piece, _ in seen] == PIECES
    assert {role for _, role in seen} == {"user"}
    assert reply.text == "".join(PIECES)


def test_with_a_react_model_only_the_final_answer_streams(server, tmp_path):
    settings = load_settings(profile="tiny", device="cpu", data_dir=tmp_path / "data")
    llm = llm_config(
        None, backend="tgi", base_url=server.url, model="OpenAssistant/oasst-sft-1-pythia-12b"
    )
    conversations = Conversations(settings, config=ChatConfig(extract=""), llm=llm)
    react = ["Thought: no tool ", "is needed.\n", "Final Answer: ", *PIECES]
    try:
        session = conversations.start("streaming")
        server.script("/generate_stream", generate_stream(react, gap=0.01))
        seen: list[str] = []
        reply = conversations.say(session, "what could you change, roughly?", on_token=seen.append)
    finally:
        conversations.close()
    assert "".join(seen).strip() == "".join(PIECES) == reply.text
    assert "Thought" not in "".join(seen)


def as_socket(emitted: list[tuple[str, dict]]) -> None:
    async def emit(event: str, data: dict) -> None:
        emitted.append((event, data))

    socket = WebsocketSession(
        id="web-1",
        socket_id="sid-web-1",
        emit=emit,
        emit_call=lambda *a: None,
        user_env={},
        client_type="webapp",
        thread_id="thread-1",
    )
    init_ws_context(socket)


def test_the_web_chat_streams_tokens_into_one_message_that_the_reply_completes():
    emitted: list[tuple[str, dict]] = []

    async def chat() -> str:
        as_socket(emitted)
        answer = AnswerFeed("image-interpreter")

        def turn() -> None:  # tokens arrive from the turn's thread
            for piece in PIECES:
                answer.token(piece)

        worker = threading.Thread(target=turn)
        worker.start()
        await asyncio.to_thread(worker.join)
        await answer.close()
        assert answer.message is not None
        answer.message.content = "".join(PIECES) + "\n\n(version 2)"
        await answer.message.send()
        return answer.message.id

    message_id = asyncio.run(chat())
    start, *tokens = [(e, d) for e, d in emitted if e in ("stream_start", "stream_token")]
    assert start[0] == "stream_start" and start[1]["id"] == message_id
    assert start[1]["output"] == PIECES[0]
    assert [d["token"] for _, d in tokens] == PIECES[1:]
    assert {d["id"] for _, d in tokens} == {message_id}
    final = [d for e, d in emitted if e == "new_message"]
    assert [d["id"] for d in final] == [message_id]  # the same message, not a second one
    assert final[0]["output"].endswith("(version 2)")


def test_nothing_streamed_leaves_no_message():
    async def chat() -> None:
        as_socket([])
        answer = AnswerFeed()
        await answer.close()
        assert answer.message is None

    asyncio.run(chat())
