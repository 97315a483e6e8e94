"""The Hugging Face hub as loading sees it: its cache, whether downloads are possible, and which
models a piece of work needs that are neither here nor downloadable.

Without network the hub client retries each file for minutes before giving up, model after
model. So the hub is asked once per process whether it answers (a few seconds at most); when it
does not, the process works offline, and the models a job needs are checked against the cache up
front, so that every missing one is named in one message with one fix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from image_interpreter.errors import ModelUnavailable
from image_interpreter.models.registry import get_role, model_id
from image_interpreter.models.tiny import is_tiny
from image_interpreter.settings import Settings

log = logging.getLogger(__name__)

PROBE_SECONDS = 3.0  # how long the hub may take to answer before the process works offline
_probes: dict[str, str | None] = {}  # endpoint -> why it cannot be reached (None: it answers)
_probe_lock = threading.Lock()


def hub_cache_dir(settings: Settings) -> Path:
    """The Hugging Face cache that loading reads from (and downloads into)."""
    from huggingface_hub import constants

    return Path(settings.hf_cache_dir or constants.HF_HUB_CACHE)


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def offline_switch(settings: Settings) -> bool:
    """Ours or the hub's own switch (HF_HUB_OFFLINE): passing local_files_only=False explicitly
    would override the latter in diffusers and transformers."""
    from huggingface_hub import constants

    return settings.offline or bool(constants.HF_HUB_OFFLINE)


def offline_mode(settings: Settings) -> bool:
    """Whether loading must stay within the cache: offline by a switch, or because the hub did not
    answer when asked (once per process)."""
    return offline_switch(settings) or hub_unreachable() is not None


def hub_unreachable() -> str | None:
    """Why the hub cannot be reached, or None when it answers. Asked once per process and
    endpoint (HF_ENDPOINT); the answer stands for the life of the process."""
    endpoint = hub_endpoint()
    with _probe_lock:
        if endpoint not in _probes:
            _probes[endpoint] = _probe(endpoint, PROBE_SECONDS)
            if _probes[endpoint] is not None:
                log.info("The Hugging Face hub at %s cannot be reached (%s): working offline.",
                         endpoint, _probes[endpoint])  # fmt: skip
        return _probes[endpoint]


def _probe(endpoint: str, seconds: float) -> str | None:
    """Any HTTP answer means reachable. Run in a thread so that a hanging name lookup (which
    socket timeouts do not bound) cannot hold the caller longer than `seconds`."""
    import httpx

    outcome: list[str | None] = []

    def ask() -> None:
        try:
            httpx.head(endpoint, timeout=seconds)
            outcome.append(None)
        except httpx.HTTPError as exc:
            outcome.append(" ".join(str(exc).split()) or type(exc).__name__)
        except Exception as exc:  # an odd proxy or URL: as unreachable as a refused connection
            outcome.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=ask, name="hub-probe", daemon=True)
    thread.start()
    thread.join(seconds + 0.5)
    return outcome[0] if outcome else f"no answer within {seconds:g} s"


def in_hub_cache(model: str, settings: Settings) -> bool:
    """Whether some snapshot of hub model `model` is in the cache (complete or not: loading
    says which file is missing)."""
    snapshots = hub_cache_dir(settings) / ("models--" + model.replace("/", "--")) / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


_ELSEWHERE = ("/", ".", "~", "\\", "http://", "https://", "torchvision/")


def is_hub_id(model: str) -> bool:
    """A Hugging Face hub id (`owner/name`): not a tiny model, a local path, a URL or torchvision
    weights (`torchvision/<weights>`, cached by torch)."""
    if is_tiny(model) or model.startswith(_ELSEWHERE):
        return False
    return model.count("/") == 1 and not Path(model).expanduser().exists()


def on_hf_hub(role: str, settings: Settings) -> bool:
    """Whether `role` loads its model from the Hugging Face hub (torch.hub repositories look like
    hub ids but are cached by torch; their roles say "torch.hub")."""
    return is_hub_id(model_id(role, settings)) and "torch.hub" not in get_role(role).description


def missing_models(roles: Iterable[str], settings: Settings) -> dict[str, list[str]]:
    """Hub models the `roles` need that are not cached while loading is offline: model id ->
    its roles. Empty when online (they download on first use)."""
    hub = [role for role in dict.fromkeys(roles) if on_hf_hub(role, settings)]
    if not hub or not offline_mode(settings):
        return {}
    missing: dict[str, list[str]] = {}
    for role in hub:
        model = model_id(role, settings)
        if not in_hub_cache(model, settings):
            missing.setdefault(model, []).append(role)
    return missing


def require_models(roles: Iterable[str], settings: Settings) -> None:
    """Raise one `ModelUnavailable` naming every model in `missing_models`, before any work."""
    missing = missing_models(roles, settings)
    if missing:
        raise missing_models_error(missing, settings)


def offline_reason(settings: Settings) -> str:
    """Why nothing is downloaded, in a phrase ("" when downloads are possible)."""
    if offline_switch(settings):
        return "offline mode is on"
    why = hub_unreachable()
    if why is not None:
        return f"the Hugging Face hub at {hub_endpoint()} cannot be reached ({why})"
    return ""


def missing_models_error(missing: dict[str, list[str]], settings: Settings) -> ModelUnavailable:
    cache = hub_cache_dir(settings)
    width = max(len(m) for m in missing)
    lines = [f"  {m.ljust(width)}  ({', '.join(roles)})" for m, roles in missing.items()]
    suffix = f" --cache-dir {settings.hf_cache_dir}" if settings.hf_cache_dir else ""
    download = " && ".join(f"hf download {m}{suffix}" for m in missing)
    count = "1 model is" if len(missing) == 1 else f"{len(missing)} models are"
    return ModelUnavailable(
        f"{count} not in the Hugging Face cache at {cache}, and {offline_reason(settings)}:\n"
        + "\n".join(lines)
        + f"\nTo fix it, run `{download}` on a machine with internet access and point"
        " IMAGE_INTERPRETER_HF_CACHE_DIR (or HF_HOME) at that cache; or set"
        " IMAGE_INTERPRETER_PROFILE=tiny to use random-weight tiny models (no download; for"
        " trying things out and tests, not real pictures)."
    )
