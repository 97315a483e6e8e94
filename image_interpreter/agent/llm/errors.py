"""What can go wrong talking to an LLM server, in three kinds the loop acts on:

- `LLMUnavailable`: not reachable or not answering (connection refused, timeout, 5xx, 429):
  retried with backoff, then the turn falls back to the built-in interpreter;
- `ToolsUnsupported`: the server refused a request because of its tools (no tool calling, no chat
  template): with `native_tools=auto` the backend switches to the ReAct text protocol;
- `LLMRequestError`: any other refusal (401, 404 model, 400): not retried, the turn falls back.

`classify` maps the exceptions of httpx, huggingface_hub and openai onto them, so the loop never
needs to know which client raised.
"""

from __future__ import annotations

import builtins
import re
import sys

import httpx

from image_interpreter.errors import ImageInterpreterError


class LLMError(ImageInterpreterError):
    """The LLM could not answer. `reason` is short and readable ('connection refused')."""

    retryable = False

    def __init__(self, reason: str, *, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class LLMUnavailable(LLMError):
    """Not reachable or not answering now; worth retrying."""

    retryable = True


class LLMRequestError(LLMError):
    """The server answered and refused the request; retrying the same request will not help."""


class ToolsUnsupported(LLMRequestError):
    """The server refused the request because of its tools, or has no chat template."""


_TOOLS_WORDS = re.compile(r"tool|function|template|grammar", re.IGNORECASE)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def from_status(status: int, body: str, *, with_tools: bool = False) -> LLMError:
    """The error for an HTTP status and its body."""
    detail = _short(body) if body else ""
    reason = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429 or status >= 500:
        return LLMUnavailable(reason, status=status)
    if with_tools and status in (400, 404, 422) and (status == 404 or _TOOLS_WORDS.search(body)):
        return ToolsUnsupported(reason, status=status)
    return LLMRequestError(reason, status=status)


def classify(error: BaseException, *, with_tools: bool = False) -> LLMError:
    """The LLMError for an exception raised by a client library (httpx, huggingface_hub,
    openai). `with_tools`: the request carried tools (so a 4xx may mean they are unsupported)."""
    if isinstance(error, LLMError):
        return error
    # openai's errors wrap httpx's; look at them first. Only when openai is loaded: otherwise
    # the error cannot be one of its own, and importing it takes seconds in a turn that may be
    # out of time already.
    openai = sys.modules.get("openai")
    if openai is not None:
        if isinstance(error, openai.APITimeoutError):
            return LLMUnavailable(f"no answer within the timeout ({_short(str(error), 80)})")
        if isinstance(error, openai.APIConnectionError):
            return LLMUnavailable(_connection_reason(error.__cause__ or error))
        if isinstance(error, openai.APIStatusError):
            return from_status(error.status_code, _body(error.response), with_tools=with_tools)
    try:
        from huggingface_hub.errors import (
            HfHubHTTPError,
            InferenceTimeoutError,
            OfflineModeIsEnabled,
            OverloadedError,
            TextGenerationError,
            ValidationError,
        )

        if isinstance(error, TextGenerationError):
            # TGI's typed errors ({"error": ..., "error_type": ...}), raised from the HTTP error
            # (when there was one: inside a stream there is none)
            cause = error.__cause__
            status = getattr(getattr(cause, "response", None), "status_code", None)
            reason = f"{type(error).__name__}: {_short(str(error), 160)}"
            if status is not None:
                reason = f"HTTP {status}: {reason}"
            if isinstance(error, ValidationError):
                return LLMRequestError(reason, status=status)
            if isinstance(error, OverloadedError) or status is None or status >= 500:
                return LLMUnavailable(reason, status=status)
            return from_status(status, str(error), with_tools=with_tools)

        if isinstance(error, OfflineModeIsEnabled):
            return LLMRequestError(
                "HF_HUB_OFFLINE is set, and huggingface_hub then refuses every request, including"
                " to this TGI server. Unset HF_HUB_OFFLINE for the agent, or use backend 'openai'"
                " with TGI's Messages API (base_url ending in /v1)."
            )
        if isinstance(error, InferenceTimeoutError):
            return LLMUnavailable("no answer within the timeout")
        if isinstance(error, HfHubHTTPError) and error.response is not None:
            return from_status(
                error.response.status_code, _body(error.response), with_tools=with_tools
            )
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        pass
    if isinstance(error, httpx.TimeoutException | builtins.TimeoutError):
        return LLMUnavailable("no answer within the timeout")
    if isinstance(error, httpx.HTTPStatusError):
        return from_status(error.response.status_code, _body(error.response), with_tools=with_tools)
    if isinstance(error, httpx.TransportError | ConnectionError):
        return LLMUnavailable(_connection_reason(error))
    if isinstance(error, ValueError | KeyError | TypeError):
        return LLMRequestError(f"the server's answer could not be read ({_short(str(error), 120)})")
    return LLMRequestError(f"{type(error).__name__}: {_short(str(error), 160)}")


def _connection_reason(error: BaseException) -> str:
    text = str(error)
    if isinstance(error, httpx.ConnectError | ConnectionRefusedError) or "refused" in text.lower():
        return (
            "connection refused"
            if "refused" in text.lower()
            else f"cannot connect ({_short(text, 100)})"
        )
    if isinstance(error, httpx.RemoteProtocolError):
        return f"the connection broke ({_short(text, 100)})"
    return f"cannot connect ({_short(text, 100) or type(error).__name__})"


def _body(response: httpx.Response | None) -> str:
    if response is None:
        return ""
    try:
        return response.text
    except (httpx.ResponseNotRead, httpx.StreamError):
        try:
            response.read()
            return response.text
        except Exception:  # a streamed body that is gone
            return ""
