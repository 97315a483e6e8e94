"""Extractors: image -> priors (pose, depth, objects, captions, edges, palette).

Each extractor registers itself by name (`extract.base.register_extractor`), loads its models
lazily through `image_interpreter.models`, and returns data (keypoints, artifact references), not
only pictures. `ExtractionService` runs them with caching. This part must not know about chat.
"""

from image_interpreter.lazy import lazy_exports

_EXPORTS = {
    "ExtractContext": "base",
    "Extractor": "base",
    "Params": "base",
    "register_extractor": "base",
    "extractor_choices": "registry",
    "find_extractor": "registry",
    "load_extractors": "registry",
    "ExtractionService": "service",
}

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

__getattr__ = lazy_exports(__name__, _EXPORTS)
