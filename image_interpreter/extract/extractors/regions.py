"""Boxes between models and priors: models speak pixels, priors speak [0, 1] (see priors.schema).

Detectors happily return boxes that reach past the picture or have corners swapped; these helpers
clip and order them, and drop the ones with nothing left inside."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from image_interpreter.priors.schema import Box

WHOLE = Box(x0=0.0, y0=0.0, x1=1.0, y1=1.0)


def normalised(pixels: Sequence[float], size: tuple[int, int]) -> Box | None:
    """(x0, y0, x1, y1) in pixels of a `size` = (width, height) picture as a normalised Box, or
    None when nothing of it is inside the picture."""
    width, height = size
    x0, y0, x1, y1 = (float(v) for v in pixels)
    xs = sorted(_clip(v / width) for v in (x0, x1))
    ys = sorted(_clip(v / height) for v in (y0, y1))
    if xs[0] == xs[1] or ys[0] == ys[1]:
        return None
    return Box(x0=xs[0], y0=ys[0], x1=xs[1], y1=ys[1])


def crop(image: Image.Image, box: Box, margin: float = 0.1, min_side: int = 8) -> Image.Image:
    """The part of `image` in `box`, with `margin` (a fraction of the box) of context around it,
    and at least `min_side` pixels each way so a model always has something to look at."""
    width, height = image.size
    dx, dy = (box.x1 - box.x0) * margin, (box.y1 - box.y0) * margin
    left, right = _span(box.x0 - dx, box.x1 + dx, width, min_side)
    top, bottom = _span(box.y0 - dy, box.y1 + dy, height, min_side)
    return image.crop((left, top, right, bottom))


def _span(start: float, end: float, length: int, min_side: int) -> tuple[int, int]:
    low, high = round(_clip(start) * length), round(_clip(end) * length)
    want = min(min_side, length)
    if high - low < want:
        middle = (low + high) // 2
        low = max(0, min(middle - want // 2, length - want))
        high = low + want
    return low, high


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))
