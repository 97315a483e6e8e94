"""Edits of how candidates are generated: size, seed, how many, steps, guidance, strength."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from image_interpreter.priors.edits.base import EditBase, register_edit
from image_interpreter.priors.schema import PriorSet, Unit

MIN_SIDE, MAX_SIDE, MULTIPLE = 64, 4096, 8
DEFAULT_AREA = 1024 * 1024  # pixels kept when only an aspect is given and nothing else says

ASPECTS: dict[str, float] = {
    "square": 1.0,
    "portrait": 2 / 3,
    "landscape": 3 / 2,
    "wide": 16 / 9,
    "tall": 9 / 16,
}
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*$")


def aspect_ratio(text: str) -> float:
    """Width over height for '16:9', '4x3', 'square', 'portrait', 'landscape', 'wide', 'tall'."""
    named = ASPECTS.get(text.strip().lower())
    if named is not None:
        return named
    match = _RATIO.match(text)
    if match is None or float(match[2]) == 0 or float(match[1]) == 0:
        raise ValueError(
            f"unknown aspect {text!r}: use 'W:H' such as '16:9', or one of {', '.join(ASPECTS)}"
        )
    ratio = float(match[1]) / float(match[2])
    if not 1 / 8 <= ratio <= 8:
        raise ValueError(f"aspect {text!r} is too extreme: keep it between 1:8 and 8:1")
    return ratio


def _round(side: float) -> int:
    return int(min(MAX_SIDE, max(MIN_SIDE, round(side / MULTIPLE) * MULTIPLE)))


@register_edit
class SetSize(EditBase):
    """The output size in pixels, rounded to multiples of 8. Give `width` and `height`, or an
    `aspect` ('16:9', 'square', 'portrait') with at most one side: a lone aspect keeps the
    current number of pixels, a lone side keeps the current aspect."""

    op: Literal["set_size"] = "set_size"
    width: int | None = Field(None, ge=MIN_SIDE, le=MAX_SIDE)
    height: int | None = Field(None, ge=MIN_SIDE, le=MAX_SIDE)
    aspect: str | None = Field(
        None,
        max_length=20,
        description="'W:H' ('16:9'), or square, portrait, landscape, wide, tall.",
    )

    @field_validator("aspect")
    @classmethod
    def _known_aspect(cls, value: str | None) -> str | None:
        if value is not None:
            aspect_ratio(value)
        return value

    @model_validator(mode="after")
    def _enough(self) -> SetSize:
        if self.width is None and self.height is None and self.aspect is None:
            raise ValueError("give a width and height, or an aspect")
        if self.width is not None and self.height is not None and self.aspect is not None:
            raise ValueError("give width and height, or an aspect with one side, not all three")
        return self

    def size(self, priors: PriorSet) -> tuple[int, int]:
        gen, src = priors.generation, priors.source
        cur_w = gen.width or (gen.height and gen.height * src.width / src.height) or src.width
        cur_h = gen.height or (gen.width and gen.width * src.height / src.width) or src.height
        ratio = aspect_ratio(self.aspect) if self.aspect else cur_w / cur_h
        if self.width is not None and self.height is not None:
            w, h = float(self.width), float(self.height)
        elif self.width is not None:
            w, h = self.width, self.width / ratio
        elif self.height is not None:
            w, h = self.height * ratio, self.height
        else:
            area = cur_w * cur_h if gen.width or gen.height else min(cur_w * cur_h, DEFAULT_AREA)
            h = (area / ratio) ** 0.5
            w = h * ratio
        return _round(w), _round(h)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        width, height = self.size(priors)
        if (self.width is not None and width != self.width) or (
            self.height is not None and height != self.height
        ):
            notes.append(f"rounded to {width}×{height} (multiples of {MULTIPLE})")
        generation = priors.generation.model_copy(update={"width": width, "height": height})
        return priors.model_copy(update={"generation": generation})

    def summary(self) -> str:
        if self.width is not None and self.height is not None:
            return f"set the output size to {self.width}×{self.height}"
        side = f"{self.width} wide" if self.width else f"{self.height} high" if self.height else ""
        if self.aspect is None:
            return f"made the output {side}, keeping its aspect"
        return f"made the output {self.aspect}" + (f", {side}" if side else "")


def _setting(priors: PriorSet, **changes: object) -> PriorSet:
    return priors.model_copy(update={"generation": priors.generation.model_copy(update=changes)})


@register_edit
class SetSeed(EditBase):
    """Fix the random seed (same seed + same priors = same pictures), or None for a new one."""

    op: Literal["set_seed"] = "set_seed"
    seed: int | None = Field(None, ge=0, lt=2**63)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        return _setting(priors, seed=self.seed)

    def summary(self) -> str:
        return "chose a new random seed" if self.seed is None else f"set the seed to {self.seed}"


@register_edit
class SetCandidates(EditBase):
    """How many pictures to generate to choose from (1 to 16)."""

    op: Literal["set_candidates"] = "set_candidates"
    n: int = Field(ge=1, le=16)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        return _setting(priors, candidates=self.n)

    def summary(self) -> str:
        return f"set the number of candidates to {self.n}"


@register_edit
class SetSteps(EditBase):
    """Denoising steps (1 to 200): more is slower and usually finer."""

    op: Literal["set_steps"] = "set_steps"
    n: int = Field(ge=1, le=200)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        return _setting(priors, steps=self.n)

    def summary(self) -> str:
        return f"set the denoising steps to {self.n}"


@register_edit
class SetGuidance(EditBase):
    """Classifier-free guidance (0 to 30): how literally the caption is followed."""

    op: Literal["set_guidance"] = "set_guidance"
    value: float = Field(ge=0.0, le=30.0)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        return _setting(priors, guidance=self.value)

    def summary(self) -> str:
        return f"set the guidance to {self.value:g}"


@register_edit
class SetStrength(EditBase):
    """img2img strength (0 to 1): how far candidates may move from the source picture."""

    op: Literal["set_strength"] = "set_strength"
    value: Unit

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        return _setting(priors, strength=self.value)

    def summary(self) -> str:
        return f"set the img2img strength to {self.value:g}"
