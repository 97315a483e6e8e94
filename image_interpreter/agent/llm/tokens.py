"""Token counts without a tokenizer: an estimate good enough to keep a conversation inside the
model's context with a margin (about 4 characters a token for English, more for other scripts
and for JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from langchain_core.messages import AIMessage, BaseMessage

from image_interpreter.agent.llm.text import content_text

PER_MESSAGE = 4  # role markers and separators


def estimate_tokens(text: str) -> int:
    """About how many tokens `text` is: ~4 ASCII characters a token, ~1 other character."""
    if not text:
        return 0
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_chars / 3.6) + (len(text) - ascii_chars)


def message_tokens(message: BaseMessage) -> int:
    total = PER_MESSAGE + estimate_tokens(content_text(message.content))
    if isinstance(message, AIMessage) and message.tool_calls:
        total += estimate_tokens(json.dumps([[c["name"], c["args"]] for c in message.tool_calls]))
    return total


def messages_tokens(messages: Iterable[BaseMessage]) -> int:
    return sum(message_tokens(m) for m in messages)
