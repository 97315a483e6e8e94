"""Any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, TGI's Messages API, OpenAI)
through langchain-openai's ChatOpenAI on `base_url`.

- `chat`: tools bound with `bind_tools` (the server's native tool calling);
- `complete`: the same chat completion without tools, for the ReAct protocol (the server applies
  the model's chat template), stopping at `Observation:`.

Retries are the agent loop's (with backoff and fallback), so the client's own are off. The API
key is always given explicitly: without one configured a placeholder is sent, never an
OPENAI_API_KEY from the environment, which is meant for OpenAI and not for this server.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import closing
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    convert_to_openai_messages,
)
from langchain_core.tools import BaseTool
from pydantic import SecretStr

from image_interpreter.agent.llm.base import LLMBackend, LLMReply, OnToken, usage_of
from image_interpreter.agent.llm.clip import clip_message
from image_interpreter.agent.llm.config import LLMConfig
from image_interpreter.agent.llm.deadline import install_hooks
from image_interpreter.agent.llm.errors import classify
from image_interpreter.agent.llm.text import content_text
from image_interpreter.agent.llm.tokens import estimate_tokens

NO_KEY = "no-key"


class OpenAIBackend(LLMBackend):
    name = "openai"

    def __init__(self, config: LLMConfig, *, http_client: Any = None):
        super().__init__(config)
        import openai
        from langchain_openai import ChatOpenAI

        # our own client, so the turn's deadline can bound and cut its requests (`deadline`)
        http_client = install_hooks(http_client or openai.DefaultHttpxClient())

        key = config.api_key or SecretStr(NO_KEY)
        self.model = ChatOpenAI(
            model=config.model or "default",
            base_url=config.base_url,
            api_key=key,
            timeout=config.timeout_s,
            max_retries=0,
            temperature=config.temperature,
            max_tokens=config.max_new_tokens,
            stream_usage=True,
            use_responses_api=False,
            http_client=http_client,
        )

    def where(self) -> str:
        return f"the OpenAI-compatible server at {self.config.base_url}"

    def _run(
        self,
        runnable: Any,
        messages: Sequence[BaseMessage],
        on_token: OnToken | None,
        *,
        with_tools: bool,
        **kwargs: Any,
    ) -> LLMReply:
        limit = self.config.max_answer_chars
        size = 0  # characters of content and tool-call arguments read so far
        try:
            if self.config.stream or on_token is not None:
                gathered: AIMessageChunk | None = None
                with closing(runnable.stream(list(messages), **kwargs)) as chunks:
                    for chunk in chunks:
                        text = content_text(chunk.content)
                        if text and on_token is not None:
                            on_token(text[: max(0, limit - size)])
                        gathered = chunk if gathered is None else gathered + chunk
                        size += len(text) + sum(
                            len(c.get("args") or "") for c in chunk.tool_call_chunks
                        )
                        if size > limit:
                            break  # closing the stream closes the response
                message = _as_message(gathered)
            else:
                message = runnable.invoke(list(messages), **kwargs)
        except Exception as error:
            raise classify(error, with_tools=with_tools) from error
        message, clipped = clip_message(message, limit)
        clipped = clipped or size > limit
        prompt, completion = usage_of(message)
        if prompt is None:
            sent = json.dumps(convert_to_openai_messages(list(messages)))
            return LLMReply(
                message,
                estimate_tokens(sent),
                estimate_tokens(content_text(message.content)),
                prompt_estimated=True,
                clipped=clipped,
            )
        return LLMReply(message, prompt, completion, clipped=clipped)

    def chat(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[BaseTool | dict[str, Any]],
        *,
        on_token: OnToken | None = None,
    ) -> LLMReply:
        runnable = self.model.bind_tools(list(tools)) if tools else self.model
        return self._run(runnable, messages, on_token, with_tools=bool(tools))

    def complete(
        self,
        messages: Sequence[BaseMessage],
        *,
        stop: Sequence[str] = (),
        on_token: OnToken | None = None,
    ) -> LLMReply:
        return self._run(self.model, messages, on_token, with_tools=False, stop=list(stop) or None)


def _as_message(chunk: AIMessageChunk | None) -> AIMessage:
    if chunk is None:
        return AIMessage(content="")
    return AIMessage(
        content=chunk.content,
        tool_calls=chunk.tool_calls,
        invalid_tool_calls=chunk.invalid_tool_calls,
        usage_metadata=chunk.usage_metadata,
        response_metadata=chunk.response_metadata,
        id=chunk.id,
    )
