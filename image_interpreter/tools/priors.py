"""Tools over the priors: extract them from an image, describe them, edit them, switch and weigh
them. Every change is one new version."""

from __future__ import annotations

from typing import Annotated

from langchain_core.tools import BaseTool
from pydantic import Field, model_validator

from image_interpreter.errors import ImageInterpreterError
from image_interpreter.extract.registry import extractor_choices, find_extractor
from image_interpreter.priors.edits import (
    Edit,
    EditBase,
    SetEnabled,
    SetGuide,
    SetStepRange,
    SetWeight,
    apply,
    apply_all,
    describe,
)
from image_interpreter.priors.schema import PRIOR_KINDS, PriorKind, PriorSet, Unit
from image_interpreter.tools.base import Args, ToolError, make_tool
from image_interpreter.tools.context import Toolbox
from image_interpreter.tools.describe import describe_kinds, describe_person, describe_priors
from image_interpreter.tools.handles import (
    ImageHandle,
    VersionNumber,
    commit,
    current_priors,
    picture,
    session_image,
)

# Extractors that answer questions rather than describe a picture: `ask_about_object` runs them.
NOT_EXTRACTED = {"caption.query"}


class ExtractArgs(Args):
    kinds: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        min_length=1,
        max_length=8,
        description="What to extract: prior kinds or extractor names, e.g. ['pose', 'depth'].",
    )
    image: ImageHandle | None = Field(
        None, description="Which image; default: the one the current version describes."
    )


class DescribeArgs(Args):
    version: VersionNumber | None = Field(None, description="Default: the current version.")


class EditArgs(Args):
    edits: list[Edit] = Field(  # type: ignore[valid-type]
        min_length=1,
        max_length=20,
        description="Edits applied in order, all or none, as one new version.",
    )


class PriorSwitchArgs(Args):
    kind: PriorKind = Field(description="Which prior.")
    enabled: bool | None = Field(None, description="Use it when generating (true) or not.")
    weight: float | None = Field(
        None, ge=0.0, le=2.0, description="How strongly it steers (ControlNet scale, 0 to 2)."
    )
    start: Unit | None = Field(None, description="Fraction of the steps after which it acts.")
    end: Unit | None = Field(None, description="Fraction of the steps after which it stops.")
    guide: float | None = Field(
        None, ge=0.0, le=10.0, description="Guidance weight of its loss during sampling (0 off)."
    )
    guide_every: int | None = Field(None, ge=1, le=50, description="Guide every n-th step.")

    @model_validator(mode="after")
    def _something(self) -> PriorSwitchArgs:
        given = (self.enabled, self.weight, self.start, self.end, self.guide, self.guide_every)
        if all(value is None for value in given):
            raise ValueError("give at least one of enabled, weight, start, end, guide, guide_every")
        return self


def tools(box: Toolbox) -> list[BaseTool]:
    def extract_priors(kinds: list[str], image: str | None = None) -> str:
        chosen = {name: find_extractor(name) for name in kinds}  # unknown: the choices listed
        asked = [name for name, cls in chosen.items() if cls.name in NOT_EXTRACTED]
        if asked:
            raise ToolError(f"'{asked[0]}' answers a question; use ask_about_object for that.")
        target = session_image(box, image)
        current = box.session.current
        if current is not None and current.source.sha256 == target.ref.sha256:
            base = current
        else:  # another picture: its own priors, the generation settings carried over
            base = PriorSet(source=target.ref)
            if current is not None:
                base = base.model_copy(update={"generation": current.generation})
        pixels = picture(box, target)
        service = box.services.extractor(box.store)
        params = {
            name: box.extract_params.get(name)
            or box.extract_params.get(cls.name)
            or box.extract_params.get(cls.kind)
            for name, cls in chosen.items()
        }
        updated = box.on_device(
            lambda: service.extract_into(
                base,
                pixels,
                list(chosen),
                params,
                put_artifact=box.session.put_artifact,
                progress=box.report,
            )
        )
        kinds_done = list(dict.fromkeys(cls.kind for cls in chosen.values()))
        stored = commit(
            box,
            updated,
            [{"op": "extract", "kinds": list(chosen), "image": target.handle}],
            f"extracted {', '.join(chosen)} from {target.handle}",
            "extract_priors",
        )
        lines = describe_kinds(stored, kinds_done)
        return (
            f"Extracted {', '.join(kinds_done)} from {target.handle}: version {stored.version}.\n"
            + ("\n".join(lines))
        )

    def describe_priors_tool(version: int | None = None) -> str:
        if version is None:
            return describe_priors(box.session.current)
        return describe_priors(box.session.version(version))

    def apply_edits(edits: list[EditBase]) -> str:
        current = current_priors(box)
        edited = apply_all(edits, current)  # EditError: says which one, nothing applied
        sentences, priors = [], current
        for edit in edits:
            sentences.append(describe(edit, priors))
            priors = apply(edit, priors)
        stored = commit(
            box,
            edited,
            [e.model_dump(mode="json") for e in edits],
            "; ".join(sentences),
            "apply_edits",
        )
        return _changed(stored, edits, sentences)

    def set_prior(
        kind: str,
        enabled: bool | None = None,
        weight: float | None = None,
        start: float | None = None,
        end: float | None = None,
        guide: float | None = None,
        guide_every: int | None = None,
    ) -> str:
        current = current_priors(box)
        edits: list[EditBase] = []
        if enabled is not None:
            edits.append(SetEnabled(kind=kind, enabled=enabled))
        if weight is not None:
            edits.append(SetWeight(kind=kind, weight=weight))
        if start is not None or end is not None:
            prior = getattr(current, kind, None)
            low = start if start is not None else (prior.start if prior is not None else 0.0)
            high = end if end is not None else (prior.end if prior is not None else 1.0)
            edits.append(SetStepRange(kind=kind, start=low, end=high))
        if guide is not None or guide_every is not None:
            edits.append(SetGuide(kind=kind, weight=guide, every=guide_every))
        return apply_edits(edits)

    try:
        choices = ", ".join(c for c in extractor_choices() if c not in NOT_EXTRACTED)
    except ImageInterpreterError as error:  # a broken plugin must not take every tool down
        choices = f"the prior kinds ({', '.join(PRIOR_KINDS)}; listing failed: {error})"
    return [
        make_tool("extract_priors", ExtractArgs, extract_priors, choices=choices),
        make_tool("describe_priors", DescribeArgs, describe_priors_tool),
        make_tool("apply_edits", EditArgs, apply_edits),
        make_tool("set_prior", PriorSwitchArgs, set_prior),
    ]


def _changed(stored: PriorSet, edits: list[EditBase], sentences: list[str]) -> str:
    """What the edits did, and how the people they touched stand now."""
    text = f"Version {stored.version}: " + "; ".join(sentences) + "."
    touched = sorted({e.person for e in edits if isinstance(getattr(e, "person", None), int)})
    people = stored.people.people if stored.people is not None else []
    aspect = stored.source.width / stored.source.height
    for number in touched:
        if 1 <= number <= len(people):
            text += "\nNow " + describe_person(people[number - 1], number, aspect)[0]
    return text
