"""torch.hub, opt-in: a hub repository's `hubconf.py` is Python that runs on this machine with the
user's rights, so it loads only for repositories named in `settings.trusted_hub_repos`.

Code and weights go to torch's own cache (`torch.hub.get_dir()`, under TORCH_HOME). Offline, a
repository already there loads from that folder and nothing is fetched; one that is not there is
a `ModelUnavailable` that says how to fetch it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from image_interpreter.errors import ExtractionError, ModelUnavailable
from image_interpreter.settings import Settings


def repo_name(ref: str) -> str:
    """'owner/name' of a hub reference ('owner/name:branch'), as GitHub compares it."""
    return ref.split(":", 1)[0].strip().strip("/").lower()


def is_trusted(repo: str, settings: Settings) -> bool:
    return repo_name(repo) in {repo_name(trusted) for trusted in settings.trusted_hub_repos}


def require_trusted(
    repo: str, settings: Settings, *, what: str, licence: str | None = None
) -> None:
    """Refuse, with the setting that allows it, unless `repo` is trusted."""
    if is_trusted(repo, settings):
        return
    name = repo_name(repo)
    note = f" Mind its licence: {licence}." if licence else ""
    raise ExtractionError(
        f"{what} runs Python code from the torch.hub repository '{repo}' on this machine, and that"
        f" repository is not in trusted_hub_repos.{note} If you trust it, allow it with"
        f" IMAGE_INTERPRETER_TRUSTED_HUB_REPOS='[\"{name}\"]' (or trusted_hub_repos ="
        f' ["{name}"] in image-interpreter.toml).'
    )


def hub_load(
    repo: str,
    entry: str,
    settings: Settings,
    *,
    what: str,
    licence: str | None = None,
    **kwargs: Any,
) -> Any:
    """`torch.hub.load(repo, entry, **kwargs)` for a trusted repository, from the local copy when
    offline. Missing code or weights raise `ModelUnavailable`; a broken repository (a dependency
    it needs is not installed, an entry it lacks) raises `ExtractionError`."""
    require_trusted(repo, settings, what=what, licence=licence)
    import torch

    try:
        if settings.offline:
            local = cached_repo(repo)
            if local is None:
                raise _unavailable(repo, entry, "offline mode is on, so it was not downloaded")
            return torch.hub.load(str(local), entry, source="local", **kwargs)
        return torch.hub.load(repo, entry, trust_repo=True, verbose=False, **kwargs)
    except ModelUnavailable:
        raise
    except OSError as exc:  # urllib's URLError/HTTPError, a half-written cache
        raise _unavailable(repo, entry, f"it could not be downloaded ({_reason(exc)})") from exc
    except ImportError as exc:
        raise ExtractionError(
            f"The torch.hub repository '{repo}' needs the Python package '{exc.name or exc}',"
            f" which is not installed. Install it (uv add {exc.name or '<package>'}) or choose"
            " another extractor."
        ) from exc
    except Exception as exc:
        raise ExtractionError(
            f"The torch.hub repository '{repo}' failed to load '{entry}':"
            f" {type(exc).__name__}: {_reason(exc)}."
        ) from exc


def hub_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir())


def cached_repo(repo: str) -> Path | None:
    """torch.hub's copy of `repo` (a folder '<owner>_<name>_<branch>'), if it has one."""
    owner, _, name = repo.split(":", 1)[0].partition("/")
    branch = repo.split(":", 1)[1].replace("/", "_") if ":" in repo else "*"
    found = sorted(p for p in hub_dir().glob(f"{owner}_{name}_{branch}") if p.is_dir())
    return found[0] if found else None


def _unavailable(repo: str, entry: str, why: str) -> ModelUnavailable:
    fetch = f"python -c \"import torch; torch.hub.load('{repo}', '{entry}', trust_repo=True)\""
    return ModelUnavailable(
        f"Model '{repo}' ({entry}) is not available: it is not in torch.hub's cache at"
        f" {hub_dir()} and {why}. To fix it, run `{fetch}` on a machine with internet access and"
        " copy that cache here (point TORCH_HOME at it); or set IMAGE_INTERPRETER_PROFILE=tiny to"
        " use random-weight tiny models where the extractor has one."
    )


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
