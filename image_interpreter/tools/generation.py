"""Tools that make pictures: generate ranked candidates, choose one, upscale, interpolate.

Candidates are stored in the session as a generation (`store_candidates`, with each candidate's
ranking scores); a chosen, upscaled or interpolated picture is referred to by its handles
(generation id and candidate index, or the image handle it gets), never by a file.
"""

from __future__ import annotations

from typing import Literal

from langchain_core.tools import BaseTool
from pydantic import Field, model_validator

from image_interpreter.errors import ImageInterpreterError
from image_interpreter.generate.errors import Notice
from image_interpreter.generate.request import GenerationRequest, Mode, Seed
from image_interpreter.generate.store import recipe_from_record, store_candidates
from image_interpreter.images import encode_png
from image_interpreter.priors.schema import PriorKind, PriorSet
from image_interpreter.rank import rank, record_pick
from image_interpreter.rank.ranking import Candidate as Ranked
from image_interpreter.session import GenerationRecord
from image_interpreter.tools.base import Args, ToolError, make_tool
from image_interpreter.tools.candidates import pick_hint, ranked_lines
from image_interpreter.tools.context import Toolbox
from image_interpreter.tools.handles import (
    CandidateNumber,
    GenerationId,
    ImageHandle,
    VersionNumber,
    candidate,
    current_priors,
    image_for_artifact,
    picture,
    session_image,
)


class GenerateArgs(Args):
    count: int | None = Field(
        None, ge=1, le=16, description="How many candidates; default: the settings' number."
    )
    mode: Mode = Field(
        "combined",
        description="combined: all enabled priors at once; per_prior: one set per prior;"
        " img2img: from the photo itself; inpaint: repaint objects marked replace/remove.",
    )
    seed: Seed | None = Field(None, description="Candidate i gets seed + i; default: settings'.")


class ChooseArgs(Args):
    generation: GenerationId
    candidate: CandidateNumber


class UpscaleArgs(Args):
    image: ImageHandle | None = Field(None, description="An image handle, e.g. 'img2'.")
    generation: GenerationId | None = Field(None, description="Or a candidate: its generation.")
    candidate: CandidateNumber | None = Field(None, description="And its number, from 1.")
    model: Literal["esrgan", "sd_x4"] = Field(
        "esrgan", description="esrgan: fast and faithful; sd_x4: diffusion, adds detail."
    )

    @model_validator(mode="after")
    def _one_picture(self) -> UpscaleArgs:
        pair = (self.generation is None, self.candidate is None)
        if pair[0] != pair[1]:
            raise ValueError("give generation and candidate together")
        if self.image is not None and self.generation is not None:
            raise ValueError("give an image or a candidate, not both")
        return self


class End(Args):
    """One end of an interpolation: a candidate (generation and candidate) or a version."""

    generation: GenerationId | None = None
    candidate: CandidateNumber | None = None
    version: VersionNumber | None = None

    @model_validator(mode="after")
    def _one_way(self) -> End:
        as_candidate = self.generation is not None and self.candidate is not None
        partial = (self.generation is None) != (self.candidate is None)
        if partial or as_candidate == (self.version is not None):
            raise ValueError("an end is either {generation, candidate} or {version}")
        return self


class InterpolateArgs(Args):
    start: End = Field(description="The first frame's end.")
    end: End = Field(description="The last frame's end.")
    frames: int = Field(8, ge=2, le=32, description="Frames, both ends included.")
    hold: list[PriorKind] = Field(
        default_factory=list, description="Prior kinds kept as at the start in every frame."
    )


def tools(box: Toolbox) -> list[BaseTool]:
    session = box.session

    def generate(count: int | None = None, mode: str = "combined", seed: int | None = None) -> str:
        priors = current_priors(box)
        wanted = count or priors.generation.candidates
        notes = []
        if wanted > box.max_candidates:
            notes.append(f"made {box.max_candidates}, the most one call makes, not {wanted}")
            wanted = box.max_candidates
        request = GenerationRequest(priors=priors, mode=mode, candidates=wanted, seed=seed)
        generator = box.services.generating()

        done = [0.0]

        def progress(step: int, total: int, preview: object) -> None:
            done[0] = step / max(total, 1)
            box.report("generating", done[0])

        def guiding(text: str) -> None:  # prior guidance: model loads, guided steps, fallbacks
            box.report(f"generating: {text}", done[0])
            if isinstance(text, Notice):  # e.g. a retry on another replica: said in the reply
                notes.append(str(text))

        def draw_and_rank() -> tuple[list, list[dict[str, float]] | None, str | None]:
            """One device job for both, so with many sessions a request's ranking does not
            queue again behind every other session's generation."""
            drawn = generator.generate(
                request,
                read_artifact=session.read_artifact,
                progress=progress,
                render_cache=box.render_cache,
                notes=guiding,
            )
            try:
                ranked = rank(
                    [Ranked(c.image, seed=c.seed) for c in drawn],
                    priors,
                    drawn[0].recipe.prompt,
                    weights=box.rank_weights,
                    service=box.services.extractor(box.store),
                    read_artifact=session.read_artifact,
                    put_artifact=session.put_artifact,
                )
            except ImageInterpreterError as error:  # the pictures are kept, unranked
                return drawn, None, f"not ranked: {error}"
            return drawn, [r.score.flat() for r in sorted(ranked, key=lambda r: r.index)], None

        drawn, scores, problem = box.on_device(draw_and_rank)
        if problem:
            notes.append(problem)
        fallbacks = {c.recipe.prior_guidance.fallback for c in drawn if c.recipe.prior_guidance}
        notes += sorted(f"guidance {text}" for text in fallbacks if text)
        record = store_candidates(session, priors.version, drawn, scores)
        return _generation_text(record, notes, priors)

    def choose_candidate(generation: int, candidate: int) -> str:
        """The pick is recorded, the picture becomes an image of the session and the source
        of a new version (same priors), so 'undo' undoes the pick."""
        _, index = _candidate(generation, candidate)
        pick = record_pick(session, generation, index)
        chosen = pick.generation.candidates[index]
        image = image_for_artifact(
            box, chosen.sha256, f"generation {generation} candidate {candidate}.png"
        )
        score = f" (score {pick.chosen.total:.2f})" if chosen.scores else ""
        said = f"candidate {candidate} of generation {generation}"
        current = session.current
        version = ""
        if current is not None and current.source.sha256 != chosen.sha256:
            stored = session.commit(
                current.model_copy(update={"source": image.ref}),
                edit={
                    "actions": [{"op": "pick", "generation": generation, "candidate": candidate}],
                    "tool": "choose_candidate",
                },
                summary=f"picked {said}",
            )
            version = f" Version {stored.version} draws from it; “undo” takes the pick back."
        return (
            f"Picked {said}{score}: it is image {image.handle} of this session"
            f" now.{version} “upscale {candidate}” enlarges it."
        )

    def upscale(
        image: str | None = None,
        generation: int | None = None,
        candidate: int | None = None,
        model: str = "esrgan",
    ) -> str:
        if generation is not None and candidate is not None:
            record, index = _candidate(generation, candidate)
            source = image_for_artifact(
                box,
                record.candidates[index].sha256,
                f"generation {generation} candidate {candidate}.png",
            )
        elif image is not None:
            source = session_image(box, image)
        else:
            source = _last_chosen()
        pixels = picture(box, source)
        current = session.current
        prompt = current.caption.text if current is not None and current.caption else ""
        upscaler = box.services.upscaling()
        big = box.on_device(lambda: upscaler.upscale(pixels, model=model, prompt=prompt))
        what = source.ref.name or "the picture"
        added = session.add_image(encode_png(big), name=f"{what}, upscaled ({model})")
        return (
            f"Upscaled image {source.handle} ({what}, {pixels.width}×{pixels.height}) with"
            f" {model}: the result is image {added.handle} ({big.width}×{big.height})."
        )

    def interpolate(start: End, end: End, frames: int = 8, hold: list[str] | None = None) -> str:
        first, first_version, first_said = _endpoint(start)
        last, _, last_said = _endpoint(end)
        generator = box.services.generating()
        result = box.on_device(
            lambda: generator.interpolate(
                first,
                last,
                frames=frames,
                hold=hold or (),
                read_artifact=session.read_artifact,
                render_cache=box.render_cache,
            )
        )
        record = store_candidates(session, first_version, [f.candidate for f in result.frames])
        w, h = result.size
        held = f", holding {', '.join(result.hold)}" if result.hold else ""
        return (
            f"Interpolated from {first_said} to {last_said}: {len(result.frames)} frames"
            f" ({w}×{h}{held}) stored as generation {record.id}, candidates 1 to"
            f" {len(record.candidates)} in order. “pick N” keeps one as an image."
        )

    # --- helpers over this session ---------------------------------------------------------

    def _candidate(generation_id: int, index: int) -> tuple[GenerationRecord, int]:
        return candidate(box, generation_id, index)

    def _last_chosen():
        for record in reversed(session.generations()):
            if record.chosen is not None:
                chosen = record.candidates[record.chosen]
                return image_for_artifact(
                    box,
                    chosen.sha256,
                    f"generation {record.id} candidate {record.chosen + 1}.png",
                )
        raise ToolError(
            "Say which picture: an image handle ('img2') or a generation and candidate. No"
            " candidate has been chosen yet."
        )

    def _endpoint(end: End):
        from image_interpreter.generate.interpolate import Endpoint

        if end.version is not None:
            priors = session.version(end.version)
            return Endpoint.from_priors(priors), end.version, f"version {end.version}"
        assert end.generation is not None and end.candidate is not None
        record, index = _candidate(end.generation, end.candidate)
        recipe = recipe_from_record(record, index)
        priors = session.version(record.version)
        said = f"candidate {index + 1} of generation {record.id}"
        return Endpoint.from_recipe(recipe, priors), record.version, said

    return [
        make_tool("generate", GenerateArgs, generate),
        make_tool("choose_candidate", ChooseArgs, choose_candidate),
        make_tool("upscale", UpscaleArgs, upscale),
        make_tool("interpolate", InterpolateArgs, interpolate),
    ]


def _generation_text(
    record: GenerationRecord, notes: list[str], priors: PriorSet | None = None
) -> str:
    recipe = record.recipe
    size = f"{recipe.get('width', '?')}×{recipe.get('height', '?')}"
    steps = recipe.get("steps", "?")
    count = len(record.candidates)
    head = (
        f"Generation {record.id} from version {record.version}: {count}"
        f" {'candidate' if count == 1 else 'candidates'} ({size}, {steps} steps)"
    )
    ranked = ", best first" if any("total" in c.scores for c in record.candidates) else ""
    lines = [f"  {line}" for line in ranked_lines(record, priors)]
    text = head + ranked + ":\n" + "\n".join(lines)
    if notes:
        text += "\nNote: " + "; ".join(notes) + "."
    return text + "\n" + pick_hint(record)
