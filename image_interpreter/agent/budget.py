"""The prompt budget: every request fits `context_tokens - max_new_tokens`, by construction.

A turn's first request is built part by part, each counted with the model's tokenizer when it
loads (`llm.tokens.TokenCounter`), else with a conservative estimate:

- instructions (system prompt, tool guidance, the ReAct format),
- tools: only those the turn needs (`tools.compact.select_tools`), in their compact form; the
  optional ones are dropped, last first, when they would take more than `TOOLS_SHARE`,
- priors: the full description when it fits `PRIORS_SHARE`, else the compact summary, else cut,
- history: the recent turns that fit what remains, older ones folded into the running summary,
- the message itself,

with `RESERVE` of the budget kept for the turn's own tool steps. Before every request the whole
request is counted as the server will see it (`request_text`), and when tool results have grown
it past the budget, the longest result is shortened, then the oldest history dropped, then the
turn's oldest steps; a request that still cannot fit is refused here, never sent to be refused
by the server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from image_interpreter.agent.llm.errors import LLMRequestError
from image_interpreter.agent.llm.text import content_text
from image_interpreter.tools.compact import ToolSpec

TOOLS_SHARE = 0.45  # at most this much of the budget for tool descriptions
PRIORS_SHARE = 0.25  # the full priors description when within this, else the compact one
RESERVE = 0.15  # kept for this turn's tool calls and their results
MIN_RESULT_CHARS = 160  # a tool result is never halved below this

Count = Callable[[str], int]


@dataclass
class Budget:
    """The token budget of one turn's requests and what its parts cost."""

    limit: int  # context_tokens - max_new_tokens
    margin: int
    parts: dict[str, int] = field(default_factory=dict)
    largest: int = 0  # the largest request of the turn, as counted
    exact: bool = False  # counted with the model's tokenizer

    @classmethod
    def for_model(cls, context_tokens: int, max_new_tokens: int, exact: bool) -> Budget:
        """The margin covers what a count cannot see (a server's template, special tokens):
        2% and at least 16 tokens with the tokenizer, 5% and 32 with the estimate."""
        limit = context_tokens - max_new_tokens
        margin = max(16, limit // 50) if exact else max(32, limit // 20)
        return cls(limit, margin, exact=exact)

    @property
    def tokens(self) -> int:
        """What a request may use."""
        return max(0, self.limit - self.margin)

    def record(self) -> dict[str, int]:
        """For the turn's record: the budget, each part, the largest request."""
        found = {"budget": self.tokens, **{f"prompt_{k}": v for k, v in self.parts.items()}}
        found["request_max"] = self.largest
        if not self.exact:
            found["count_estimated"] = 1
        return found


def request_text(
    messages: Sequence[BaseMessage], tools: Sequence[ToolSpec], render: Callable | None
) -> str:
    """The request as a server counts it: `render` (the backend's chat format, for /generate)
    without tools; with tools (or without a format), ChatML with each tool call's JSON, and
    the tools' JSON before it (as chat templates put them in the prompt)."""
    if not tools and render is not None:
        return render(messages)
    parts = []
    for message in messages:
        text = content_text(message.content).strip()
        if isinstance(message, AIMessage) and message.tool_calls:
            calls = [{"name": c["name"], "arguments": c["args"]} for c in message.tool_calls]
            text = f"{text}\n{json.dumps(calls)}".strip()
        parts.append(f"<|im_start|>{_role(message)}\n{text}<|im_end|>\n")
    rendered = "".join(parts) + "<|im_start|>assistant\n"
    if tools:
        rendered = json.dumps([t.openai() for t in tools]) + "\n" + rendered
    return rendered


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, AIMessage):
        return "assistant"
    return "tool" if isinstance(message, ToolMessage) else "user"


def fit_request(
    messages: list[BaseMessage],
    current: BaseMessage,
    measure: Callable[[list[BaseMessage]], int],
    budget: Budget,
) -> int:
    """Shrink `messages` in place until `measure(messages)` is within the budget: this turn's
    longest tool result first (halved, down to MIN_RESULT_CHARS), then the oldest history
    message, then this turn's oldest step (keeping the latest). Returns the count;
    LLMRequestError when nothing is left to shrink."""
    while True:
        used = measure(messages)
        if used <= budget.tokens:
            budget.largest = max(budget.largest, used)
            return used
        at = next(i for i, m in enumerate(messages) if m is current)
        results = [
            i
            for i in range(at + 1, len(messages))
            if _is_result(messages[i])
            and len(content_text(messages[i].content)) // 2 >= MIN_RESULT_CHARS
        ]
        if results:
            longest = max(results, key=lambda i: len(content_text(messages[i].content)))
            messages[longest] = _shortened(messages[longest])
            continue
        if at > 1:  # history between the system message and the current message
            del messages[1]
            if at > 2 and isinstance(messages[1], AIMessage):  # keep user-first order
                del messages[1]
            continue
        steps = [i for i in range(at + 1, len(messages)) if isinstance(messages[i], AIMessage)]
        if len(steps) > 1:  # this turn's oldest step (its call and its results) goes
            del messages[steps[0] : steps[1]]
            continue
        raise LLMRequestError(
            f"the request needs {used} tokens; the model's context leaves {budget.tokens} for"
            f" it (context_tokens - max_new_tokens = {budget.limit}, less a margin). Raise"
            " llm.context_tokens or lower llm.max_new_tokens."
        )


def _is_result(message: BaseMessage) -> bool:
    return isinstance(message, ToolMessage) or (
        isinstance(message, HumanMessage)
        and content_text(message.content).startswith("Observation:")
    )


def _shortened(message: BaseMessage) -> BaseMessage:
    text = content_text(message.content)
    cut = text[: len(text) // 2].rstrip() + " … (shortened to fit the model's context)"
    return message.model_copy(update={"content": cut})
