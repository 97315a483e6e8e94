"""Prompts from the priors, and text embeddings that keep every word of a long prompt.

CLIP's text encoder sees 77 tokens (75 and the start/end markers); the diffusers pipelines cut
what is longer. Here a prompt is split into 75-token windows (at a word or comma where one is
near), each window is encoded on its own and the embeddings are joined along the sequence, so
the UNet attends to all of it. The negative prompt is padded with empty windows to the same
length (classifier-free guidance batches the two). A prompt of one window encodes exactly as
the pipelines' own `encode_prompt` does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from image_interpreter.priors.schema import PriorSet

if TYPE_CHECKING:
    import torch

WINDOW = 75  # tokens per window, between the start and end markers
_LOOK_BACK = 20  # how far back from a window's end to look for a word or comma to cut at

_PREPOSITIONS = ("at ", "in ", "on ", "during ", "by ", "under ")


def build_prompt(priors: PriorSet) -> str:
    """The caption's text (or its detailed text), then styles, then the time of day."""
    caption = priors.caption
    if caption is None or not caption.enabled:
        return ""
    parts = [caption.text.strip() or (caption.detailed or "").strip()]
    parts += [style.strip() for style in caption.style]
    if caption.time_of_day and caption.time_of_day.strip():
        when = caption.time_of_day.strip()
        parts.append(when if when.lower().startswith(_PREPOSITIONS) else f"at {when}")
    return join_prompt(parts)


def build_negative(priors: PriorSet, extra: list[str] | tuple[str, ...] = ()) -> str:
    """The caption's negative prompt and `extra` terms (e.g. labels of removed objects)."""
    caption = priors.caption
    parts = [caption.negative or ""] if caption is not None and caption.enabled else []
    return join_prompt([*parts, *extra])


def join_prompt(parts: list[str] | tuple[str, ...]) -> str:
    """Non-empty parts joined by commas, each once, in order."""
    seen: list[str] = []
    for part in parts:
        text = " ".join(part.split()).strip(" ,")
        if text and text.lower() not in (s.lower() for s in seen):
            seen.append(text)
    return ", ".join(seen)


@dataclass(frozen=True)
class PromptEmbeddings:
    prompt_embeds: torch.Tensor  # (1, 77 * chunks, dim)
    negative_prompt_embeds: torch.Tensor  # same shape
    chunks: int


class PromptEncoder:
    """Chunked CLIP text encoding with an LRU of embeddings per text, for one text encoder.

    `model_key` names the encoder (model id, dtype, device): cached embeddings are only reused
    for the same key, so one encoder per base model and the cache is per (prompt, model)."""

    def __init__(self, tokenizer: Any, text_encoder: Any, model_key: str, cache_size: int = 64):
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.model_key = model_key
        self.cache_size = cache_size
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[tuple[str, str], torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, prompt: str, negative: str = "") -> PromptEmbeddings:
        """Embeddings of `prompt` and `negative`, padded to the same number of windows."""
        positive = self.embed(prompt)
        negative_embeds = self.embed(negative)
        chunks = max(positive.shape[1], negative_embeds.shape[1]) // self.max_length
        return PromptEmbeddings(
            self._pad(positive, chunks), self._pad(negative_embeds, chunks), chunks
        )

    @property
    def max_length(self) -> int:
        return int(self.tokenizer.model_max_length)

    def windows(self, text: str) -> list[list[int]]:
        """The token ids of `text` in windows of at most max_length - 2, cut between words."""
        ids: list[int] = self.tokenizer(
            text, add_special_tokens=False, truncation=False, verbose=False
        ).input_ids
        size = self.max_length - 2
        if len(ids) <= size:
            return [ids]
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        found: list[list[int]] = []
        start = 0
        while len(ids) - start > size:
            end = start + size
            cut = _cut(tokens, start, end)
            found.append(ids[start:cut])
            start = cut
        found.append(ids[start:])
        return found

    def embed(self, text: str) -> torch.Tensor:
        """(1, 77 * windows, dim) embeddings of `text`, from the cache when it has them."""
        key = (self.model_key, text)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached
            self.misses += 1
        embeds = self._encode_windows(self.windows(text))
        if self.cache_size > 0:
            with self._lock:
                self._cache[key] = embeds
                self._cache.move_to_end(key)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return embeds

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _encode_windows(self, windows: list[list[int]]) -> torch.Tensor:
        import torch

        tok = self.tokenizer
        length = self.max_length
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        rows, masks = [], []
        for window in windows:
            row = [tok.bos_token_id, *window, tok.eos_token_id]
            masks.append([1] * len(row) + [0] * (length - len(row)))
            rows.append(row + [pad] * (length - len(row)))
        encoder = self.text_encoder
        device = encoder.device
        ids = torch.tensor(rows, dtype=torch.long, device=device)
        use_mask = getattr(encoder.config, "use_attention_mask", False)
        mask = torch.tensor(masks, dtype=torch.long, device=device) if use_mask else None
        with torch.no_grad():
            hidden = encoder(ids, attention_mask=mask)[0]
        # (windows, 77, dim) -> (1, 77 * windows, dim)
        return hidden.to(dtype=encoder.dtype).reshape(1, -1, hidden.shape[-1])

    def _pad(self, embeds: torch.Tensor, chunks: int) -> torch.Tensor:
        import torch

        have = embeds.shape[1] // self.max_length
        if have >= chunks:
            return embeds
        empty = self.embed("")
        return torch.cat([embeds, *([empty] * (chunks - have))], dim=1)


def _cut(tokens: list[str], start: int, end: int) -> int:
    """Where to end the window tokens[start:end]: after a comma, else after a word, near the end."""
    low = max(start + 1, end - _LOOK_BACK)
    for ends_well in (lambda t: t == ",</w>", lambda t: t.endswith("</w>")):
        for cut in range(end, low - 1, -1):
            if ends_well(tokens[cut - 1]):
                return cut
    return end
