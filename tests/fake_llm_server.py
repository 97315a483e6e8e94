"""A scripted LLM server on loopback for protocol tests: it speaks text-generation-inference's
`/generate` and `/generate_stream` (server-sent events) and the OpenAI/TGI Messages API
`/v1/chat/completions` (JSON or SSE chunks, with tool calls), so the real clients
(huggingface_hub's InferenceClient, langchain-openai over httpx) run end to end.

    with FakeLLMServer() as server:
        server.script("/generate", generate("Final Answer: hi"))
        ... server.url ...
        assert server.paths() == ["/generate"]

Each route answers from its own queue of `Reply`s, in order; a request with nothing scripted
gets a 599 (and the test fails loudly). Replies can be slow (`delay` before the headers,
`gap` between SSE events), errors (`status`), or streams.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or str sent as is
    events: Iterable[Any] | None = None  # SSE: dicts (sent as JSON) or strs (sent as is);
    # an endless iterator makes a stream that never ends
    delay: float = 0.0  # seconds before answering
    trickle: float = 0.0  # seconds between single bytes of the body (headers come at once)
    gap: float = 0.0  # seconds between SSE events
    stall_after: int | None = None  # SSE: events sent before stalling for `stall` seconds
    stall: float = 0.0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeLLMServer:
    queues: dict[str, deque[Reply]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server._answer(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                server._answer(self, body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # --- control ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.queues.setdefault(path, deque()).extend(replies)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def left(self) -> int:
        """Scripted replies not yet asked for."""
        return sum(len(q) for q in self.queues.values())

    # --- answering --------------------------------------------------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append(
                Request(path, {k.lower(): v for k, v in handler.headers.items()}, body)
            )
            reply = self.next_reply(path, body)
        if reply is None:
            reply = Reply(status=599, body={"error": f"nothing scripted for {path}"})
        if reply.delay and self._stop.wait(reply.delay):
            return
        try:
            if reply.events is not None:
                self._stream(handler, reply)
            else:
                self._json(handler, reply)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
            pass

    def next_reply(self, path: str, body: Any) -> Reply | None:
        """The answer to a request (called under the lock): the route's next scripted reply.
        Subclasses check the request first (tests/tgi_server.py)."""
        queue = self.queues.get(path)
        return queue.popleft() if queue else None

    def _json(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        payload = data.encode("utf-8")
        handler.send_response(reply.status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        self._write(handler, payload, reply.trickle)

    def _write(self, handler: BaseHTTPRequestHandler, data: bytes, trickle: float) -> None:
        """All at once, or one byte every `trickle` seconds."""
        if not trickle:
            handler.wfile.write(data)
            handler.wfile.flush()
            return
        for byte in data:
            if self._stop.wait(trickle):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    def _stream(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        handler.send_response(reply.status)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("cache-control", "no-cache")
        handler.end_headers()
        for number, event in enumerate(reply.events or []):
            if reply.gap and self._stop.wait(reply.gap):
                return
            if number == reply.stall_after and self._stop.wait(reply.stall):
                return
            data = event if isinstance(event, str) else json.dumps(event)
            self._write(handler, f"data: {data}\n\n".encode(), reply.trickle)


def free_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- TGI ------------------------------------------------------------------------------------


def generate(text: str, tokens: int | None = None) -> Reply:
    """TGI /generate with details."""
    count = tokens if tokens is not None else max(1, len(text.split()))
    return Reply(
        body={
            "generated_text": text,
            "details": {
                "finish_reason": "stop_sequence",
                "generated_tokens": count,
                "seed": None,
                "prefill": [],
                "tokens": [],
            },
        }
    )


def generate_stream(pieces: list[str], *, gap: float = 0.0) -> Reply:
    """TGI /generate_stream: one event per token, the last with the full text and details."""
    events: list[Any] = []
    for number, piece in enumerate(pieces):
        last = number == len(pieces) - 1
        events.append(
            {
                "index": number,
                "token": {"id": number, "text": piece, "logprob": -0.1, "special": False},
                "generated_text": "".join(pieces) if last else None,
                "details": (
                    {"finish_reason": "eos_token", "generated_tokens": len(pieces), "seed": None}
                    if last
                    else None
                ),
                "top_tokens": None,
            }
        )
    return Reply(events=events, gap=gap)


# --- chat completions (OpenAI, TGI Messages API) --------------------------------------------


def call(name: str, arguments: Any, ident: str = "call_1") -> dict[str, Any]:
    """A tool call; `arguments` a str is sent as is (it may be broken JSON), else as TGI does
    (an object) or, with `json.dumps` by the caller, as OpenAI does (a string)."""
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion(
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    *,
    usage: tuple[int, int] | None = (50, 10),
) -> Reply:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "fake",
        "system_fingerprint": "fake",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
    }
    if usage is not None:
        body["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        }
    return Reply(body=body)


def completion_stream(
    pieces: list[str] = (),  # type: ignore[assignment]
    tool_calls: list[tuple[str, list[str]]] | None = None,
    *,
    usage: tuple[int, int] | None = (40, 8),
    gap: float = 0.0,
) -> Reply:
    """SSE chunks: content pieces, then tool calls as (name, argument pieces), then usage."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "fake",
            "system_fingerprint": "fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in pieces]
    for index, (name, parts) in enumerate(tool_calls or []):
        events.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": f"call_{index + 1}",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for part in parts:
            events.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
            )
    events.append(chunk({}, "tool_calls" if tool_calls else "stop"))
    if usage is not None:
        events.append(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": "fake",
                "system_fingerprint": "fake",
                "choices": [],
                "usage": {
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": sum(usage),
                },
            }
        )
    events.append("[DONE]")
    return Reply(events=events, gap=gap)
