"""text-generation-inference through huggingface_hub's InferenceClient.

- `complete` (the ReAct protocol, for models without tool calling such as OpenAssistant's):
  the conversation rendered in the model's chat format (`formats`) and sent to TGI's native
  `/generate`, or `/generate_stream` (server-sent events) when streaming;
- `chat` (native tool calling): TGI's Messages API, `/v1/chat/completions` with `tools`.

The TGI server is the operator's own: no Hugging Face token is sent to it unless configured as
`api_key`. HF_HUB_OFFLINE keeps huggingface_hub off the hub, not off this server (`offline`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from huggingface_hub import InferenceClient, get_session
from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
from langchain_core.tools import BaseTool

from image_interpreter.agent.llm.base import (
    LLMBackend,
    LLMReply,
    OnToken,
    message_from_openai,
    openai_tools,
    usage_of,
)
from image_interpreter.agent.llm.clip import Gathered, clip, clip_message
from image_interpreter.agent.llm.config import LLMConfig, looks_like_openassistant
from image_interpreter.agent.llm.deadline import install_hooks
from image_interpreter.agent.llm.errors import classify
from image_interpreter.agent.llm.formats import chat_format
from image_interpreter.agent.llm.offline import let_through
from image_interpreter.agent.llm.tokens import estimate_tokens

MAX_STOP = 4


class TGIBackend(LLMBackend):
    name = "tgi"

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        self.root = (config.base_url or "").rstrip("/")
        self.format = chat_format(config.resolved_chat_format())
        if config.native_tools == "auto" and looks_like_openassistant(config.model):
            self.native_tools = False
            self.switch_reason = "OpenAssistant models have no tool calling"

    def where(self) -> str:
        return f"text-generation-inference at {self.root}"

    def _client(self) -> InferenceClient:
        key = self.config.api_key.get_secret_value() if self.config.api_key else None
        # Without a key of its own, send no Authorization header at all: huggingface_hub would
        # otherwise send the machine's Hugging Face token to this server.
        headers: dict[str, Any] = {} if key else {"authorization": None}
        # InferenceClient sends through huggingface_hub's shared httpx client; the hooks let the
        # turn's deadline bound and cut our requests (they do nothing for anyone else's)
        install_hooks(get_session())
        let_through(self.root)  # HF_HUB_OFFLINE is about the hub, not the operator's server
        return InferenceClient(
            model=self.root, token=key, timeout=self.config.timeout_s, headers=headers
        )

    def _sampling(self) -> dict[str, Any]:
        t = self.config.temperature
        return {"temperature": t, "do_sample": True} if t > 0 else {"do_sample": False}

    # --- ReAct: /generate and /generate_stream ------------------------------------------------

    def request_text(self, messages: Sequence[BaseMessage]) -> str:
        return self.format.render(messages)

    def complete(
        self,
        messages: Sequence[BaseMessage],
        *,
        stop: Sequence[str] = (),
        on_token: OnToken | None = None,
    ) -> LLMReply:
        prompt = self.format.render(messages)
        # TGI refuses more than its --max-stop-sequences (4 by default); the caller's first
        stops = list(dict.fromkeys([*stop, *self.format.stop]))[:MAX_STOP]
        params: dict[str, Any] = {
            "max_new_tokens": self.config.max_new_tokens,
            "stop": stops,
            "details": True,
            "return_full_text": False,
            **self._sampling(),
        }
        generated: int | None = None
        limit = self.config.max_answer_chars
        gathered = Gathered(limit)
        try:
            with self._client() as client:
                if self.config.stream or on_token is not None:
                    final: str | None = None
                    events = client.text_generation(
                        prompt, stream=True, model=f"{self.root}/generate_stream", **params
                    )
                    for event in events:
                        token = event.token
                        if token is not None and not token.special:
                            kept = gathered.add(token.text)
                            if on_token is not None and kept:
                                on_token(kept)
                        if event.details is not None:
                            generated = event.details.generated_tokens
                        if event.generated_text is not None:
                            final = event.generated_text
                        if gathered.full:
                            break  # leaving the client closes the stream
                    text = final if final is not None else gathered.text()
                else:
                    output = client.text_generation(prompt, model=f"{self.root}/generate", **params)
                    text = output.generated_text
                    if output.details is not None:
                        generated = output.details.generated_tokens
        except Exception as error:
            raise classify(error) from error
        text, cut = clip(text, limit)
        text = self.format.clean(text)
        for marker in stop:
            text = text.split(marker, 1)[0] if marker in text else text
        return LLMReply(
            message=AIMessage(content=text.strip()),
            prompt_tokens=estimate_tokens(prompt),
            completion_tokens=generated if generated is not None else estimate_tokens(text),
            prompt_estimated=True,
            clipped=cut or gathered.clipped,
        )

    # --- native tools: the Messages API -------------------------------------------------------

    def chat(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[BaseTool | dict[str, Any]],
        *,
        on_token: OnToken | None = None,
    ) -> LLMReply:
        params: dict[str, Any] = {
            "model": self.config.model or "tgi",
            "max_tokens": self.config.max_new_tokens,
            "temperature": self.config.temperature,
        }
        if tools:
            params["tools"] = openai_tools(tools)
            params["tool_choice"] = "auto"
        payload = convert_to_openai_messages(list(messages))
        limit = self.config.max_answer_chars
        cut = False
        try:
            with self._client() as client:
                if self.config.stream or on_token is not None:
                    message, cut = _gather_stream(
                        client.chat_completion(
                            payload, stream=True, stream_options={"include_usage": True}, **params
                        ),
                        on_token,
                        limit,
                    )
                else:
                    output = client.chat_completion(payload, **params)
                    choice = output.choices[0].message
                    usage = output.usage
                    message = message_from_openai(
                        choice.content,
                        choice.tool_calls,
                        usage=_usage_dict(usage),
                    )
        except Exception as error:
            raise classify(error, with_tools=bool(tools)) from error
        message, clipped = clip_message(message, limit)
        clipped = clipped or cut
        prompt, completion = usage_of(message)
        if prompt is None:
            return LLMReply(
                message,
                estimate_tokens(json.dumps(payload)),
                estimate_tokens(message.content if isinstance(message.content, str) else ""),
                prompt_estimated=True,
                clipped=clipped,
            )
        return LLMReply(message, prompt, completion, clipped=clipped)


def _usage_dict(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
        "total_tokens": int(getattr(usage, "total_tokens", 0) or 0),
    }


def _gather_stream(chunks: Any, on_token: OnToken | None, limit: int) -> tuple[AIMessage, bool]:
    """One AIMessage from streamed chat completion chunks: content pieces joined, tool calls
    put together by index (their arguments arrive as pieces of one JSON string). Reading stops
    once the content or the arguments pass `limit` characters (then True: clipped)."""
    content = Gathered(limit)
    calls: dict[int, dict[str, Any]] = {}
    arguments_size = 0
    usage = None
    for chunk in chunks:
        if content.full or arguments_size > limit:
            break
        if getattr(chunk, "usage", None) is not None:
            usage = _usage_dict(chunk.usage)
        for choice in chunk.choices or []:
            delta = choice.delta
            if delta is None:
                continue
            if delta.content:
                kept = content.add(delta.content)
                if on_token is not None and kept:
                    on_token(kept)
            for piece in delta.tool_calls or []:
                index = getattr(piece, "index", None) or 0
                call = calls.setdefault(
                    index, {"id": None, "function": {"name": "", "arguments": ""}}
                )
                if getattr(piece, "id", None):
                    call["id"] = piece.id
                function = piece.function
                if function is not None:
                    if getattr(function, "name", None):
                        call["function"]["name"] += function.name
                    arguments = getattr(function, "arguments", None)
                    if isinstance(arguments, dict):
                        arguments = json.dumps(arguments)
                    if arguments:
                        call["function"]["arguments"] += arguments
                        arguments_size += len(arguments)
    ordered = [calls[i] for i in sorted(calls)]
    message = message_from_openai(content.text(), ordered, usage=usage)
    return message, content.clipped or arguments_size > limit
