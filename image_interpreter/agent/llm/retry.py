"""Retries with exponential backoff and jitter, within a deadline.

The n-th retry waits `min(backoff_max, backoff * 2**n)` scaled by a random factor in [0.5, 1]
("equal jitter": many sessions retrying at once spread out, yet each waits at least half the
nominal delay). `sleep` and `rng` are injectable so tests run instantly and deterministically.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from image_interpreter.agent.llm.errors import LLMError, LLMUnavailable, classify

T = TypeVar("T")


@dataclass
class Backoff:
    retries: int = 2
    base_s: float = 0.5
    max_s: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic

    def delay(self, attempt: int) -> float:
        """The wait before retry `attempt` (0 = the first retry)."""
        nominal = min(self.max_s, self.base_s * (2**attempt))
        return nominal * self.rng.uniform(0.5, 1.0)


@dataclass
class Attempts:
    """What retrying cost: how many calls were made and how long was slept between them."""

    calls: int = 0
    waited_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def call_with_retries(
    fn: Callable[[], T],
    backoff: Backoff,
    *,
    deadline: float | None = None,
    attempts: Attempts | None = None,
    retry_if: Callable[[LLMError], bool] | None = None,
) -> T:
    """`fn()`, retried on retryable LLMErrors (see `errors`) up to `backoff.retries` times.
    Stops early when the next wait would pass `deadline` (a `backoff.clock` time). Raises the
    last error, as an LLMError; an LLMUnavailable after retries says how many attempts it took.
    `retry_if` can veto a retry (a stream that already reached the user)."""
    record = attempts if attempts is not None else Attempts()
    attempt = 0
    while True:
        record.calls += 1
        try:
            return fn()
        except Exception as raw:
            error = classify(raw)
            record.errors.append(error.reason)
            can_retry = error.retryable and attempt < backoff.retries
            if can_retry and retry_if is not None:
                can_retry = retry_if(error)
            wait = backoff.delay(attempt) if can_retry else 0.0
            if can_retry and deadline is not None and backoff.clock() + wait > deadline:
                can_retry = False
            if not can_retry:
                if error.retryable and record.calls > 1:
                    raise LLMUnavailable(
                        f"{error.reason} (after {record.calls} attempts)", status=error.status
                    ) from raw
                if error is raw:
                    raise
                raise error from raw
            backoff.sleep(wait)
            record.waited_s += wait
            attempt += 1
