"""A bound on the model's answer: a server may ignore `max_new_tokens` and send megabytes, which
would be stored as a turn and posted to chat verbatim. Streams stop being read at the bound;
whole answers are cut to it; the loop tells the user (`clipped_note`)."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from image_interpreter.agent.llm.text import content_text


class Gathered:
    """Text pieces of a stream, up to `limit` characters; `full` once the limit is reached
    (stop reading then)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.pieces: list[str] = []
        self.size = 0
        self.clipped = False

    def add(self, piece: str) -> str:
        """Keep `piece`, or what fits of it; returns what was kept."""
        room = self.limit - self.size
        if len(piece) > room:
            piece, self.clipped = piece[: max(room, 0)], True
        self.pieces.append(piece)
        self.size += len(piece)
        return piece

    @property
    def full(self) -> bool:
        return self.clipped or self.size >= self.limit

    def text(self) -> str:
        return "".join(self.pieces)


def clip(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to `limit` characters, and whether it was cut."""
    return (text, False) if len(text) <= limit else (text[:limit], True)


def clipped_note(limit: int) -> str:
    return (
        f"(The language model's answer was longer than {limit:,} characters; it was clipped there.)"
    )


def clip_message(message: AIMessage, limit: int) -> tuple[AIMessage, bool]:
    """The message with its text content cut to `limit` characters, and whether it was cut."""
    text, cut = clip(content_text(message.content), limit)
    return (message.model_copy(update={"content": text}), True) if cut else (message, False)
