"""Edits of the words: the caption, the styles, the time of day and the negative prompt.

Each creates the caption prior when the picture has none, so a user can always describe what
they want."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from image_interpreter.errors import EditError
from image_interpreter.priors.edits.base import EditBase, register_edit, with_prior
from image_interpreter.priors.schema import CaptionPrior, PriorSet, Provenance

Text = Annotated[str, Field(min_length=1, max_length=2000)]


def _caption(priors: PriorSet) -> CaptionPrior:
    return priors.caption or CaptionPrior(provenance=Provenance(extractor="edit"))


def _clean(text: str) -> str:
    return " ".join(text.split())


@register_edit
class SetCaption(EditBase):
    """Replace what the picture shows, in one sentence."""

    op: Literal["set_caption"] = "set_caption"
    text: Text

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        caption = _caption(priors).model_copy(update={"text": _clean(self.text)})
        return with_prior(priors, caption)

    def summary(self) -> str:
        return f"set the caption to “{_clean(self.text)}”"


@register_edit
class AmendCaption(EditBase):
    """Add a clause to the caption ('a woman in a park' + 'holding a cat')."""

    op: Literal["amend_caption"] = "amend_caption"
    text: Text

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        caption = _caption(priors)
        clause = _clean(self.text).strip(" ,;")
        if not clause:
            raise EditError(f"There is nothing to add to the caption in “{self.text}”.")
        base = caption.text.strip().rstrip(" .,;")
        text = f"{base}, {clause}" if base else clause
        return with_prior(priors, caption.model_copy(update={"text": text}))

    def summary(self) -> str:
        return f"added “{_clean(self.text)}” to the caption"


@register_edit
class AddStyle(EditBase):
    """Ask for a style ('watercolour', 'film noir'); adding one already there changes nothing."""

    op: Literal["add_style"] = "add_style"
    style: str = Field(min_length=1, max_length=200)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        caption = _caption(priors)
        style = _clean(self.style)
        if style.casefold() in {s.casefold() for s in caption.style}:
            notes.append(f"the style “{style}” was already there")
            return with_prior(priors, caption)
        return with_prior(priors, caption.model_copy(update={"style": [*caption.style, style]}))

    def summary(self) -> str:
        return f"added the style “{_clean(self.style)}”"


@register_edit
class SetTimeOfDay(EditBase):
    """When the scene happens ('golden hour', 'night')."""

    op: Literal["set_time_of_day"] = "set_time_of_day"
    time: str = Field(min_length=1, max_length=100)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        caption = _caption(priors).model_copy(update={"time_of_day": _clean(self.time)})
        return with_prior(priors, caption)

    def summary(self) -> str:
        return f"set the time of day to {_clean(self.time)}"


@register_edit
class SetNegativePrompt(EditBase):
    """What the picture must not show; an empty text clears it."""

    op: Literal["set_negative_prompt"] = "set_negative_prompt"
    text: str = Field(max_length=2000)

    def _run(self, priors: PriorSet, notes: list[str]) -> PriorSet:
        negative = _clean(self.text) or None
        return with_prior(priors, _caption(priors).model_copy(update={"negative": negative}))

    def summary(self) -> str:
        text = _clean(self.text)
        return f"set the negative prompt to “{text}”" if text else "cleared the negative prompt"
