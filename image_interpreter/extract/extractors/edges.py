"""Edge maps for the canny/lineart ControlNets. Canny is OpenCV's, with controlnet-aux's defaults
(thresholds 100/200), and needs no model."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image
from pydantic import Field, model_validator

from image_interpreter.extract.base import ExtractContext, Extractor, Params, register_extractor
from image_interpreter.priors.schema import EdgesPrior


class CannyParams(Params):
    low: int = Field(100, ge=0, le=255, description="Lower hysteresis threshold.")
    high: int = Field(200, ge=0, le=255, description="Upper hysteresis threshold.")

    @model_validator(mode="after")
    def _ordered(self) -> CannyParams:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be at least low ({self.low})")
        return self


@register_extractor
class CannyExtractor(Extractor):
    name = "edges.canny"
    kind = "edges"
    aliases = ("edges", "canny")
    default = True
    Params = CannyParams
    description = "Canny edges: white lines on black, the picture's size."

    def extract(self, image: Image.Image, params: CannyParams, ctx: ExtractContext):
        grey = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
        edges = cv2.Canny(grey, params.low, params.high)
        return EdgesPrior(map=ctx.put_png(edges), method="canny")
