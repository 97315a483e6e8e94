"""Keeping a conversation inside the model's context.

Each LLM turn is sent as: one system message (the system prompt with a fresh priors summary, the
tool guidance, the ReAct format when used, and a running summary of older turns), then as many
recent turns as fit, then the new message. Turns that no longer fit are folded into the running
summary, by the LLM when one is available, else extractively (first sentences). Folding goes
down to half the budget at once, so it happens every few turns, not on every one.

Tokens are counted with `Memory.count`: the model's tokenizer when the loop has one, else the
conservative estimate (`llm.tokens`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from image_interpreter.agent.llm.tokens import estimate_tokens, messages_tokens
from image_interpreter.priors.schema import PriorSet
from image_interpreter.session import Turn

Summariser = Callable[[str, Sequence[Turn]], str]
"""(summary so far, turns to add) -> the new summary."""

DescribePriors = Callable[[PriorSet | None], str]


CUT = "\n… (cut to fit the model's context)"


def fit_text(text: str, max_tokens: int, count: Callable[[str], int] = estimate_tokens) -> str:
    """`text` cut to at most `max_tokens` as `count` counts, saying it was cut."""
    if count(text) <= max_tokens:
        return text
    low, high = 0, len(text)  # the longest prefix that fits, with the note
    while low < high:
        middle = (low + high + 1) // 2
        if count(text[:middle].rstrip() + CUT) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + CUT if low else ""


def turn_message(turn: Turn) -> BaseMessage | None:
    if turn.role == "user":
        return HumanMessage(turn.text)
    if turn.role == "assistant":
        return AIMessage(turn.text)
    return None


def _first_sentence(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = match.group(1) if match else text
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


def extractive_summary(previous: str, turns: Sequence[Turn], words: int = 120) -> str:
    """The summary so far plus one line per turn (its first sentence), oldest lines dropped to
    stay within `words`."""
    lines = [line for line in previous.splitlines() if line.strip()]
    for turn in turns:
        if turn.role in ("user", "assistant") and turn.text.strip():
            who = "User" if turn.role == "user" else "Assistant"
            lines.append(f"{who}: {_first_sentence(turn.text)}")
    while len(lines) > 1 and sum(len(line.split()) for line in lines) > words:
        lines.pop(0)
    return "\n".join(lines)


@dataclass
class Window:
    """What of the conversation goes to the model this turn."""

    summary: str
    messages: list[BaseMessage]
    folded: int = 0  # turns folded into the summary this time
    summarised_by: str = ""  # 'llm', 'extractive' or '' when nothing was folded


@dataclass
class Memory:
    """The running summary of the turns that no longer fit (those numbered <= `upto`)."""

    context_tokens: int
    reply_tokens: int
    summary_words: int = 120
    count: Callable[[str], int] = estimate_tokens
    summary: str = ""
    upto: int = 0
    folds: list[int] = field(default_factory=list)  # turn numbers summarised, for tests/debug

    def budget(self, fixed_tokens: int) -> int:
        """Tokens left for earlier turns once the fixed parts and the reply are counted."""
        summary_allowance = int(self.summary_words * 1.6) + 16
        return self.context_tokens - self.reply_tokens - fixed_tokens - summary_allowance

    def window(
        self,
        turns: Sequence[Turn],
        fixed_tokens: int,
        summarise: Summariser | None = None,
    ) -> Window:
        """The recent turns that fit beside `fixed_tokens`; older ones folded into the summary
        (with `summarise`, else extractively; a summariser that fails falls back to that)."""
        talk = [t for t in turns if t.role in ("user", "assistant") and t.number > self.upto]
        budget = max(0, self.budget(fixed_tokens))
        kept = _newest_within(talk, budget, self.count)
        folded: list[Turn] = []
        how = ""
        if len(kept) < len(talk):
            # fold down to half the budget, so the next few turns fit without folding again
            # (but never down to nothing when the last exchange fits the whole budget)
            kept = _newest_within(talk, budget // 2, self.count) or kept
            folded = talk[: len(talk) - len(kept)]
            how = "extractive"
            new_summary = None
            if summarise is not None:
                try:
                    new_summary = summarise(self.summary, folded).strip() or None
                    how = "llm" if new_summary else how
                except Exception:  # the summary is a convenience: never fail the turn for it
                    new_summary = None
            if new_summary is None:
                new_summary = extractive_summary(self.summary, folded, self.summary_words)
            self.summary = _limit_words(new_summary, self.summary_words * 2)
            self.upto = folded[-1].number
            self.folds.extend(t.number for t in folded)
        messages = _alternating([m for m in (turn_message(t) for t in kept) if m is not None])
        return Window(self.summary, messages, len(folded), how)


def _newest_within(
    turns: Sequence[Turn], budget: int, count: Callable[[str], int] = estimate_tokens
) -> list[Turn]:
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        message = turn_message(turn)
        cost = messages_tokens([message], count) if message is not None else 0
        if used + cost > budget:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    # start on a user turn, so the transcript reads user, assistant, user...
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


def _alternating(messages: list[BaseMessage]) -> list[BaseMessage]:
    """Consecutive messages of one role merged (a turn whose reply was never recorded), since
    several chat templates insist on user/assistant alternation."""
    merged: list[BaseMessage] = []
    for message in messages:
        if merged and type(merged[-1]) is type(message):
            previous = merged[-1]
            merged[-1] = type(message)(f"{previous.content}\n\n{message.content}")
        else:
            merged.append(message)
    return merged


def _limit_words(text: str, words: int) -> str:
    parts = text.split()
    return text if len(parts) <= words else " ".join(parts[-words:])
