"""Learned line maps through controlnet-aux, for the lineart and soft-edge/scribble ControlNets:
informative drawings' line art (fine or coarse) and HED soft edges (optionally as scribbles).

Both come out as ControlNets want them and as `EdgesPrior` stores them: white lines on black, one
grey channel, the source image's size. (The line-art network draws dark lines on white paper;
LineartDetector inverts it.) Canny, with no model, stays the default for the kind "edges".
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import Field

from image_interpreter.extract.base import ExtractContext, Extractor, Params, register_extractor
from image_interpreter.extract.extractors._annotators import (
    ANNOTATORS,
    fit,
    load_annotator,
    quiet,
    random_checkpoint,
    rgb_array,
    save_checkpoint,
)
from image_interpreter.images.fit import network_array
from image_interpreter.models import register_role, tiny_model
from image_interpreter.priors.schema import EdgesPrior

LINEART_FILES = ("sk_model.pth", "sk_model2.pth")  # fine, coarse
HED_FILE = "ControlNetHED.pth"

register_role(
    "extract.annotators.lineart",
    sd15=ANNOTATORS,
    sdxl=ANNOTATORS,
    tiny="tiny/annotators-lineart",
    description=f"controlnet-aux line-art generators ({', '.join(LINEART_FILES)})",
)
register_role(
    "extract.annotators.hed",
    sd15=ANNOTATORS,
    sdxl=ANNOTATORS,
    tiny="tiny/annotators-hed",
    description=f"controlnet-aux HED soft-edge network ({HED_FILE})",
)


def _detect_resolution() -> int:
    return Field(
        512,
        ge=64,
        le=2048,
        description="Short side the network sees, rounded to 64 px (controlnet-aux's default)."
        " Larger: finer lines, slower.",
    )


class _LinesExtractor(Extractor):
    """The shared tail: the detector's picture -> one grey channel at the source size."""

    kind = "edges"
    method: str = "other"

    @abstractmethod
    def detect(self, rgb: np.ndarray, params) -> np.ndarray:
        """The detector's H x W x 3 uint8 map, white on black, at about detect_resolution."""

    def method_for(self, params) -> str:
        return self.method

    def extract(self, image: Image.Image, params, ctx: ExtractContext) -> EdgesPrior:
        # controlnet-aux sizes by the shorter side alone; handing it a picture already at a
        # bounded network size (sides multiples of 64) makes its own resize a no-op.
        rgb = network_array(rgb_array(image), params.detect_resolution)
        drawn = self.detect(rgb, params)
        lines = fit(np.ascontiguousarray(drawn[..., 0]), image.size)
        if self.method_for(params) == "scribble":  # keep strokes binary after resizing
            lines = np.where(lines >= 128, 255, 0).astype(np.uint8)
        return EdgesPrior(map=ctx.put_png(lines), method=self.method_for(params))


class LineartParams(Params):
    coarse: bool = Field(
        False, description="The coarse model: fewer, bolder lines (ControlNet's lineart_coarse)."
    )
    detect_resolution: int = _detect_resolution()


@register_extractor
class LineartExtractor(_LinesExtractor):
    name = "edges.lineart"
    aliases = ("lineart", "line_art", "line-art")
    roles = ("extract.annotators.lineart",)
    Params = LineartParams
    description = "Line art (informative drawings): white lines on black, the picture's size."
    method = "lineart"

    def load(self) -> None:
        with quiet():
            from controlnet_aux.lineart import LineartDetector

        self.detector = load_annotator(LineartDetector, self.roles[0], self.settings, LINEART_FILES)

    def detect(self, rgb: np.ndarray, params: LineartParams) -> np.ndarray:
        side = min(rgb.shape[:2])  # the bounded size `extract` chose
        return self.detector(
            rgb,
            coarse=params.coarse,
            detect_resolution=side,
            image_resolution=side,
            output_type="np",
        )


class HedParams(Params):
    safe: bool = Field(
        False,
        description="Quantise edge strength into a few steps (controlnet-aux's 'safe' mode), so"
        " faint texture does not become lines.",
    )
    scribble: bool = Field(
        False,
        description="Thin, binarise and thicken the edges into strokes (scribble ControlNet).",
    )
    detect_resolution: int = _detect_resolution()


@register_extractor
class HedExtractor(_LinesExtractor):
    name = "edges.hed"
    aliases = ("hed", "softedge", "soft_edge")
    roles = ("extract.annotators.hed",)
    Params = HedParams
    description = "HED soft edges (or scribbles): white on black, the picture's size."
    method = "hed"

    def load(self) -> None:
        with quiet():
            from controlnet_aux.hed import HEDdetector

        self.detector = load_annotator(HEDdetector, self.roles[0], self.settings, (HED_FILE,))

    def method_for(self, params: HedParams) -> str:
        return "scribble" if params.scribble else "hed"

    def detect(self, rgb: np.ndarray, params: HedParams) -> np.ndarray:
        side = min(rgb.shape[:2])  # the bounded size `extract` chose
        return self.detector(
            rgb,
            detect_resolution=side,
            image_resolution=side,
            safe=params.safe,
            scribble=params.scribble,
            output_type="np",
        )


# --- tiny stand-ins: the real architectures (both small), random weights ---------------------


@tiny_model("tiny/annotators-lineart")
def build_lineart(folder: Path) -> None:
    """The two line-art generators LineartDetector loads (Generator(3, 1, 3), 4 M parameters
    each), as sk_model.pth and sk_model2.pth."""
    import torch

    with quiet():
        from controlnet_aux.lineart import Generator

    for seed, name in enumerate(LINEART_FILES, start=30):
        with torch.device("meta"):
            model = Generator(3, 1, 3)
        save_checkpoint(random_checkpoint(model, seed=seed), folder / name)


@tiny_model("tiny/annotators-hed")
def build_hed(folder: Path) -> None:
    """ControlNet's Apache-2 HED network (15 M parameters), as ControlNetHED.pth."""
    import torch

    with quiet():
        from controlnet_aux.hed import ControlNetHED_Apache2

    with torch.device("meta"):
        model = ControlNetHED_Apache2()
    save_checkpoint(random_checkpoint(model, seed=32), folder / HED_FILE)
