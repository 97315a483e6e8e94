"""Upload bounds the web app enforces itself (Chainlit checks size only after buffering the body,
and the number of files only in the browser): a client that skips the browser gets 413 before
the body is buffered, 429 past the files a chat may hold, and a message's extra files are named
and not used."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import FastAPI, UploadFile
from starlette.testclient import TestClient

from image_interpreter.interfaces.web_uploads import UploadLimit, first_files

LIMIT = 100_000


@pytest.fixture
def upload():
    """A FastAPI route shaped like Chainlit's `POST /project/file`, behind the middleware."""
    app = FastAPI()
    received: list[int] = []
    held = {"s1": 0, "full": 4}

    @app.post("/project/file")
    async def upload_file(session_id: str, file: UploadFile) -> dict:
        received.append(len(await file.read()))
        return {"ok": True}

    app.add_middleware(UploadLimit, max_bytes=LIMIT, max_session_files=4, count_files=held.get)
    return TestClient(app), received


def post(client, size: int, session: str = "s1", **kwargs):
    files = {"file": ("photo.png", b"x" * size, "image/png")}
    return client.post(f"/project/file?session_id={session}", files=files, **kwargs)


def test_a_file_within_the_limit_is_accepted(upload):
    client, received = upload
    assert post(client, 5_000).status_code == 200 and received == [5_000]


def test_a_declared_oversized_body_is_refused_before_it_is_read(upload):
    client, received = upload
    response = post(client, 3 * LIMIT)
    assert response.status_code == 413 and "too large" in response.json()["detail"]
    assert received == []  # Chainlit's handler never ran


def test_a_chunked_oversized_body_is_refused_while_it_streams(upload):
    client, received = upload

    def body():
        for _ in range(100):
            yield b"y" * 10_000  # 1 MB in all, no Content-Length

    response = client.post(
        "/project/file?session_id=s1",
        content=body(),
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    assert response.status_code == 413 and received == []


def test_a_chat_holding_the_most_uploads_gets_no_more(upload):
    client, received = upload
    response = post(client, 10, session="full")
    assert response.status_code == 429 and "start a new chat" in response.json()["detail"]
    assert received == []


def test_other_requests_pass_untouched(upload):
    client, _ = upload
    assert client.get("/project/file").status_code == 405  # the route's own answer


def test_a_message_uses_at_most_max_files_and_names_the_rest():
    files = [SimpleNamespace(name=f"p{n}.png") for n in range(7)]
    kept, note = first_files(files, 4)
    assert [f.name for f in kept] == ["p0.png", "p1.png", "p2.png", "p3.png"]
    assert note is not None and "3 of the files were not used" in note
    assert "“p4.png”" in note and "at most 4" in note
    assert first_files(files[:2], 4) == (files[:2], None)


def test_uploads_are_counted_in_chainlits_own_session():
    from chainlit.session import WebsocketSession

    from image_interpreter.interfaces.web_uploads import session_files

    socket = WebsocketSession(
        id="count-me",
        socket_id="sid-count-me",
        emit=lambda *a: None,
        emit_call=lambda *a: None,
        user_env={},
        client_type="webapp",
    )
    socket.files.update({f"f{n}": {} for n in range(3)})
    assert session_files("count-me") == 3 and session_files("no-such-session") is None
