"""Upload bounds the web app enforces on the server, where Chainlit leaves them to the browser.

Chainlit's `POST /project/file` reads the whole multipart body (Starlette spools it to a
temporary file) before it checks `max_size_mb`, and never checks `max_files`: a client that
skips the browser can send any size and any number of files. `UploadLimit`, an ASGI middleware
in front of Chainlit's server, answers before the body is buffered:

- 413 when the declared Content-Length is over the limit (nothing is read), or when a body
  without one (chunked) passes the limit while it streams in (reading stops there);
- 429 when the Chainlit session already holds `max_session_files` uploads.

`max_files` per message is applied to the message's files (`first_files`): the rest are named
and not used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_PATH = "/project/file"
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file itself


def session_files(session_id: str) -> int | None:
    """How many uploads Chainlit's session `session_id` holds (None: no such session)."""
    from chainlit.session import WebsocketSession

    session = WebsocketSession.get_by_id(session_id)
    return None if session is None else len(session.files)


class UploadLimit:
    """See the module docstring. `max_bytes`: the largest file; `count_files(session_id)`: the
    uploads a session holds (Chainlit's own sessions by default)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        max_session_files: int = 64,
        count_files: Callable[[str], int | None] = session_files,
    ):
        self.app = app
        self.max_body = max_bytes + MULTIPART_SLACK
        self.max_bytes = max_bytes
        self.max_session_files = max_session_files
        self.count_files = count_files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and scope.get("path", "").rstrip("/").endswith(UPLOAD_PATH)
        ):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await _refuse(send, 413, self._too_large())
            return
        session_id = (
            parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id") or [""]
        )[0]
        held = self.count_files(session_id) if session_id else None
        if held is not None and held >= self.max_session_files:
            await _refuse(
                send,
                429,
                f"This chat already holds {held} uploads, the most it may; start a new chat.",
            )
            return

        seen = 0
        state = {"started": False, "refused": False}

        async def counted() -> Message:
            nonlocal seen
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:  # stop reading: answer now, the app sees a hang-up
                    if not state["started"]:
                        await _refuse(send, 413, self._too_large())
                    state["refused"] = True
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message: Message) -> None:
            if state["refused"]:
                return  # the app's own answer to the hang-up is not sent
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)

    def _too_large(self) -> str:
        return f"The file is too large: the limit is {self.max_bytes / 2**20:g} MB."


def first_files(files: Sequence[Any], max_files: int) -> tuple[list[Any], str | None]:
    """The first `max_files` files of a message, and a note naming the others (or None)."""
    kept, rest = list(files[:max_files]), files[max_files:]
    if not rest:
        return kept, None
    names = ", ".join(f"“{getattr(f, 'name', None) or 'upload'}”" for f in rest[:5])
    more = f" and {len(rest) - 5} more" if len(rest) > 5 else ""
    return kept, (
        f"{len(rest)} of the files were not used ({names}{more}): one message takes at most"
        f" {max_files}."
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = ('{"detail": "' + detail.replace('"', "'") + '"}').encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
