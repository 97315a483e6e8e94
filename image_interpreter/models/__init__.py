"""Models: which model fills each role per profile, where it runs, how it is loaded, and the tiny
random-weight stand-ins that let everything run on a CPU without downloads."""

from image_interpreter.lazy import lazy_exports

_EXPORTS = {
    "hub_cache_dir": "loading",
    "load_pretrained": "loading",
    "load_with": "loading",
    "resolve": "loading",
    "resolve_device": "loading",
    "resolve_dtype": "loading",
    "Role": "registry",
    "get_role": "registry",
    "model_id": "registry",
    "register_role": "registry",
    "roles": "registry",
    "ensure_tiny": "tiny",
    "is_tiny": "tiny",
    "tiny_ids": "tiny",
    "tiny_model": "tiny",
    "tiny_path": "tiny",
}

__all__ = [
    "Role",
    "ensure_tiny",
    "get_role",
    "hub_cache_dir",
    "is_tiny",
    "load_pretrained",
    "load_with",
    "model_id",
    "register_role",
    "resolve",
    "resolve_device",
    "resolve_dtype",
    "roles",
    "tiny_ids",
    "tiny_model",
    "tiny_path",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
