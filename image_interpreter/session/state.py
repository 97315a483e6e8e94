"""The session's records: what the API returns and what an exported session.json contains.

They are plain pydantic models, so the CLI, web app and agent can show or serialise them as they
are, and `SessionState` doubles as the portable file format.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from image_interpreter.priors.schema import ImageRef, PriorSet, Sha256

Role = Literal["user", "assistant", "tool", "system"]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
FORMAT_VERSION = 1


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionImage(Record):
    """An image added to a session; `handle` ('img1') is how users and the agent refer to it."""

    handle: str = Field(pattern=r"^img[1-9][0-9]*$")
    ref: ImageRef
    created_at: AwareDatetime


class VersionInfo(Record):
    """One node of the version tree, without its priors (for listings)."""

    number: int = Field(ge=1)
    parent: int | None = Field(None, ge=1)
    summary: str = ""
    edit: dict[str, JsonValue] | None = None
    created_at: AwareDatetime
    current: bool = False


class VersionRecord(Record):
    """One node of the version tree with its full PriorSet (for state and export)."""

    number: int = Field(ge=1)
    parent: int | None = Field(None, ge=1)
    summary: str = ""
    edit: dict[str, JsonValue] | None = None
    created_at: AwareDatetime
    priors: PriorSet


class Turn(Record):
    """One message of the conversation, with what it cost."""

    number: int = Field(ge=1)
    role: Role
    text: str
    tool_calls: list[dict[str, JsonValue]] = Field(default_factory=list)
    timings: dict[str, FiniteFloat] = Field(default_factory=dict, description="Seconds by stage.")
    tokens: dict[str, int] = Field(default_factory=dict)
    created_at: AwareDatetime


class CandidateRecord(Record):
    """One generated image: its artifact, the seed that made it and how it scored."""

    sha256: Sha256
    seed: int
    scores: dict[str, FiniteFloat] = Field(default_factory=dict)


class GenerationRecord(Record):
    """One generation run from a version: the recipe, its candidates, and the user's pick."""

    id: int = Field(ge=1)
    version: int = Field(ge=1)
    recipe: dict[str, JsonValue]
    candidates: list[CandidateRecord]
    chosen: int | None = Field(None, ge=0, description="Index into candidates.")
    chosen_at: AwareDatetime | None = None
    created_at: AwareDatetime


class SessionSummary(Record):
    """A line of `image-interpreter session list`."""

    id: str
    title: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    images: int
    versions: int
    turns: int
    generations: int
    current: int | None


class SessionState(Record):
    """Everything a session holds. Reloads exactly; exported as session.json."""

    format_version: Literal[1] = FORMAT_VERSION
    id: str
    title: str | None = None
    created_at: AwareDatetime
    images: list[SessionImage] = Field(default_factory=list)
    versions: list[VersionRecord] = Field(default_factory=list)
    current: int | None = None
    redo: list[int] = Field(
        default_factory=list, description="Versions redo() returns to, the next one last."
    )
    turns: list[Turn] = Field(default_factory=list)
    generations: list[GenerationRecord] = Field(default_factory=list)
    artifacts: list[Sha256] = Field(
        default_factory=list, description="Every artifact the session may read, sorted."
    )
