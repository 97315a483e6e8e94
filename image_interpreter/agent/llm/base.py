"""The interface every LLM backend offers the loop, in LangChain's message types.

- `chat(messages, tools)`: one assistant message through the server's native tool calling
  (`AIMessage.tool_calls`, and `invalid_tool_calls` for arguments that are not JSON);
- `complete(messages, stop)`: one assistant message of plain text, for the ReAct protocol
  (TGI's /generate on a prompt in the model's chat format, or a chat completion without tools).

Both stream when asked (`on_token` receives text as it arrives) and report token usage when the
server returns it (else an estimate, flagged). Errors are `LLMError`s (see `errors`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from image_interpreter.agent.llm.config import LLMConfig
from image_interpreter.agent.llm.text import content_text

OnToken = Callable[[str], None]


@dataclass
class LLMReply:
    """One answer of the model, with what it cost."""

    message: AIMessage
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_estimated: bool = False
    clipped: bool = False  # the answer was longer than `max_answer_chars` and was cut

    @property
    def text(self) -> str:
        return content_text(self.message.content)


class LLMBackend(ABC):
    """A model behind a server. `native_tools` says whether `chat` with tools is used now; with
    config `native_tools=auto` it turns False when the server refuses tools."""

    name: str = "llm"

    def __init__(self, config: LLMConfig):
        self.config = config
        self.native_tools = config.native_tools != "off"
        self.switch_reason: str | None = None

    def where(self) -> str:
        return self.config.where()

    def tools_refused(self, reason: str) -> bool:
        """The server refused tools: with 'auto', use ReAct from now on (True); else False."""
        if self.config.native_tools != "auto":
            return False
        self.native_tools = False
        self.switch_reason = reason
        return True

    @abstractmethod
    def chat(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[BaseTool | dict[str, Any]],
        *,
        on_token: OnToken | None = None,
    ) -> LLMReply:
        """One assistant message, with native tool calls (`tools`: LangChain tools, or their
        OpenAI function-calling dicts)."""

    @abstractmethod
    def complete(
        self,
        messages: Sequence[BaseMessage],
        *,
        stop: Sequence[str] = (),
        on_token: OnToken | None = None,
    ) -> LLMReply:
        """One assistant message of text (no tools sent), stopping at `stop`."""

    def request_text(self, messages: Sequence[BaseMessage]) -> str:
        """The prompt of a request without tools as the server receives it, for counting its
        tokens. Here: ChatML, like most chat templates; a backend that renders the prompt
        itself (TGI's /generate) returns exactly what it sends."""
        return (
            "".join(
                f"<|im_start|>{_role(m)}\n{content_text(m.content).strip()}<|im_end|>\n"
                for m in messages
            )
            + "<|im_start|>assistant\n"
        )

    def close(self) -> None:  # noqa: B027 - optional
        """Free connections."""


def _role(message: BaseMessage) -> str:
    return {"system": "system", "ai": "assistant", "tool": "tool"}.get(message.type, "user")


def openai_tools(tools: Sequence[BaseTool | dict[str, Any]]) -> list[dict[str, Any]]:
    """The tools in OpenAI's function-calling format (name, description, JSON schema); a
    dict already in that format (a compact view of a tool) passes as it is."""
    return [convert_to_openai_tool(tool) for tool in tools]


def message_from_openai(
    content: str | None,
    tool_calls: Sequence[Any] | None,
    *,
    usage: dict[str, int] | None = None,
) -> AIMessage:
    """An AIMessage from an OpenAI-style assistant message whose tool calls are dicts or objects
    with `id` and `function.name`/`function.arguments` (a JSON string, or already an object as
    some TGI versions send). Arguments that are not a JSON object become `invalid_tool_calls`."""
    valid: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for number, call in enumerate(tool_calls or []):
        function = _get(call, "function")
        name = _get(function, "name")
        raw = _get(function, "arguments")
        ident = _get(call, "id") or f"call_{number}"
        args, error = _arguments(raw)
        if error is None and name:
            valid.append({"name": name, "args": args, "id": ident, "type": "tool_call"})
        else:
            invalid.append(
                {
                    "name": name,
                    "args": raw if isinstance(raw, str) else json.dumps(raw),
                    "id": ident,
                    "error": error or "the tool call has no name",
                    "type": "invalid_tool_call",
                }
            )
    metadata: dict[str, Any] = {}
    if usage:
        metadata["usage_metadata"] = {
            "input_tokens": int(usage.get("prompt_tokens", 0)),
            "output_tokens": int(usage.get("completion_tokens", 0)),
            "total_tokens": int(usage.get("total_tokens", 0)),
        }
    return AIMessage(
        content=content or "", tool_calls=valid, invalid_tool_calls=invalid, **metadata
    )


def _get(item: Any, key: str) -> Any:
    if item is None:
        return None
    if isinstance(item, dict):
        return item.get(key)
    return getattr(item, key, None)


def _arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, dict):
        return raw, None
    if not isinstance(raw, str):
        return {}, f"the arguments are a {type(raw).__name__}, not a JSON object"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"the arguments are not valid JSON ({exc.msg} at character {exc.pos})"
    if value is None:
        return {}, None
    if not isinstance(value, dict):
        return {}, f"the arguments are a JSON {type(value).__name__}, not an object"
    return value, None


def usage_of(message: AIMessage) -> tuple[int | None, int | None]:
    usage = message.usage_metadata
    if not usage:
        return None, None
    return usage.get("input_tokens"), usage.get("output_tokens")
