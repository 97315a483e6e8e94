"""The generator's errors (one for requests that cannot run, one for a user's cancel) and the
notices it gives the user on the way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from image_interpreter.errors import ImageInterpreterError

if TYPE_CHECKING:
    from image_interpreter.generate.request import GenerationRequest


class GenerationError(ImageInterpreterError):
    """A generation request cannot run (bad mode for these priors, unsupported profile, no memory).

    `request` is the request that failed, so a queue can keep it and run it again later."""

    def __init__(self, message: str, request: GenerationRequest | None = None):
        super().__init__(message)
        self.request = request


class GenerationCancelled(GenerationError):
    """Raised by a progress callback to stop a generation between two denoising steps."""


class Notice(str):
    """A generator note the user should read in the reply, not only see pass as progress: a
    request sent again after its replica stopped, for example. Plain `str` notes are progress."""
