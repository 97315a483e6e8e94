"""Dominant colours, by Pillow's median-cut quantiser: no model, deterministic, milliseconds."""

from __future__ import annotations

from PIL import Image
from pydantic import Field

from image_interpreter.extract.base import ExtractContext, Extractor, Params, register_extractor
from image_interpreter.priors.schema import PaletteColor, PalettePrior


class PaletteParams(Params):
    colors: int = Field(6, ge=1, le=32, description="How many dominant colours to keep.")
    max_side: int = Field(256, ge=16, le=2048, description="Work on a copy at most this large.")


@register_extractor
class PaletteExtractor(Extractor):
    name = "palette.median_cut"
    kind = "palette"
    aliases = ("palette", "colors", "colours")
    default = True
    Params = PaletteParams
    description = "The picture's dominant colours and how much of it each covers."

    def extract(self, image: Image.Image, params: PaletteParams, ctx: ExtractContext):
        small = image.convert("RGB")
        small.thumbnail((params.max_side, params.max_side))
        quantised = small.quantize(colors=params.colors, method=Image.Quantize.MEDIANCUT)
        palette = quantised.getpalette() or []
        counts = sorted(quantised.getcolors() or [], reverse=True)
        total = sum(count for count, _ in counts) or 1
        colors = [
            PaletteColor(
                hex="#{:02x}{:02x}{:02x}".format(*palette[3 * index : 3 * index + 3]),
                fraction=round(count / total, 6),
            )
            for count, index in counts
        ]
        return PalettePrior(colors=colors)
