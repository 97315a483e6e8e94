"""The interpreter's answer: the actions, what each clause was taken to mean, what was not
understood, how sure it is, and what to tell the user."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from image_interpreter.agent.interpreter.actions import Action

HIGH = 0.8  # at or above: every clause was read unambiguously (callers may act without asking)


class Interpretation(BaseModel):
    """English -> actions. `confidence` >= 0.8 only when every clause parsed unambiguously."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The message as given.")
    actions: list[Action] = Field(default_factory=list)
    understood: list[str] = Field(default_factory=list, description="Clause -> its meaning.")
    unparsed: list[str] = Field(default_factory=list, description="Clauses not understood.")
    problems: list[str] = Field(
        default_factory=list, description="Why a clear reading cannot apply as said."
    )
    assumptions: list[str] = Field(
        default_factory=list, description="Defaults taken ('the right hand', 'person 1')."
    )
    confidence: float = Field(ge=0.0, le=1.0)
    reply: str = ""
    last_person: int | None = Field(None, description="Who 'him'/'her' means in the next message.")

    @property
    def confident(self) -> bool:
        return self.confidence >= HIGH and not self.unparsed

    def dump_actions(self) -> list[dict[str, Any]]:
        return [a.model_dump(mode="json") for a in self.actions]


@dataclass
class Parsed:
    """One clause read by one rule."""

    clause: str
    rule: str
    actions: list[Any]
    confidence: float = 1.0
    assumptions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    meaning: str | None = None
