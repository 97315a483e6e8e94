"""Shared by the agent tests: a session with priors, and tiny LangChain tools over it (the real
tool set lives in image_interpreter/tools/)."""

from __future__ import annotations

import io
import time
from typing import Literal

from langchain_core.tools import BaseTool, StructuredTool
from PIL import Image
from pydantic import BaseModel, Field

from image_interpreter.agent.commands import show_priors
from image_interpreter.priors.edits import SetWeight, apply
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.schema import (
    ArtifactRef,
    CaptionPrior,
    DepthPrior,
    PeoplePrior,
    PriorSet,
)
from image_interpreter.session import Session, SessionStore


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def start_session(store: SessionStore, size: tuple[int, int] = (64, 96)) -> Session:
    """A session on a grey 'park' photo: caption, one person, a flat 16-bit depth map."""
    width, height = size
    session = store.create("park")
    image = session.add_image(png(Image.new("RGB", size, "gray")), name="park.png")
    depth_map = session.put_artifact(png(Image.new("I;16", size)))
    priors = PriorSet(
        source=image.ref,
        caption=CaptionPrior(text="a woman in a park"),
        people=PeoplePrior(people=[example_person()]),
        depth=DepthPrior(map=ArtifactRef(sha256=depth_map, width=width, height=height)),
    )
    session.commit(priors, summary="started from park.png")
    return session


class WeightArgs(BaseModel):
    kind: Literal["caption", "people", "depth"] = Field(description="Which prior.")
    weight: float = Field(ge=0.0, le=2.0, description="Conditioning scale, 0 to 2.")


class GenerateArgs(BaseModel):
    count: int = Field(1, ge=1, le=8, description="How many candidates.")


def make_tools(session: Session, *, generate_seconds: float = 0.0) -> list[BaseTool]:
    """set_weight (edits the priors), show_priors (no arguments), generate (sleeps a little,
    to show up under 'generation' in the timings)."""

    def set_weight(kind: str, weight: float) -> str:
        current = session.current
        assert current is not None
        edit = SetWeight(kind=kind, weight=weight)
        stored = session.commit(
            apply(edit, current),
            edit={"actions": [edit.model_dump(mode="json")]},
            summary=edit.summary(),
        )
        return f"The {kind} prior's weight is now {weight:g} (version {stored.version})."

    def show() -> str:
        current = session.current
        return show_priors(current) if current is not None else "No priors."

    made: list[int] = []

    def generate(count: int = 1) -> str:
        time.sleep(generate_seconds)
        made.append(count)
        return f"Generated {count} candidates (generation {len(made)})."

    return [
        StructuredTool.from_function(
            set_weight,
            name="set_weight",
            args_schema=WeightArgs,
            description="Set how strongly a prior steers generation (0 to 2).",
        ),
        StructuredTool.from_function(
            show, name="show_priors", description="Describe the current priors."
        ),
        StructuredTool.from_function(
            generate,
            name="generate",
            args_schema=GenerateArgs,
            description="Generate candidate pictures from the current priors.",
        ),
    ]
