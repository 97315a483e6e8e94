"""A local stand-in for Slack's Web API and file host on loopback, for the Slack bot tests.

    with SlackMock() as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        slack.add_private_file("F1", png_bytes, "photo.png")   # -> its url_private_download
        ...
        slack.wait_for(lambda: slack.calls("chat.postMessage"))

It answers, for the bot token only (anything else gets `invalid_auth`): auth.test,
chat.postMessage (ts allocated in order; channel "CNOTIN" answers not_in_channel),
chat.update, chat.delete, files.getUploadURLExternal, the upload URL it hands out,
files.completeUploadExternal, conversations.replies (from `history`), and a response_url.
Private files under `/files-pri/<team>-<file id>/...` are served only with
`Authorization: Bearer <bot token>` (else 403). Every call is recorded with its merged
query, form and JSON parameters.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

T = TypeVar("T")

TEAM = "T0TEST"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"


@dataclass
class Call:
    method: str  # "chat.postMessage", "upload", "file", "respond"
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes = b""


class SlackMock:
    def __init__(self, bot_token: str = "xoxb-test-token", team: str = TEAM):
        self.bot_token = bot_token
        self.team = team
        self.records: list[Call] = []
        self.files: dict[str, tuple[bytes, str]] = {}  # file id -> (bytes, content type)
        self.uploads: dict[str, bytes] = {}  # uploaded file id -> bytes
        self.history: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (channel, ts) -> msgs
        self._changed = threading.Condition()
        self._ts = 1_700_000_000
        self._next_file = 0
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                mock._get(self)

            def do_POST(self) -> None:
                mock._post(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = self.url + "/api/"
        self.files_url = self.url + "/"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> SlackMock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- test helpers ---------------------------------------------------------------------------

    def add_private_file(
        self, file_id: str, data: bytes, name: str, content_type: str = "image/png"
    ) -> str:
        self.files[file_id] = (data, content_type)
        return f"{self.url}/files-pri/{self.team}-{file_id}/download/{name}"

    def calls(self, method: str) -> list[Call]:
        with self._changed:
            return [c for c in self.records if c.method == method]

    def posts(self, channel: str | None = None, thread_ts: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls("chat.postMessage")
            if (channel is None or c.params.get("channel") == channel)
            and (thread_ts is None or c.params.get("thread_ts") == thread_ts)
        ]

    def wait_for(self, check: Callable[[], T], timeout: float = 20.0) -> T:
        """Wait until `check()` is truthy (it is re-run after every recorded call)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = check()
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    methods = [c.method for c in self.records]
                    raise AssertionError(f"timed out waiting; Slack saw {methods}")
                self._changed.wait(min(left, 0.5))

    # --- serving --------------------------------------------------------------------------------

    def _record(self, call: Call) -> None:
        with self._changed:
            self.records.append(call)
            self._changed.notify_all()

    def _get(self, request: BaseHTTPRequestHandler) -> None:
        path = urlsplit(request.path).path
        headers = {k.lower(): v for k, v in request.headers.items()}
        if path.startswith("/files-pri/"):
            owner = path.split("/")[2]
            self._record(Call("file", {"path": path}, headers))
            team, _, file_id = owner.rpartition("-")
            if headers.get("authorization") != f"Bearer {self.bot_token}":
                return _send(request, 403, b"<html>sign in</html>", "text/html")
            if team != self.team or file_id not in self.files:
                return _send(request, 404, b"not found", "text/plain")
            data, kind = self.files[file_id]
            return _send(request, 200, data, kind)
        if path.startswith("/api/"):
            return self._api(request, path[5:], headers, b"")
        _send(request, 404, b"not found", "text/plain")

    def _post(self, request: BaseHTTPRequestHandler) -> None:
        path = urlsplit(request.path).path
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = request.rfile.read(int(headers.get("content-length") or 0))
        if path.startswith("/upload/"):
            file_id = path.rsplit("/", 1)[-1]
            self.uploads[file_id] = body
            self._record(Call("upload", {"file_id": file_id}, headers, body))
            return _send(request, 200, f"OK - {len(body)}".encode(), "text/plain")
        if path.startswith("/respond/"):
            self._record(Call("respond", json.loads(body or b"{}"), headers, body))
            return _send(request, 200, b"ok", "text/plain")
        if path.startswith("/api/"):
            return self._api(request, path[5:], headers, body)
        _send(request, 404, b"not found", "text/plain")

    def _api(
        self, request: BaseHTTPRequestHandler, method: str, headers: dict[str, str], body: bytes
    ) -> None:
        params: dict[str, Any] = dict(parse_qsl(urlsplit(request.path).query))
        kind = headers.get("content-type", "")
        if body and "json" in kind:
            params.update(json.loads(body))
        elif body and "x-www-form-urlencoded" in kind:
            params.update(parse_qsl(body.decode()))
        token = headers.get("authorization", "").removeprefix("Bearer ") or params.get("token")
        self._record(Call(method, params, headers, body))
        if token != self.bot_token:
            return _json(request, {"ok": False, "error": "invalid_auth"})
        answer = self._answer(method, params)
        _json(request, answer)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://test.slack.com/",
                "team": "Test",
                "user": "image-interpreter",
                "team_id": self.team,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
            }
        if method == "chat.postMessage":
            if params.get("channel") == "CNOTIN":
                return {"ok": False, "error": "not_in_channel"}
            with self._changed:
                self._ts += 1
                ts = f"{self._ts}.000100"
            return {
                "ok": True,
                "channel": params.get("channel"),
                "ts": ts,
                "message": {"text": params.get("text"), "ts": ts, "bot_id": BOT_ID},
            }
        if method == "conversations.replies":
            messages = self.history.get((params.get("channel"), params.get("ts")))
            if messages is None:
                return {"ok": False, "error": "thread_not_found"}
            latest = float(params.get("latest") or "inf")
            return {"ok": True, "messages": [m for m in messages if float(m["ts"]) < latest]}
        if method in ("chat.update", "chat.delete"):
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        if method == "files.getUploadURLExternal":
            with self._changed:
                self._next_file += 1
                file_id = f"FUP{self._next_file}"
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = json.loads(params.get("files") or "[]")
            missing = [f["id"] for f in files if f["id"] not in self.uploads]
            if missing:
                return {"ok": False, "error": "file_not_found", "missing": missing}
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return {"ok": False, "error": "unknown_method"}


def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
    request.send_response(status)
    request.send_header("Content-Type", kind)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


def _json(request: BaseHTTPRequestHandler, data: dict[str, Any]) -> None:
    _send(request, 200, json.dumps(data).encode(), "application/json; charset=utf-8")
