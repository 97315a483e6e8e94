"""Prompts from the priors, and text embeddings that keep every word of a long prompt.

CLIP's text encoder sees 77 tokens (75 and the start/end markers); the diffusers pipelines cut
what is longer. Here a prompt is split into 75-token windows (at a word or comma where one is
near), each window is encoded on its own and the embeddings are joined along the sequence, so
the UNet attends to all of it. The negative prompt is padded with empty windows to the same
length (classifier-free guidance batches the two). A prompt of one window encodes exactly as
the pipelines' own `encode_prompt` does.

SDXL (`XLPromptEncoder`) has two text encoders. Each window is encoded by both, from their
penultimate layer as SDXL does, and the two are joined along the features, then the windows along
the sequence. SDXL also conditions on a pooled embedding (the second encoder's projection of the
end marker), one per prompt: here it is the first window's, the start of the prompt, which a
prompt of one window makes exactly the pipelines' own. With `zero_empty_negative` (SDXL's
`force_zeros_for_empty_prompt`) an empty negative prompt is zeros, as the pipelines make it when
given no negative prompt.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from image_interpreter.generate.errors import GenerationError
from image_interpreter.priors.schema import PriorSet

if TYPE_CHECKING:
    import torch

    _Encoded = tuple[torch.Tensor, torch.Tensor | None]  # token embeddings, pooled (SDXL)

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
    pooled_prompt_embeds: torch.Tensor | None = None  # SDXL: (1, pooled dim); else None
    negative_pooled_prompt_embeds: torch.Tensor | None = None


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
        self.zero_empty_negative = False
        self._cache: OrderedDict[tuple[str, str], _Encoded] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, prompt: str, negative: str = "") -> PromptEmbeddings:
        """Embeddings of `prompt` and `negative`, padded to the same number of windows."""
        import torch

        positive, pooled = self._lookup(prompt)
        if not negative and self.zero_empty_negative:
            chunks = positive.shape[1] // self.max_length
            zeros = torch.zeros_like(positive)
            zero_pooled = torch.zeros_like(pooled) if pooled is not None else None
            return PromptEmbeddings(positive, zeros, chunks, pooled, zero_pooled)
        negative_embeds, negative_pooled = self._lookup(negative)
        chunks = max(positive.shape[1], negative_embeds.shape[1]) // self.max_length
        return PromptEmbeddings(
            self._pad(positive, chunks),
            self._pad(negative_embeds, chunks),
            chunks,
            pooled,
            negative_pooled,
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
        return self._lookup(text)[0]

    def _lookup(self, text: str) -> _Encoded:
        """The token embeddings of `text` and its pooled embedding (None but on SDXL), cached."""
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

    def _encode_windows(self, windows: list[list[int]]) -> _Encoded:
        import torch

        encoder = self.text_encoder
        ids, mask = _rows(self.tokenizer, encoder, windows, self.max_length)
        with torch.no_grad():
            hidden = encoder(ids, attention_mask=mask)[0]
        # (windows, 77, dim) -> (1, 77 * windows, dim)
        return hidden.to(dtype=encoder.dtype).reshape(1, -1, hidden.shape[-1]), None

    def _pad(self, embeds: torch.Tensor, chunks: int) -> torch.Tensor:
        import torch

        have = embeds.shape[1] // self.max_length
        if have >= chunks:
            return embeds
        empty = self.embed("")
        return torch.cat([embeds, *([empty] * (chunks - have))], dim=1)


class XLPromptEncoder(PromptEncoder):
    """SDXL's two text encoders, chunked and cached like `PromptEncoder` (see the module notes).

    Prompts are cut into windows with the first tokenizer. SDXL's two tokenizers share one
    vocabulary (they differ in the padding token), so both encoders see the same windows; a text
    the second tokenizer would split otherwise is refused rather than misread."""

    def __init__(
        self,
        tokenizers: tuple[Any, Any],
        text_encoders: tuple[Any, Any],
        model_key: str,
        cache_size: int = 64,
        *,
        zero_empty_negative: bool = True,
    ):
        super().__init__(tokenizers[0], text_encoders[0], model_key, cache_size)
        self.tokenizer_2, self.text_encoder_2 = tokenizers[1], text_encoders[1]
        self.zero_empty_negative = zero_empty_negative

    def windows(self, text: str) -> list[list[int]]:
        found = super().windows(text)
        second: list[int] = self.tokenizer_2(
            text, add_special_tokens=False, truncation=False, verbose=False
        ).input_ids
        if second != [token for window in found for token in window]:
            raise GenerationError(
                "The SDXL base's two tokenizers split this prompt differently, so it cannot be"
                " cut into the same windows for both text encoders."
            )
        return found

    def _encode_windows(self, windows: list[list[int]]) -> _Encoded:
        import torch

        hidden, pooled = [], None
        pairs = ((self.tokenizer, self.text_encoder), (self.tokenizer_2, self.text_encoder_2))
        for tokenizer, encoder in pairs:
            ids, mask = _rows(tokenizer, encoder, windows, self.max_length)
            with torch.no_grad():
                out = encoder(ids, attention_mask=mask, output_hidden_states=True)
            hidden.append(out.hidden_states[-2])  # the penultimate layer, as SDXL is trained
            pooled = getattr(out, "text_embeds", None)  # the projected output of the last
        if pooled is None:
            raise GenerationError(
                "The SDXL base's second text encoder has no projection (text_embeds); SDXL needs"
                " it for the pooled text embedding."
            )
        dtype = self.text_encoder_2.dtype
        joined = torch.cat(hidden, dim=-1).to(dtype=dtype)
        # (windows, 77, dim 1 + dim 2) -> (1, 77 * windows, dim); pooled: the first window's
        return joined.reshape(1, -1, joined.shape[-1]), pooled[:1].to(dtype=dtype)


def _rows(
    tokenizer: Any, encoder: Any, windows: list[list[int]], length: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Token ids of `windows` with start and end markers, padded to `length` with the
    tokenizer's own padding token; and the attention mask where the encoder uses one."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows, masks = [], []
    for window in windows:
        row = [tokenizer.bos_token_id, *window, tokenizer.eos_token_id]
        masks.append([1] * len(row) + [0] * (length - len(row)))
        rows.append(row + [pad] * (length - len(row)))
    device = encoder.device
    ids = torch.tensor(rows, dtype=torch.long, device=device)
    use_mask = getattr(encoder.config, "use_attention_mask", False)
    mask = torch.tensor(masks, dtype=torch.long, device=device) if use_mask else None
    return ids, mask


def _cut(tokens: list[str], start: int, end: int) -> int:
    """Where to end the window tokens[start:end]: after a comma, else after a word, near the end."""
    low = max(start + 1, end - _LOOK_BACK)
    for ends_well in (lambda t: t == ",</w>", lambda t: t.endswith("</w>")):
        for cut in range(end, low - 1, -1):
            if ends_well(tokens[cut - 1]):
                return cut
    return end
