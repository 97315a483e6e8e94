"""CLIP score: how well each candidate matches the prompt, by open_clip image-text cosine.

The model is the one the object labels use (role "clip", loaded once per process by
`extract.extractors.clip_labels.load_clip`), so ranking adds no second copy of CLIP.

Scaling: the part reported is CLIPScore (Hessel et al. 2021), `min(1, 2.5 * max(cos, 0))`. Real
CLIP cosines between a picture and a fitting caption sit around 0.25-0.40, so the factor 2.5
spreads them over [0, 1] without capping good matches; the raw cosine is kept beside it.
Prompts longer than CLIP's token window are not cut: they are split between words into pieces
that fit, whose normalised embeddings are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from image_interpreter.settings import Settings

if TYPE_CHECKING:
    from image_interpreter.extract.extractors.clip_labels import Clip

CLIPSCORE_W = 2.5  # Hessel et al.'s rescaling of the cosine


def load_clip(settings: Settings) -> Clip:
    """The shared CLIP model (role "clip"), loaded once per process. Imported on first use, so
    ranking without CLIP never touches the extractor modules."""
    from image_interpreter.extract.extractors.clip_labels import load_clip as load

    return load(settings)


def clipscore(cosine: float) -> float:
    """The [0, 1] CLIP part from a raw cosine (CLIPScore, w = 2.5, capped at 1)."""
    return float(min(1.0, CLIPSCORE_W * max(float(cosine), 0.0)))


def clip_cosines(
    clip: Clip, images: Sequence[Image.Image], prompt: str, batch_size: int = 16
) -> np.ndarray:
    """Cosine similarity of each image with the prompt, in [-1, 1], in the images' order;
    the images are encoded `batch_size` at a time."""
    if not images:
        return np.zeros(0)
    pieces = clip.embed_texts(prompt_pieces(clip.tokenizer, prompt))
    text = pieces.mean(dim=0)
    text = text / text.norm()
    pictures = clip.embed_images([image.convert("RGB") for image in images], batch_size)
    return (pictures @ text).numpy().astype(float)


def prompt_pieces(tokenizer, prompt: str) -> list[str]:
    """`prompt` split between words into pieces that each fit the tokenizer's window (with its
    start and end tokens); one piece when it fits, or when the tokenizer cannot count tokens."""
    window = getattr(tokenizer, "context_length", None)
    if not window or not hasattr(tokenizer, "encode"):
        return [prompt]
    room = window - 2
    pieces: list[list[str]] = [[]]
    used = 0
    for word in prompt.split():
        size = len(tokenizer.encode(word))
        if pieces[-1] and used + size > room:
            pieces.append([])
            used = 0
        pieces[-1].append(word)
        used += size
    return [" ".join(words) for words in pieces]
