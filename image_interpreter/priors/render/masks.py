"""Inpainting masks from detected objects: the union of the chosen objects' masks, optionally grown.

Inpainting pipelines take an 'L' image, 255 where to repaint and 0 where to keep. Growing the
mask a few pixels (`dilate`) lets the repaint blend over the object's outline instead of leaving
a halo of the old object around the new one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np
from PIL import Image

from image_interpreter.errors import PriorsError
from image_interpreter.priors.render.maps import grey_array, read_map, resize
from image_interpreter.priors.render.registry import ReadArtifact, check_size
from image_interpreter.priors.schema import DetectedObject, ObjectsPrior


def render_inpaint_mask(
    objects: ObjectsPrior | None,
    size: Iterable[int],
    read_artifact: ReadArtifact,
    *,
    select: Iterable[int | str] | None = None,
    dilate: int = 0,
) -> Image.Image:
    """An 'L' mask (0/255) at `size` covering the selected objects, grown by `dilate` pixels.

    `select` takes object indices and labels (a label selects every object with it); None selects
    all. An object without a mask is covered by its box.
    """
    width, height = check_size(size)
    if isinstance(dilate, bool) or not isinstance(dilate, int) or dilate < 0:
        raise PriorsError(f"dilate is a number of pixels, 0 or more, not {dilate!r}.")
    chosen = _select(objects, select)
    mask = np.zeros((height, width), dtype=np.uint8)
    for index, item in chosen:
        if item.mask is None:
            box = item.box
            x0, y0 = math.floor(box.x0 * width), math.floor(box.y0 * height)
            x1, y1 = math.ceil(box.x1 * width), math.ceil(box.y1 * height)
            mask[y0:y1, x0:x1] = 255
            continue
        what = f"mask of object {index} ('{item.label}')"
        grey = grey_array(read_map(item.mask, read_artifact, what, "objects"))
        if grey.dtype == np.uint16:
            grey = (grey >> 8).astype(np.uint8)
        binary = np.where(grey > 127, 255, 0).astype(np.uint8)
        scaled = resize(binary, (width, height))
        np.maximum(mask, np.where(scaled > 127, 255, 0).astype(np.uint8), out=mask)
    if dilate:
        # Distance to the nearest masked pixel <= dilate: a round, exact grow, in one pass.
        distance = cv2.distanceTransform(255 - mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        mask = np.where(distance <= dilate, 255, 0).astype(np.uint8)
    return Image.fromarray(mask)


def _select(
    objects: ObjectsPrior | None, select: Iterable[int | str] | None
) -> list[tuple[int, DetectedObject]]:
    items = list(objects.objects) if objects is not None else []
    if not items:
        raise PriorsError(
            "There are no detected objects to mask. Extract objects first (or import them)."
        )
    if select is None:
        return list(enumerate(items))
    if isinstance(select, (str, int)):
        select = [select]
    chosen: dict[int, DetectedObject] = {}
    for wanted in select:
        if isinstance(wanted, str):
            found = [i for i, item in enumerate(items) if item.label.lower() == wanted.lower()]
            if not found:
                labels = ", ".join(sorted({f"'{item.label}'" for item in items}))
                raise PriorsError(f"No object is labelled '{wanted}'; the objects are: {labels}.")
            chosen.update((i, items[i]) for i in found)
        elif isinstance(wanted, int) and not isinstance(wanted, bool) and 0 <= wanted < len(items):
            chosen[wanted] = items[wanted]
        else:
            raise PriorsError(
                f"{wanted!r} is not an object: pick an index from 0 to {len(items) - 1} or a label."
            )
    if not chosen:
        raise PriorsError("No objects were selected for the mask; name at least one.")
    return sorted(chosen.items())
