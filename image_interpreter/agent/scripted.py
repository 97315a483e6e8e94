"""A chat model that answers from a script: real `AIMessage`s with `tool_calls`, so scripted
dialogues and benches drive the agent loop exactly as a served model would, with no server.

    model = ScriptedChatModel()
    model.script([ScriptedReply(tool_calls=[ScriptedCall(name="undo")]), ScriptedReply(say="Ok.")])
    agent = Agent(session, tools, ScriptedBackend(model))

`ScriptedBackend` is the loop's `LLMBackend` over any LangChain chat model (this one, or a
`GenericFakeChatModel`): native tool calling through `bind_tools`, or plain text for ReAct.
A scripted reply may also be an error (the server down, or refusing), to script fallbacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field

from image_interpreter.agent.llm.base import LLMBackend, LLMReply, OnToken, usage_of
from image_interpreter.agent.llm.config import LLMConfig
from image_interpreter.agent.llm.errors import LLMRequestError, LLMUnavailable
from image_interpreter.agent.llm.text import content_text
from image_interpreter.agent.llm.tokens import estimate_tokens, messages_tokens

NOT_SCRIPTED = "(The script has no reply for this request.)"


class ScriptedCall(BaseModel):
    """One tool call the model makes."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class ScriptedReply(BaseModel):
    """One reply of the model: text (`say`), tool calls, or an error instead of an answer."""

    model_config = ConfigDict(extra="forbid")

    say: str = Field("", description="The text of the reply (for ReAct: the whole step).")
    tool_calls: list[ScriptedCall] = Field(default_factory=list)
    error: Literal["unavailable", "refused"] | None = Field(
        None, description="unavailable: as a server that is down; refused: as an HTTP 400."
    )

    def message(self, number: int) -> AIMessage:
        calls = [
            {
                "name": c.name,
                "args": c.args,
                "id": c.id or f"call_{number}_{i}",
                "type": "tool_call",
            }
            for i, c in enumerate(self.tool_calls)
        ]
        return AIMessage(content=self.say, tool_calls=calls)


class ScriptedChatModel(BaseChatModel):
    """Answers each request with the next scripted reply; records what it was asked.

    `requests` counts the calls, `unscripted` the calls it had no reply for (it then answers
    NOT_SCRIPTED), `seen` keeps each request's messages and `tools_seen` the tool names bound."""

    replies: list[ScriptedReply] = Field(default_factory=list)
    requests: int = 0
    unscripted: int = 0
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    tools_seen: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def script(self, replies: Sequence[ScriptedReply]) -> None:
        """The replies for what comes next, in order (replacing any left over)."""
        self.replies = list(replies)

    @property
    def left(self) -> int:
        return len(self.replies)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        schemas = [convert_to_openai_tool(t) for t in tools]
        self.tools_seen = [s["function"]["name"] for s in schemas]
        return self.bind(tools=schemas, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.requests += 1
        self.seen.append(list(messages))
        if not self.replies:
            self.unscripted += 1
            message = AIMessage(content=NOT_SCRIPTED)
        else:
            reply = self.replies.pop(0)
            if reply.error == "unavailable":
                raise LLMUnavailable("the scripted server is down")
            if reply.error == "refused":
                raise LLMRequestError(
                    "HTTP 400: the scripted server refused the request", status=400
                )
            message = reply.message(self.requests)
        prompt = messages_tokens(messages)
        completion = estimate_tokens(content_text(message.content)) + sum(
            estimate_tokens(str(c["args"])) for c in message.tool_calls
        )
        message.usage_metadata = {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
        }
        return ChatResult(generations=[ChatGeneration(message=message)])


class ScriptedBackend(LLMBackend):
    """The agent loop's backend over a LangChain chat model, without a server. `native_tools`
    False makes the loop speak the ReAct text protocol to it."""

    name = "scripted"

    def __init__(
        self,
        model: BaseChatModel,
        config: LLMConfig | None = None,
        *,
        native_tools: bool = True,
    ):
        super().__init__(config or LLMConfig(max_retries=0, context_tokens=32768))
        self.model = model
        self.native_tools = native_tools

    def where(self) -> str:
        return "the scripted chat model"

    def chat(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[BaseTool | dict[str, Any]],
        *,
        on_token: OnToken | None = None,
    ) -> LLMReply:
        runnable = self.model.bind_tools(list(tools)) if tools else self.model
        return self._reply(runnable.invoke(list(messages)), on_token)

    def complete(
        self,
        messages: Sequence[BaseMessage],
        *,
        stop: Sequence[str] = (),
        on_token: OnToken | None = None,
    ) -> LLMReply:
        return self._reply(self.model.invoke(list(messages), stop=list(stop) or None), on_token)

    @staticmethod
    def _reply(message: BaseMessage, on_token: OnToken | None) -> LLMReply:
        assert isinstance(message, AIMessage)
        text = content_text(message.content)
        if on_token is not None and text:
            on_token(text)
        prompt, completion = usage_of(message)
        return LLMReply(message, prompt, completion)
