"""Models: which model fills each role per profile, where it runs, how it is loaded, and the tiny
random-weight stand-ins that let everything run on a CPU without downloads."""

from image_interpreter.models.loading import (
    hub_cache_dir,
    load_pretrained,
    load_with,
    resolve,
    resolve_device,
    resolve_dtype,
)
from image_interpreter.models.registry import Role, get_role, model_id, register_role, roles
from image_interpreter.models.tiny import ensure_tiny, is_tiny, tiny_ids, tiny_model, tiny_path

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
