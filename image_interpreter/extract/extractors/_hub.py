"""Single files from a Hugging Face repository, for checkpoints outside the transformers/diffusers
layouts (SAM .pth files, open_clip weights).

They go through the same cache and offline switch as `models.load_pretrained`, and a miss raises
the hub's own errors, so `models.load_with` turns it into its one `ModelUnavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from image_interpreter.errors import ModelUnavailable
from image_interpreter.models.loading import offline_mode
from image_interpreter.settings import Settings


def hub_file(repo: str, names: Sequence[str], settings: Settings) -> Path:
    """The cached path of the first of `names` the repository has (alternatives, best first:
    .safetensors before .bin). Downloads it unless offline."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    first: EntryNotFoundError | None = None
    for name in names:
        try:
            return Path(
                hf_hub_download(
                    repo,
                    name,
                    cache_dir=settings.hf_cache_dir,
                    local_files_only=offline_mode(settings),
                )
            )
        except EntryNotFoundError as exc:  # not in the repo, or not in the cache when offline
            first = first or exc
    assert first is not None, "hub_file needs at least one file name"
    raise first


def only_these_files(
    exc: ModelUnavailable, repo: str, names: Sequence[str], settings: Settings
) -> ModelUnavailable:
    """`exc` with the smaller download a user needs: the whole repository may hold several
    checkpoints (all SAM sizes; open_clip and transformers copies of CLIP)."""
    command = f"hf download {repo} {' '.join(names)}"
    if settings.hf_cache_dir:
        command += f" --cache-dir {settings.hf_cache_dir}"
    return ModelUnavailable(f"{exc} It needs only {' and '.join(names)}: `{command}`.")
