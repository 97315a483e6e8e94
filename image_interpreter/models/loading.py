"""Where models run (device, dtype) and how they are loaded: by role, through the hub cache, with
one clear `ModelUnavailable` when the weights are not there.

The hub and its client libraries fail in many ways when weights are missing (no network, offline
mode, unknown repo, gated repo, half-downloaded cache); a user should see one message that names
the model, where it was looked for, and the two ways out: download it, or use the tiny profile.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from image_interpreter.errors import ModelUnavailable, SettingsError
from image_interpreter.models.hub import (
    hub_cache_dir,
    offline_mode,
    offline_reason,
    offline_switch,
)
from image_interpreter.models.registry import model_id
from image_interpreter.models.tiny import ensure_tiny, is_tiny
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    import torch

_DTYPES = {"float32", "float16", "bfloat16"}


def resolve_device(settings: Settings) -> torch.device:
    """`settings.device`, with "auto" meaning CUDA, else Apple's MPS, else the CPU.

    A device named explicitly but not present is an error rather than a silent CPU fallback,
    since the user asked for it (and a 50x slowdown is worse than a message)."""
    import torch

    wanted = settings.device.strip().lower()
    if wanted == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(wanted)
    except (RuntimeError, ValueError):
        raise SettingsError(
            f"Unknown device '{settings.device}'. Use 'auto', 'cpu', 'cuda', 'cuda:<n>' or 'mps'"
            " (IMAGE_INTERPRETER_DEVICE)."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(
            f"Device '{settings.device}' was requested but CUDA is not available here. Set"
            " IMAGE_INTERPRETER_DEVICE=auto (or cpu), or install a CUDA build of torch."
        )
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise SettingsError(
                f"Device '{settings.device}' was requested but only {count} CUDA device(s) exist."
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise SettingsError(
            f"Device '{settings.device}' was requested but Apple MPS is not available here. Set"
            " IMAGE_INTERPRETER_DEVICE=auto (or cpu)."
        )
    return device


def resolve_dtype(settings: Settings, device: torch.device | None = None) -> torch.dtype:
    """`settings.dtype`, with "auto" meaning float16 on CUDA (half the memory, same pictures) and
    float32 elsewhere (half precision is slow or unsupported on CPUs and fragile on MPS)."""
    import torch

    if settings.dtype in _DTYPES:
        return getattr(torch, settings.dtype)
    device = device if device is not None else resolve_device(settings)
    return torch.float16 if device.type == "cuda" else torch.float32


def resolve(role: str, settings: Settings) -> str | Path:
    """What to pass to `from_pretrained` for `role`: a local folder (tiny models, or an override
    naming a folder) or a hub id."""
    chosen = model_id(role, settings)
    if is_tiny(chosen):
        return ensure_tiny(chosen, settings)
    local = Path(chosen).expanduser()
    if local.exists():
        return local
    if _looks_like_path(chosen):
        raise ModelUnavailable(
            f"Model folder {chosen} (role '{role}') does not exist. Fix the path in"
            " IMAGE_INTERPRETER_MODELS, or remove the override to use the profile's model."
        )
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(chosen)
    except HFValidationError:
        raise ModelUnavailable(
            f"'{chosen}' (role '{role}') is neither an existing folder nor a valid Hugging Face"
            " model id ('owner/name'). Fix it in IMAGE_INTERPRETER_MODELS."
        ) from None
    return chosen


class _Pretrained(Protocol):
    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> Any: ...


T = TypeVar("T", bound=_Pretrained)
R = TypeVar("R")


def load_pretrained(loader: type[T], role: str, settings: Settings, **kwargs: Any) -> T:
    """`loader.from_pretrained` on the model for `role`, from the configured hub cache (and no
    further than it when offline). Missing weights raise one `ModelUnavailable` saying how to get
    them; anything else (a bad keyword, a bug) propagates unchanged."""

    def load(target: str | Path) -> T:
        if isinstance(target, Path):
            return loader.from_pretrained(target, **kwargs)
        return loader.from_pretrained(
            target,
            cache_dir=settings.hf_cache_dir,
            local_files_only=offline_mode(settings),
            **kwargs,
        )

    return load_with(load, role, settings)


def load_with(load: Callable[[str | Path], R], role: str, settings: Settings) -> R:
    """`load(target)` for libraries without `from_pretrained` (torchvision weights, SAM
    checkpoints, torch.hub): `target` is a local folder (tiny or override) or the model id, and
    missing weights raise the same one `ModelUnavailable` as `load_pretrained`."""
    target = resolve(role, settings)
    try:
        return load(target)
    except _missing_errors() as exc:
        if isinstance(target, Path):
            raise ModelUnavailable(
                f"Model folder {target} (role '{role}') could not be loaded ({_reason(exc)})."
                " It may be incomplete: delete it (a tiny model is rebuilt on next use) or"
                " download it again."
            ) from exc
        raise _unavailable(target, role, settings, exc) from exc


def _unavailable(model: str, role: str, settings: Settings, exc: BaseException) -> ModelUnavailable:
    from huggingface_hub.errors import GatedRepoError

    cache = hub_cache_dir(settings)
    if offline_switch(settings):
        why = "offline mode is on, so it was not downloaded"
    elif offline_mode(settings):
        why = f"could not be downloaded: {offline_reason(settings)}"
    else:
        why = "could not be downloaded"
    download = f"hf download {model}"
    if settings.hf_cache_dir:
        download += f" --cache-dir {settings.hf_cache_dir}"
    gated = ""
    if any(isinstance(e, GatedRepoError) for e in _chain(exc)):
        gated = (
            " The repository is gated: accept its terms on huggingface.co and log in"
            " (`hf auth login`) before downloading."
        )
    return ModelUnavailable(
        f"Model '{model}' (role '{role}') is not available: it is not in the Hugging Face cache"
        f" at {cache} and {why} ({_reason(exc)}).{gated} To fix it, run `{download}` on a"
        " machine with internet access and point IMAGE_INTERPRETER_HF_CACHE_DIR (or HF_HOME) at"
        " that cache; or set IMAGE_INTERPRETER_PROFILE=tiny to use random-weight tiny models"
        " (no download; for trying things out and tests, not real pictures)."
    )


def _missing_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the weights are not reachable", as the installed libraries raise them.

    OSError covers most (the hub's HTTP and cache-miss errors, `requests`' errors, and what
    diffusers and transformers re-raise); the rest are listed so no version lets one through."""
    from huggingface_hub import errors as hub

    found: list[type[BaseException]] = [OSError, hub.EntryNotFoundError, hub.HfHubHTTPError]
    # The hub's HTTP client (httpx, or a renamed fork); its connection errors are not OSErrors.
    for name in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(name).HTTPError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _reason(exc: BaseException) -> str:
    """The root cause in a sentence: libraries re-raise hub errors under vaguer messages (e.g.
    "does not appear to have a file named config.json" for "no network")."""
    root = _chain(exc)[-1]
    text = " ".join(str(root).split()) or type(root).__name__
    text = text.split(". ")[0].rstrip(".")
    return text if len(text) <= 160 else text[:157] + "..."


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", ".", "~", "\\")) or "\\" in text or text.count("/") > 1
