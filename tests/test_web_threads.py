"""The web app's thread list (Chainlit's data layer over our database): a web socket that names
another's thread by its id cannot rename it or change its metadata, signed in or not; its owner
still can."""

from __future__ import annotations

import asyncio

import pytest
from chainlit.context import init_ws_context
from chainlit.session import WebsocketSession
from chainlit.user import User

from image_interpreter.interfaces.chainlit_web import ThreadStore
from image_interpreter.interfaces.conversation import ChatConfig, Conversations
from image_interpreter.settings import load_settings


@pytest.fixture
def threads(tmp_path):
    settings = load_settings(profile="tiny", device="cpu", data_dir=tmp_path / "data")
    conversations = Conversations(settings, config=ChatConfig(extract=""))
    yield ThreadStore(conversations)
    conversations.close()


def as_socket(session_id: str, thread_id: str, user=None) -> WebsocketSession:
    """What Chainlit sets up for a web socket (the thread id is whatever the client sent)."""
    socket = WebsocketSession(
        id=session_id,
        socket_id=f"sid-{session_id}",
        emit=lambda *a: None,
        emit_call=lambda *a: None,
        user_env={},
        client_type="webapp",
        thread_id=thread_id,
        user=user,
    )
    init_ws_context(socket)
    return socket


def first_message(threads: ThreadStore, session_id: str, thread_id: str, text: str, user=None):
    """Chainlit's first interaction: the thread is named after it; the app links its session."""

    async def run() -> None:
        socket = as_socket(session_id, thread_id, user)
        await threads.update_thread(thread_id, name=text, user_id=getattr(user, "id", None))
        await threads.update_thread(thread_id, metadata={"chat_profile": text})
        await asyncio.to_thread(threads.link, thread_id, f"session-of-{session_id}", user, text)
        socket.to_clear = True

    asyncio.run(run())


def test_an_anonymous_socket_cannot_rename_a_thread_it_does_not_own(threads):
    first_message(threads, "alice-tab", "thread-a", "Alice's holiday photo")
    first_message(threads, "mallory-tab", "thread-a", "pwned")  # names Alice's thread id

    thread = asyncio.run(threads.get_thread("thread-a"))
    assert thread["name"] == "Alice's holiday photo"
    assert thread["metadata"] == {
        "chat_profile": "Alice's holiday photo",
        "session_id": "session-of-alice-tab",
    }  # the owner's record is kept, never shown

    first_message(threads, "alice-tab", "thread-a", "renamed by Alice")  # the owner still can
    assert asyncio.run(threads.get_thread("thread-a"))["name"] == "renamed by Alice"


def test_a_signed_in_users_thread_is_changed_only_by_that_user(threads):
    alice = asyncio.run(threads.create_user(User(identifier="alice")))
    mallory = asyncio.run(threads.create_user(User(identifier="mallory")))
    first_message(threads, "alice-tab", "thread-b", "Alice's portrait", alice)
    first_message(threads, "mallory-tab", "thread-b", "pwned", mallory)
    first_message(threads, "anon-tab", "thread-b", "pwned too")

    thread = asyncio.run(threads.get_thread("thread-b"))
    assert thread["name"] == "Alice's portrait" and thread["userIdentifier"] == "alice"
    assert thread["metadata"]["session_id"] == "session-of-alice-tab"

    first_message(threads, "alice-other-tab", "thread-b", "Alice again", alice)
    assert asyncio.run(threads.get_thread("thread-b"))["name"] == "Alice again"
