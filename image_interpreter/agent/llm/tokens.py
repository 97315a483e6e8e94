"""Token counts: with the model's own tokenizer when it can be loaded, else a conservative
estimate.

`TokenCounter.for_config(llm)` loads the tokenizer named by `llm.tokenizer` (a local folder with
a `tokenizer.json`, or a hub id: from the cache, downloaded when not offline), else the one of
`llm.model` when it is a local folder or in the hub cache (never downloaded: a served model's
name need not be a hub id, and a conversation must not wait on the network for it). When none
loads, `estimate_tokens` is used: about 3 ASCII characters a token (GPT-NeoX/Llama tokenizers
average 3.5 to 4.5 on English and 2.5 to 3.5 on JSON), one token for every other character, so
the prompt budget errs on the safe side.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from image_interpreter.agent.llm.text import content_text

log = logging.getLogger(__name__)

PER_MESSAGE = 4  # role markers and separators
CHARS_PER_TOKEN = 2.7  # conservative for English and JSON, even with a small-vocabulary BPE


def estimate_tokens(text: str) -> int:
    """About how many tokens `text` is, erring high: ~3 ASCII characters a token, one token
    for each other character."""
    if not text:
        return 0
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_chars / CHARS_PER_TOKEN) + (len(text) - ascii_chars)


def message_tokens(message: BaseMessage, count: Callable[[str], int] = estimate_tokens) -> int:
    total = PER_MESSAGE + count(content_text(message.content))
    if isinstance(message, AIMessage) and message.tool_calls:
        total += count(json.dumps([[c["name"], c["args"]] for c in message.tool_calls]))
    return total


def messages_tokens(
    messages: Iterable[BaseMessage], count: Callable[[str], int] = estimate_tokens
) -> int:
    return sum(message_tokens(m, count) for m in messages)


@dataclass
class TokenCounter:
    """Counts text in tokens: `exact` when a tokenizer was loaded (`source` names it), else the
    estimate (`source` says why no tokenizer was used)."""

    encode: Callable[[str], list[int]] | None = None
    source: str = "estimate"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def exact(self) -> bool:
        return self.encode is not None

    def __call__(self, text: str) -> int:
        if not text:
            return 0
        if self.encode is None:
            return estimate_tokens(text)
        with self._lock:  # tokenizers' Rust objects are not re-entrant across threads
            return len(self.encode(text))

    def messages(self, messages: Iterable[BaseMessage]) -> int:
        return messages_tokens(messages, self)

    @classmethod
    def for_config(cls, llm: Any) -> TokenCounter:
        """The counter for an LLMConfig: its `tokenizer` (or `model`) when it loads."""
        if getattr(llm, "tokenizer", None):
            return load_counter(llm.tokenizer, download=True)
        if getattr(llm, "model", None):
            return load_counter(llm.model, download=False)
        return cls(source="estimate (no model named)")


@lru_cache(maxsize=16)
def load_counter(name: str, download: bool = False) -> TokenCounter:
    """A counter from the tokenizer `name` (local folder or hub id), loaded once per process;
    the estimate when it cannot be loaded (the reason logged and kept in `source`)."""
    try:
        encode = _load_encoder(name, download)
    except Exception as error:  # no tokenizer is a degraded mode, never an error
        reason = f"{type(error).__name__}: {' '.join(str(error).split())[:160]}"
        log.info("no tokenizer for %s (%s): estimating tokens", name, reason)
        return TokenCounter(source=f"estimate (tokenizer {name} not loaded)")
    return TokenCounter(encode, source=f"tokenizer {name}")


def _load_encoder(name: str, download: bool) -> Callable[[str], list[int]]:
    """`tokenizer.json` through the `tokenizers` library (a local folder, the hub cache, or
    downloaded when allowed), else transformers' AutoTokenizer for tokenizers without one; a
    name neither here nor cached is not looked up on the network unless `download`."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        if (folder / "tokenizer.json").is_file():
            return _fast(folder / "tokenizer.json")
        return _auto(str(folder), download=False)
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    cached = try_to_load_from_cache(name, "tokenizer.json")
    if isinstance(cached, str):
        return _fast(Path(cached))
    if download:
        try:
            return _fast(Path(hf_hub_download(name, "tokenizer.json")))
        except Exception:  # no tokenizer.json in the repository: the slow tokenizer's files
            return _auto(name, download=True)
    if isinstance(try_to_load_from_cache(name, "tokenizer_config.json"), str):
        return _auto(name, download=False)
    raise FileNotFoundError(f"no tokenizer for {name} in a folder or the hub cache")


def _fast(path: Path) -> Callable[[str], list[int]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    return lambda text: tokenizer.encode(text, add_special_tokens=False).ids


def _auto(name: str, download: bool) -> Callable[[str], list[int]]:
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(name, local_files_only=not download)
    return lambda text: loaded.encode(text, add_special_tokens=False)
