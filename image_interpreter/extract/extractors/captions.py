"""What the picture shows, in words: a caption, a detailed one, captions of regions, and answers to
open questions about one object ("what is she holding?").

Florence-2 is the default captioner (it also describes regions by itself); BLIP is the lighter
alternative and answers questions. Captions fill the `caption` prior's text and regions and leave
what the user or a tagger put there (tags, style, time of day, negative) alone. An answer becomes
one region caption whose box is the object asked about (the whole picture if none); the agent
asks through `answer_question`, which is cached like any extraction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from PIL import Image
from pydantic import Field, StringConstraints, ValidationError

from image_interpreter.errors import ExtractionError
from image_interpreter.extract.base import ExtractContext, Extractor, Params, register_extractor
from image_interpreter.extract.extractors import blip, florence2
from image_interpreter.extract.extractors.regions import WHOLE, crop
from image_interpreter.priors.schema import Box, CaptionPrior, ImageRef, Prior, RegionCaption

if TYPE_CHECKING:
    from image_interpreter.extract.service import ExtractionService

MAX_BOXES = 16
Boxes = Annotated[
    list[Box], Field(max_length=MAX_BOXES, description="Regions to caption too (normalised).")
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
_KEPT = ("tags", "style", "time_of_day", "negative", "enabled", "weight", "start", "end")


class CaptionExtractor(Extractor):
    """Captioners replace the words, never what else the caption prior holds."""

    kind = "caption"

    def merge(self, existing: Prior | None, new: Prior) -> Prior:
        if not isinstance(existing, CaptionPrior):
            return new
        return new.model_copy(update={name: getattr(existing, name) for name in _KEPT})


# --- Florence-2 ----------------------------------------------------------------------------------


class FlorenceCaptionParams(Params):
    detailed: bool = Field(True, description="Also write a detailed caption (a paragraph).")
    regions: bool = Field(False, description="Also find and caption the things in the picture.")
    boxes: Boxes = Field(default_factory=list)
    max_new_tokens: int = Field(256, ge=1, le=1024, description="Longest answer, in tokens.")
    num_beams: int = Field(3, ge=1, le=8, description="Beam search width (1 = greedy, fastest).")


@register_extractor
class Florence2Captions(CaptionExtractor):
    name = "caption.florence2"
    aliases = ("caption", "describe", "florence2")
    default = True
    roles = (florence2.ROLE,)
    Params = FlorenceCaptionParams
    description = "Florence-2: a caption, a detailed caption, and captions of regions."

    def load(self) -> None:
        self.florence = florence2.florence2(self.settings)

    def extract(self, image: Image.Image, params: FlorenceCaptionParams, ctx: ExtractContext):
        generation = {"max_new_tokens": params.max_new_tokens, "num_beams": params.num_beams}
        steps = 1 + params.detailed + params.regions + len(params.boxes)

        def step(done: int, what: str) -> None:
            ctx.progress(what, 0.1 + 0.9 * done / steps)

        text = self.florence.text(image, "<CAPTION>", **generation)
        detailed = None
        if params.detailed:
            step(1, "detailed caption")
            detailed = self.florence.text(image, "<DETAILED_CAPTION>", **generation)
        regions = []
        if params.regions:
            step(1 + params.detailed, "region captions")
            found = self.florence.boxes(image, "<DENSE_REGION_CAPTION>", **generation)
            regions += [RegionCaption(box=box, text=label) for label, box in found]
        for index, box in enumerate(params.boxes):
            step(1 + params.detailed + params.regions + index, f"region {index + 1}")
            words = self.florence.text(
                image, "<REGION_TO_DESCRIPTION>", florence2.loc_tokens(box), **generation
            )
            regions.append(RegionCaption(box=box, text=words))
        return CaptionPrior(text=text, detailed=detailed, regions=regions)


# --- BLIP ----------------------------------------------------------------------------------------


class BlipCaptionParams(Params):
    prompt: Text = Field("", description="Start of the caption to continue ('a photograph of').")
    boxes: Boxes = Field(default_factory=list)
    max_new_tokens: int = Field(40, ge=1, le=256, description="Longest caption, in tokens.")
    num_beams: int = Field(3, ge=1, le=8, description="Beam search width (1 = greedy, fastest).")


@register_extractor
class BlipCaptions(CaptionExtractor):
    name = "caption.blip"
    aliases = ("blip",)
    roles = (blip.CAPTION_ROLE,)
    Params = BlipCaptionParams
    description = "BLIP: a one-sentence caption, and captions of crops around given boxes."

    def load(self) -> None:
        self.blip = blip.Blip(self.settings, blip.CAPTION_ROLE)

    def extract(self, image: Image.Image, params: BlipCaptionParams, ctx: ExtractContext):
        generation = {"max_new_tokens": params.max_new_tokens, "num_beams": params.num_beams}
        text = self.blip.generate(image, params.prompt, **generation)
        regions = [
            RegionCaption(box=box, text=self.blip.generate(crop(image, box), **generation))
            for box in params.boxes
        ]
        return CaptionPrior(text=text, regions=regions)


# --- questions about the picture -----------------------------------------------------------------


class QueryParams(Params):
    question: Question = Field(description="An open question: 'what is she holding?'.")
    box: Box | None = Field(None, description="The object it is about; None: the whole picture.")
    max_new_tokens: int = Field(20, ge=1, le=100, description="Longest answer, in tokens.")


@register_extractor
class QueryExtractor(Extractor):
    name = "caption.query"
    kind = "caption"
    aliases = ("ask", "query")
    roles = (blip.VQA_ROLE,)
    Params = QueryParams
    description = "BLIP VQA: a short answer to a question about the picture or one box in it."

    def load(self) -> None:
        self.blip = blip.Blip(self.settings, blip.VQA_ROLE)

    def ask(
        self, image: Image.Image, question: str, box: Box | None = None, *, max_new_tokens: int = 20
    ) -> str:
        """The answer, computed now (no cache): for callers that hold no service."""
        try:
            params = QueryParams(question=question, box=box, max_new_tokens=max_new_tokens)
        except ValidationError as exc:
            problems = "; ".join(err["msg"] for err in exc.errors())
            raise ExtractionError(f"Cannot ask that ({problems}).") from None
        self.ensure_loaded()
        with self.run_lock:
            return self._answer(image, params)

    def extract(self, image: Image.Image, params: QueryParams, ctx: ExtractContext):
        region = RegionCaption(box=params.box or WHOLE, text=self._answer(image, params))
        return CaptionPrior(regions=[region])

    def merge(self, existing: Prior | None, new: Prior) -> Prior:
        """The answer joins the caption's regions; the rest of the caption stays as it was."""
        if not isinstance(existing, CaptionPrior) or not isinstance(new, CaptionPrior):
            return new
        regions = [r for r in existing.regions if r not in new.regions] + new.regions
        return existing.model_copy(update={"regions": regions})

    def _answer(self, image: Image.Image, params: QueryParams) -> str:
        picture = crop(image, params.box) if params.box is not None else image
        return self.blip.generate(picture, params.question, max_new_tokens=params.max_new_tokens)


def answer_question(
    service: ExtractionService,
    image: Image.Image,
    source: ImageRef,
    question: str,
    box: Box | None = None,
    *,
    put_artifact=None,
) -> str:
    """The answer to `question` about `image` (or the object in `box`), through the service's
    cache: asking the same thing twice runs no model. Bad input raises ExtractionError."""
    prior = service.extract(
        image,
        source,
        QueryExtractor.name,
        {"question": question, "box": box},
        put_artifact=put_artifact,
    )
    return prior.regions[-1].text
