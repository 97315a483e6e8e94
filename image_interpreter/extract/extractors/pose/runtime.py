"""What the pose backends share: quiet imports of heavy libraries, the picture the networks see,
and model files named by path, URL or hub id."""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
import urllib.request
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image
from pydantic import Field

from image_interpreter.errors import ModelUnavailable
from image_interpreter.extract.base import Params
from image_interpreter.images.fit import network_array
from image_interpreter.models.loading import load_with
from image_interpreter.models.registry import model_id
from image_interpreter.models.tiny import is_tiny, tiny_model
from image_interpreter.settings import Settings

NO_TINY = "tiny/no-stand-in"


@tiny_model(NO_TINY)
def build_no_stand_in(folder: Path) -> None:
    """The tiny profile's entry for roles that cannot have a tiny model (MediaPipe `.task`
    bundles, OpenMMLab checkpoints): every role names a model in every profile, and loading this
    one says why there is none (see `model_file`)."""
    (folder / "README.txt").write_text(
        "No tiny stand-in can be built for this role; use another backend on the tiny profile.\n",
        encoding="utf-8",
    )


def quiet_import(name: str) -> ModuleType:
    """Import a module whose package warns about optional extras it will not need (controlnet-aux
    imports all of its annotators and warns for each missing backend)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name.startswith("controlnet_aux"):
            from image_interpreter.extract.extractors._annotators import import_controlnet_aux

            import_controlnet_aux()
        return importlib.import_module(name)


def detection_image(image: Image.Image, resolution: int) -> np.ndarray:
    """RGB uint8 with the shorter side at `resolution` (rounded to 64 as controlnet-aux does),
    the longer side bounded (`network_array`), whatever the picture's shape.

    The whole picture is stretched to the new size, so coordinates normalised in it are the same
    as in the original."""
    return network_array(np.ascontiguousarray(np.asarray(image.convert("RGB"))), resolution)


def model_file(role: str, settings: Settings, filename: str | None = None) -> Path:
    """The local file for a single-file model role. The role's id may be a file, a folder holding
    `filename`, a hub id (`owner/name`, with `filename` in it), or an http(s) URL, downloaded once
    into `data_dir/models` (not when offline)."""
    chosen = model_id(role, settings)
    if is_tiny(chosen):
        raise ModelUnavailable(
            f"Role '{role}' has no tiny stand-in: its model cannot be built here. On the tiny"
            " profile use pose.openpose; for this backend set IMAGE_INTERPRETER_PROFILE=sd15 or"
            f' name the model with IMAGE_INTERPRETER_MODELS=\'{{"{role}": "<file or URL>"}}\'.'
        )
    if chosen.startswith(("http://", "https://")):
        return _download(chosen, role, settings)
    local = Path(chosen).expanduser()
    if local.is_file():
        return local
    if filename is None:
        raise ModelUnavailable(
            f"Model file {chosen} (role '{role}') does not exist. Set the path or URL of the file"
            f' with IMAGE_INTERPRETER_MODELS=\'{{"{role}": "<file or URL>"}}\'.'
        )

    def load(target: str | Path) -> Path:
        if isinstance(target, Path):
            path = target / filename
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist")
            return path
        from huggingface_hub import hf_hub_download

        return Path(
            hf_hub_download(
                target,
                filename,
                cache_dir=settings.hf_cache_dir,
                local_files_only=offline(settings),
            )
        )

    return load_with(load, role, settings)


def offline(settings: Settings) -> bool:
    """Ours or the hub's own switch (HF_HUB_OFFLINE), as `models.loading` reads them."""
    from huggingface_hub import constants

    return settings.offline or bool(constants.HF_HUB_OFFLINE)


def _download(url: str, role: str, settings: Settings) -> Path:
    name = url.rstrip("/").rsplit("/", 1)[-1] or "model"
    folder = settings.data_dir / "models" / hashlib.sha256(url.encode()).hexdigest()[:16]
    path = folder / name
    if path.is_file():
        return path
    fix = (
        f"Download it on a machine with internet access and put it at {path}, or name a local"
        f' file with IMAGE_INTERPRETER_MODELS=\'{{"{role}": "<file>"}}\'.'
    )
    if offline(settings):
        raise ModelUnavailable(
            f"Model file {url} (role '{role}') is not at {path} and offline mode is on. {fix}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        os.replace(tmp, path)
    except OSError as exc:
        raise ModelUnavailable(
            f"Model file {url} (role '{role}') could not be downloaded ({exc}). {fix}"
        ) from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


class PoseParams(Params):
    """What every pose backend lets a user choose; backends add their own thresholds."""

    hands: bool = Field(True, description="Find each person's hands (21 points each).")
    face: bool = Field(True, description="Find each person's face (70 landmarks).")
    expressions: bool = Field(
        True, description="Read expressions and gestures from the face and hand points."
    )


class NetworkPoseParams(PoseParams):
    detect_resolution: int = Field(
        512, ge=64, le=2048, description="Shorter side of the picture the networks see."
    )
