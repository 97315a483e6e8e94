"""One rule for every resize a network, renderer or generator makes: bound the *output*.

Resizing by "shorter side to N" (controlnet-aux, torchvision and CLIP preprocessing) turns a
legal 2000x1 picture into a 1,024,000x512 array; the size of a picture a network sees must be
bounded whatever the input's shape. `fit_size` picks that size: a target scale, then the aspect
ratio, the longest side and the area are bounded, in that order, and each side is a whole
multiple. Ordinary photos come out as they would without the bounds; an extreme shape is
stretched on its short side instead of blowing up.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

Size = tuple[int, int]

NETWORK_ASPECT = 4.0
"""Longest side over shortest a network input may have: panoramas (3:1) pass unchanged, an
extreme strip is stretched across (a 20:1 picture becomes 4:1)."""


def fit_size(
    size: Size,
    *,
    scale: float | None = None,
    short_side: float | None = None,
    long_side: float | None = None,
    min_side: int = 1,
    max_side: int | None = None,
    max_pixels: int | None = None,
    max_aspect: float | None = None,
    multiple: int = 1,
    round_down: bool = False,
) -> Size:
    """(width, height) for a picture of `size`, bounded whatever its shape.

    At most one target: `scale`, or the shorter or the longer side at a length (none: as it
    is). Then the short side grows to `min_side` (keeping the aspect), the aspect ratio is cut to
    `max_aspect` (the short side grows), the picture shrinks into `max_side` and `max_pixels`
    (keeping the aspect), and each side is clamped to [min_side, max_side] and rounded to a
    multiple of `multiple` (to nearest, or down): the result never exceeds the bounds."""
    width, height = (float(v) for v in size)
    if not (width >= 1 and height >= 1 and math.isfinite(width * height)):
        raise ValueError(f"A picture's size is at least 1x1 pixels, not {size!r}.")
    if sum(v is not None for v in (scale, short_side, long_side)) > 1:
        raise ValueError("Give at most one of scale, short_side and long_side.")
    floor = max(min_side, multiple)
    ceiling = max_side
    if ceiling is not None:
        ceiling = ceiling // multiple * multiple
        if ceiling < floor:
            raise ValueError(f"max_side {max_side} is below the smallest side allowed ({floor}).")
    if max_pixels is not None and max_pixels < floor * floor:
        raise ValueError(f"max_pixels {max_pixels} is below the smallest picture ({floor}²).")
    factor = scale if scale is not None else 1.0
    if short_side is not None:
        factor = short_side / min(width, height)
    elif long_side is not None:
        factor = long_side / max(width, height)
    width, height = width * factor, height * factor
    grow = floor / min(width, height)
    if grow > 1:
        width, height = width * grow, height * grow
    if max_aspect is not None and max(width, height) > min(width, height) * max_aspect:
        short = max(width, height) / max_aspect
        width, height = (width, short) if width >= height else (short, height)
    shrink = 1.0
    if ceiling is not None:
        shrink = min(shrink, ceiling / max(width, height))
    if max_pixels is not None:
        shrink = min(shrink, math.sqrt(max_pixels / (width * height)))
    width, height = width * shrink, height * shrink
    fitted = tuple(_side(v, floor, ceiling, multiple, round_down) for v in (width, height))
    if max_pixels is not None:  # rounding up may cross the area bound: trim the longer side
        while fitted[0] * fitted[1] > max_pixels:
            longer = 0 if fitted[0] >= fitted[1] else 1
            trimmed = list(fitted)
            trimmed[longer] -= multiple
            fitted = (trimmed[0], trimmed[1])
    return fitted


def fit_image(image: Image.Image, **bounds) -> Image.Image:
    """`image` resized to `fit_size(image.size, **bounds)` (the same object when that is its
    size); Lanczos when enlarging, box averaging when shrinking."""
    size = fit_size(image.size, **bounds)
    if size == image.size:
        return image
    shrinking = size[0] * size[1] < image.width * image.height
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.LANCZOS
    return image.resize(size, resample)


def fit_array(array: np.ndarray, **bounds) -> np.ndarray:
    """An H x W (x C) array resized to `fit_size((W, H), **bounds)`, as controlnet-aux resizes:
    Lanczos when enlarging, area averaging when shrinking."""
    height, width = array.shape[:2]
    size = fit_size((width, height), **bounds)
    if size == (width, height):
        return array
    shrinking = size[0] * size[1] < width * height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    return cv2.resize(array, size, interpolation=interpolation)


def network_size(size: Size, resolution: int, multiple: int = 64) -> Size:
    """What a detector sees, by controlnet-aux's convention (shorter side at `resolution`, sides
    multiples of 64), with the longer side at most NETWORK_ASPECT x `resolution`."""
    return fit_size(
        size,
        short_side=resolution,
        max_side=round(resolution * NETWORK_ASPECT),
        multiple=multiple,
    )


def network_array(array: np.ndarray, resolution: int, multiple: int = 64) -> np.ndarray:
    """`array` resized to `network_size` (see there)."""
    return fit_array(
        array, short_side=resolution, max_side=round(resolution * NETWORK_ASPECT), multiple=multiple
    )


def network_picture(image: Image.Image, max_side: int = 1024) -> Image.Image:
    """A copy a "shorter side to N, then crop or pad" preprocessor (CLIP, torchvision, OWLv2)
    can take safely: aspect at most NETWORK_ASPECT, longest side at most `max_side`."""
    return fit_image(image, max_side=max_side, max_aspect=NETWORK_ASPECT)


def _side(value: float, floor: int, ceiling: int | None, multiple: int, round_down: bool) -> int:
    steps = math.floor(value / multiple) if round_down else round(value / multiple)
    side = max(floor, steps * multiple)
    if side % multiple:
        side += multiple - side % multiple
    return min(side, ceiling) if ceiling is not None else side
