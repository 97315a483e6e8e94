"""The turn's deadline on a whole LLM response, streamed or not.

httpx's timeouts bound each operation (connect, one read), not a response: a server that streams
forever, or trickles a byte every few seconds, never trips them, and the turn (and its session's
lock) would wait as long as the server likes. Inside `within(seconds)`:

- each request's timeouts are clamped to the time left (a server that never sends its headers:
  its read times out just after the deadline, and counts as the deadline);
- when the time is up, the sockets of the responses still being read are shut down: a blocked
  read wakes at once, the client raises, and the server sees the connection close (TGI then stops
  generating). The error that surfaces is `DeadlinePassed`, not retried.

The backends' HTTP clients carry the two hooks (`install_hooks`); outside `within` they do
nothing, so a client shared by the whole process (huggingface_hub's) is unaffected elsewhere.
The scope is a context variable: requests of other threads never see it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from image_interpreter.agent.llm.errors import LLMError, LLMUnavailable

TIMEOUT_KEYS = ("connect", "read", "write", "pool")
GRACE_S = 0.2  # a clamped timeout fires this much after the deadline: the deadline speaks first


class DeadlinePassed(LLMUnavailable):
    """No complete answer before the turn's deadline; the request was cut, not retried."""

    retryable = False


class Scope:
    """The requests of one `within` block and the time they have left."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._responses: list[Any] = []
        self._lock = threading.Lock()

    def left(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def track(self, response: Any) -> None:
        with self._lock:
            if not self.expired:
                self._responses.append(response)
                return
        _cut(response)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            responses, self._responses = self._responses, []
        for response in responses:
            _cut(response)


_current: ContextVar[Scope | None] = ContextVar("llm_deadline", default=None)


def _cut(response: Any) -> None:
    """Shut the socket of a response still being read (a finished one may be back in the
    pool, serving someone else)."""
    if getattr(response, "is_closed", True):
        return
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is None:
        return
    with suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def clamp_timeouts(request: Any) -> None:
    """httpx request hook: no timeout longer than the time the turn has left."""
    scope = _current.get()
    if scope is None:
        return
    left = scope.left() + GRACE_S
    given = dict(request.extensions.get("timeout") or {})
    request.extensions["timeout"] = {
        key: left if given.get(key) is None else min(given[key], left) for key in TIMEOUT_KEYS
    }


def track_response(response: Any) -> None:
    """httpx response hook: the response's socket can be cut when the time is up."""
    scope = _current.get()
    if scope is not None:
        scope.track(response)


def install_hooks(client: Any) -> Any:
    """Add the two hooks to an httpx (or httpx2) client, once; returns the client."""
    hooks = client.event_hooks
    if clamp_timeouts not in hooks["request"]:
        hooks["request"].append(clamp_timeouts)
    if track_response not in hooks["response"]:
        hooks["response"].append(track_response)
    return client


def expired() -> bool:
    """Whether the current `within` block's time is up (False outside one)."""
    scope = _current.get()
    return scope is not None and (scope.expired or scope.left() <= 0)


@contextmanager
def within(seconds: float, *, limit: float | None = None) -> Iterator[Scope]:
    """Bound every request made inside to `seconds` in all. Once the time is up, the block ends
    in `DeadlinePassed` (its message names `limit`, the turn's whole allowance), whether the
    client raised or returned what it had."""
    scope = Scope(max(seconds, 0.0))
    token = _current.set(scope)
    timer = threading.Timer(scope.seconds, scope.expire)
    timer.daemon = True
    timer.start()
    why = f"no complete answer within the turn's {limit or seconds:.3g} s; the request was cut"
    try:
        yield scope
    except LLMError as error:
        if scope.expired or scope.left() <= 0:
            raise DeadlinePassed(why) from error
        raise
    finally:
        timer.cancel()
        _current.reset(token)
    if scope.expired:  # some clients end a cut stream quietly, with what came so far
        raise DeadlinePassed(why)
