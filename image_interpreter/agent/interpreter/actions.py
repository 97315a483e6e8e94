"""What a message can ask for: every `Edit`, plus the actions that are not edits of the priors
(moving in the version tree, generating, showing, helping).

They share the edits' shape (a small frozen pydantic model with an `op` discriminator and a
past-tense `summary()`), so one `Action` union serialises a whole message to JSON and back.
"""

from __future__ import annotations

import functools
import operator
from abc import abstractmethod
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from image_interpreter.priors.edits import EDIT_TYPES, Edit, EditBase


class ActionBase(BaseModel):
    """Base of the non-edit actions: strict and immutable, like an edit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: str

    @abstractmethod
    def summary(self) -> str:
        """One line for the user: what this action does."""


class Undo(ActionBase):
    """Go back `steps` versions (to the parent, and its parent...)."""

    op: Literal["undo"] = "undo"
    steps: int = Field(1, ge=1, le=100)

    def summary(self) -> str:
        return (
            "undid the last change" if self.steps == 1 else f"undid the last {self.steps} changes"
        )


class Redo(ActionBase):
    """Go forward again along the last undos."""

    op: Literal["redo"] = "redo"
    steps: int = Field(1, ge=1, le=100)

    def summary(self) -> str:
        return "redid the last change" if self.steps == 1 else f"redid {self.steps} changes"


class GoToVersion(ActionBase):
    """Make a version current; the next edit branches from it."""

    op: Literal["go_to_version"] = "go_to_version"
    version: int = Field(ge=1)

    def summary(self) -> str:
        return f"went back to version {self.version}"


class Generate(ActionBase):
    """Draw candidates from the current priors; `count` None = the generation settings' number."""

    op: Literal["generate"] = "generate"
    count: int | None = Field(None, ge=1, le=16)

    def summary(self) -> str:
        many = "candidates" if self.count is None else f"{self.count} candidates"
        return f"asked to generate {many}"


class UseCandidate(ActionBase):
    """Pick a candidate (keep it as an image and draw from it) or upscale it. Candidates are
    numbered from 1 in their generation; `generation` None = the latest one."""

    op: Literal["use_candidate"] = "use_candidate"
    verb: Literal["pick", "upscale"] = "pick"
    candidate: int = Field(ge=1, le=64)
    generation: int | None = Field(None, ge=1)

    def summary(self) -> str:
        which = f" of generation {self.generation}" if self.generation else ""
        done = "picked" if self.verb == "pick" else "upscaled"
        return f"{done} candidate {self.candidate}{which}"


class ShowPriors(ActionBase):
    """Say what the current priors hold."""

    op: Literal["show_priors"] = "show_priors"

    def summary(self) -> str:
        return "showed the priors"


class Help(ActionBase):
    """Say what the interpreter understands, with examples."""

    op: Literal["help"] = "help"

    def summary(self) -> str:
        return "listed what I can do"


OTHER_ACTIONS: tuple[type[ActionBase], ...] = (
    Undo,
    Redo,
    GoToVersion,
    Generate,
    UseCandidate,
    ShowPriors,
    Help,
)
HISTORY_ACTIONS: tuple[type[ActionBase], ...] = (Undo, Redo, GoToVersion)

_EDITS: tuple[type[EditBase], ...] = get_args(get_args(Edit)[0])
assert not {a.model_fields["op"].default for a in OTHER_ACTIONS} & set(EDIT_TYPES), "op clash"

Action = Annotated[
    functools.reduce(operator.or_, (*_EDITS, *OTHER_ACTIONS)),  # type: ignore[valid-type]
    Field(discriminator="op"),
]
ACTION_ADAPTER: TypeAdapter[Any] = TypeAdapter(Action)
ACTION_LIST_ADAPTER: TypeAdapter[list[Any]] = TypeAdapter(list[Action])
