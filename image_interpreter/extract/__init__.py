"""Extractors: image -> priors (pose, depth, objects, captions, edges, palette).

Each extractor registers itself by name (`extract.base.register_extractor`), loads its models
lazily through `image_interpreter.models`, and returns data (keypoints, artifact references), not
only pictures. `ExtractionService` runs them with caching. This part must not know about chat.
"""

from image_interpreter.extract.base import (
    ExtractContext,
    Extractor,
    Params,
    register_extractor,
)
from image_interpreter.extract.registry import extractor_choices, find_extractor, load_extractors
from image_interpreter.extract.service import ExtractionService

__all__ = [
    "ExtractContext",
    "ExtractionService",
    "Extractor",
    "Params",
    "extractor_choices",
    "find_extractor",
    "load_extractors",
    "register_extractor",
]
