"""Depth, segmentation and edge maps (PNG artifacts) -> RGB control images at the target size.

Maps are stored at the source image's resolution in its frame, so they are stretched to the
target size like the normalised coordinates are. Shrinking averages (INTER_AREA); enlarging
interpolates linearly, as controlnet-aux resizes its own detected maps; class-index maps are
resized by nearest neighbour so no class is invented at a boundary.
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
from PIL import Image

from image_interpreter.errors import PriorsError
from image_interpreter.priors.render.ade20k import ADE20K_PALETTE
from image_interpreter.priors.render.registry import (
    MAX_PIXELS,
    ReadArtifact,
    Size,
    renderer,
)
from image_interpreter.priors.schema import (
    ArtifactRef,
    DepthAdjust,
    DepthPrior,
    EdgesPrior,
    SegmentationPrior,
)

# Class index -> colour; indices past the 150 classes (255 = unlabelled) stay black.
_ADE20K_LUT = np.zeros((256, 1, 3), dtype=np.uint8)
_ADE20K_LUT[: len(ADE20K_PALETTE), 0] = ADE20K_PALETTE


def read_map(ref: ArtifactRef, read_artifact: ReadArtifact, what: str, kind: str) -> Image.Image:
    """The decoded PNG an ArtifactRef points to; ArtifactError from the reader passes through."""
    data = read_artifact(ref.sha256)
    label = f"The {what} (artifact {ref.sha256[:12]})"
    again = f" Extract {kind} again, or disable the {kind} prior."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG"])
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise PriorsError(f"{label} is {width}x{height}, too large to be a map.{again}")
            image.load()
    except PriorsError:
        raise
    except Exception as exc:  # whatever the decoder raises on bad bytes is the artifact's fault
        raise PriorsError(
            f"{label} is not a readable PNG ({type(exc).__name__}: {exc}).{again}"
        ) from None
    return image


def grey_array(image: Image.Image) -> np.ndarray:
    """A greyscale map as a 2-D uint8 or uint16 array (16-bit depth keeps its precision)."""
    if image.mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    if image.mode == "I":
        return np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
    if image.mode != "L":
        image = image.convert("L")
    return np.asarray(image)


def resize(array: np.ndarray, size: Size, nearest: bool = False) -> np.ndarray:
    """`array` stretched to (width, height); unchanged when it already has that size."""
    width, height = size
    rows, cols = array.shape[:2]
    if (cols, rows) == (width, height):
        return array
    if nearest:
        interpolation = cv2.INTER_NEAREST_EXACT
    elif width <= cols and height <= rows:
        interpolation = cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_LINEAR
    return cv2.resize(array, (width, height), interpolation=interpolation)


def _grey_control(array: np.ndarray, size: Size) -> Image.Image:
    array = resize(array, size)
    if array.dtype == np.uint16:  # 0..65535 -> 0..255, rounded
        array = cv2.convertScaleAbs(array, alpha=255.0 / 65535.0)
    return Image.fromarray(cv2.cvtColor(array, cv2.COLOR_GRAY2RGB))


@renderer("depth")
def render_depth(prior: DepthPrior, size: Size, read_artifact: ReadArtifact) -> Image.Image:
    """The depth map as RGB grey, bright = near (as stored), what depth ControlNets expect, with
    the prior's adjustments (the edits "flatten the depth", "push the background back") applied."""
    array = grey_array(read_map(prior.map, read_artifact, "depth map", "depth"))
    if prior.adjust != DepthAdjust():
        array = adjust_depth(array, prior.adjust)
    return _grey_control(array, size)


def adjust_depth(array: np.ndarray, adjust: DepthAdjust) -> np.ndarray:
    """Apply DepthAdjust to a depth map (bright = near), keeping its dtype.

    In order: invert; contrast around the middle (`scale`); blend towards the mean (`flatten`);
    a gamma that leaves the nearest things alone and sends far things further (`push_background`);
    a Gaussian blur whose sigma is `blur` times the map's width."""
    top = 65535.0 if array.dtype == np.uint16 else 255.0
    depth = array.astype(np.float32) / top
    if adjust.invert:
        depth = 1.0 - depth
    if adjust.scale != 1.0:
        depth = 0.5 + (depth - 0.5) * adjust.scale
    if adjust.flatten:
        depth = depth * (1.0 - adjust.flatten) + float(depth.mean()) * adjust.flatten
    depth = np.clip(depth, 0.0, 1.0)
    if adjust.push_background:
        depth = depth ** (1.0 + 2.0 * adjust.push_background)
    if adjust.blur:
        depth = cv2.GaussianBlur(depth, (0, 0), sigmaX=max(adjust.blur * depth.shape[1], 0.1))
    return np.clip(np.rint(depth * top), 0, top).astype(array.dtype)


@renderer("edges")
def render_edges(prior: EdgesPrior, size: Size, read_artifact: ReadArtifact) -> Image.Image:
    """The edge map as RGB, white edges on black."""
    return _grey_control(grey_array(read_map(prior.map, read_artifact, "edge map", "edges")), size)


@renderer("segmentation")
def render_segmentation(
    prior: SegmentationPrior, size: Size, read_artifact: ReadArtifact
) -> Image.Image:
    """The class-index map coloured with the ADE20K palette the seg ControlNet was trained on."""
    if prior.palette != "ade20k":
        raise PriorsError(
            f"The segmentation prior uses the '{prior.palette}' palette, but the segmentation"
            " ControlNet only knows ADE20K classes. Extract segmentation with an ADE20K model"
            " (e.g. UperNet or SegFormer ADE20K), or disable the segmentation prior."
        )
    image = read_map(prior.map, read_artifact, "segmentation map", "segmentation")
    if image.mode not in ("L", "P"):
        raise PriorsError(
            f"The segmentation map (artifact {prior.map.sha256[:12]}) is a {image.mode} image,"
            " not a class-index PNG (one byte per pixel: each pixel's ADE20K class index)."
            " Extract segmentation again, or disable the segmentation prior."
        )
    indices = resize(np.asarray(image), size, nearest=True)
    colours = cv2.LUT(cv2.merge((indices, indices, indices)), _ADE20K_LUT)
    return Image.fromarray(colours)
