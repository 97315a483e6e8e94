"""What an extractor is: a named, registered class that turns an image into one prior.

Shaped like controlnet-aux's detectors (one class per annotator, models loaded by id), but it
returns data (keypoints, artifact references), not only a picture. An extractor declares the prior
kind it fills, its parameters (a pydantic model: wrong parameters are refused before any work),
and the model roles it loads; `load()` runs once, on first use, under a lock.
"""

from __future__ import annotations

import io
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict

from image_interpreter.errors import ExtractionError
from image_interpreter.models.registry import model_id
from image_interpreter.priors.schema import ArtifactRef, Prior, PriorKind
from image_interpreter.settings import Settings


class Params(BaseModel):
    """Base of every extractor's parameters: unknown parameters are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Progress = Callable[[str, float], None]  # (what is happening, fraction done in [0, 1])


@dataclass
class ExtractContext:
    """What an extractor may do besides computing: store arrays, report progress."""

    put_artifact: Callable[[bytes], str]
    progress: Progress = field(default=lambda what, done: None)

    def put_png(self, picture: Image.Image | np.ndarray) -> ArtifactRef:
        """Store a map or mask as PNG (16-bit greyscale for uint16 arrays) and refer to it."""
        if isinstance(picture, np.ndarray):
            picture = _array_to_image(picture)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", optimize=False)
        sha = self.put_artifact(buffer.getvalue())
        return ArtifactRef(sha256=sha, width=picture.width, height=picture.height)


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.dtype == np.uint16 and array.ndim == 2:
        return Image.fromarray(array)  # uint16 -> "I;16", saved as a 16-bit PNG
    if array.dtype == np.bool_:
        return Image.fromarray(array.astype(np.uint8) * 255)
    if array.dtype != np.uint8:
        raise ExtractionError(f"Cannot store an array of {array.dtype} as PNG; use uint8/uint16.")
    return Image.fromarray(array)


class Extractor(ABC):
    """Subclass, set the class variables, implement `extract` (and `load` if it has models)."""

    name: ClassVar[str]  # registry key, "<family>.<backend>", e.g. "depth.depth_anything"
    kind: ClassVar[PriorKind]  # the PriorSet field it fills
    aliases: ClassVar[tuple[str, ...]] = ()  # short names users type ("pose", "tags")
    default: ClassVar[bool] = False  # the one used when a user names only the kind or alias
    roles: ClassVar[tuple[str, ...]] = ()  # model roles it loads (see models.registry)
    Params: ClassVar[type[Params]] = Params
    description: ClassVar[str] = ""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._loaded = False
        self._load_lock = threading.Lock()
        self.run_lock = threading.Lock()  # one inference at a time per loaded model

    def model_ids(self) -> dict[str, str]:
        """Role -> model id under the current settings (part of every cache key and recipe)."""
        return {role: model_id(role, self.settings) for role in self.roles}

    @property
    def loaded(self) -> bool:
        return self._loaded

    def ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._load_lock:
            if not self._loaded:
                self.load()
                self._loaded = True

    def load(self) -> None:  # noqa: B027 (optional hook: extractors without models skip it)
        """Load models (through `models.load_pretrained`, so missing weights give one error)."""

    @abstractmethod
    def extract(self, image: Image.Image, params: Any, ctx: ExtractContext) -> Prior:
        """The prior this extractor fills, from an RGB image and checked parameters."""

    def merge(self, existing: Prior | None, new: Prior) -> Prior:
        """Combine with what the PriorSet already has; by default the new prior replaces it."""
        return new


_REGISTRY: dict[str, type[Extractor]] = {}


def register_extractor(cls: type[Extractor]) -> type[Extractor]:
    """Class decorator: make an extractor available by its name and aliases."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"Extractor name '{cls.name}' is taken by {existing.__qualname__}.")
    _REGISTRY[cls.name] = cls
    return cls


def registered() -> dict[str, type[Extractor]]:
    return dict(_REGISTRY)
