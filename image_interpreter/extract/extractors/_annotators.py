"""What the controlnet-aux extractors share: a quiet import, loading `lllyasviel/Annotators`
checkpoints through the models part (one `ModelUnavailable`), cheap random checkpoints for the
tiny stand-ins, and fitting a map back to the source image's size.

Registers no extractor; the registry imports it like any other module of this package, which costs
nothing (torch and controlnet-aux are imported only inside the functions).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image

from image_interpreter.errors import ModelUnavailable
from image_interpreter.models import load_pretrained, model_id, resolve_device
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    import torch

ANNOTATORS = "lllyasviel/Annotators"  # the hub repository of every controlnet-aux checkpoint


@contextmanager
def quiet() -> Iterator[None]:
    """Import and build controlnet-aux models without their noise: its package import pulls in
    every annotator (timm registry overwrites, no mediapipe, deprecations) and timm warns that the
    backbone names it builds are old; none of it is the user's to act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_controlnet_aux()
        yield


def import_controlnet_aux() -> None:
    """Import controlnet-aux once, past an incompatible MediaPipe.

    Its package import runs MediaPipe's legacy `solutions` API at module level; MediaPipe 1.x (the
    `mediapipe` extra) has no `solutions`, and the AttributeError would break every annotator,
    OpenPose included. Such a MediaPipe is hidden while controlnet-aux is imported: it then goes
    without its MediaPipe face annotator, which this project does not use."""
    if "controlnet_aux" in sys.modules:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if importlib.util.find_spec("mediapipe") is None:
            importlib.import_module("controlnet_aux")
            return
        mediapipe = importlib.import_module("mediapipe")
        if hasattr(mediapipe, "solutions"):
            importlib.import_module("controlnet_aux")
            return
        sys.modules["mediapipe"] = None  # type: ignore[assignment]  # import raises ImportError
        try:
            importlib.import_module("controlnet_aux")
        finally:
            sys.modules["mediapipe"] = mediapipe


def load_annotator(detector: type, role: str, settings: Settings, files: tuple[str, ...], **kwargs):
    """`detector.from_pretrained` on the model of `role`, moved to the configured device.

    A local folder must hold `files`: for a missing MiDaS checkpoint controlnet-aux would otherwise
    fetch one from a URL of its own into its package folder, past the hub cache and offline mode.
    The weights stay float32, as controlnet-aux feeds them float32 inputs."""

    class Checked:
        @staticmethod
        def from_pretrained(target: str | Path, **options: Any) -> Any:
            if isinstance(target, Path):
                missing = [name for name in files if not (target / name).is_file()]
                if missing:
                    raise FileNotFoundError(f"{target} has no {', '.join(missing)}")
                target = str(target)
            return detector.from_pretrained(target, **options)

    try:
        with quiet():
            loaded = load_pretrained(Checked, role, settings, **kwargs)
    except ModelUnavailable as exc:
        chosen = model_id(role, settings)
        if f"hf download {chosen}" not in str(exc):
            raise  # a local folder or a bad id: the message says it all
        names = " ".join(files)
        command = f"hf download {chosen} {names}"
        if settings.hf_cache_dir:
            command += f" --cache-dir {settings.hf_cache_dir}"
        raise ModelUnavailable(
            f"{exc} Only {names} from it {'is' if len(files) == 1 else 'are'} needed:"
            f" `{command}` downloads just that, not the whole repository."
        ) from exc
    return loaded.to(resolve_device(settings))


_POOL = 1 << 19  # values per random pool (1 MB each in half precision)


def random_checkpoint(
    model: torch.nn.Module, *, seed: int, buffers: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """Random weights for every parameter of `model`, cheap at any size.

    Build `model` under `torch.device("meta")`: no memory, no initialisation compute. Each tensor
    is a window onto a few shared pools of random half-precision values (torch.save writes a pool
    once, and the loader copies, not views, what it reads), so the checkpoint of a 345 M
    parameter network is a few MB and takes no time to write. Norm weights are 1; everything else
    is drawn with a standard deviation of about 1/sqrt(fan-in), as the layers' own initialisers
    would. Buffers are constants a random draw would break: pass their values in `buffers`."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(_POOL, generator=generator)
    ones = torch.ones(_POOL, dtype=torch.float16)
    pools: dict[int, torch.Tensor] = {}
    parameters = {name for name, _ in model.named_parameters()}
    state: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        if name not in parameters:
            if not buffers or name not in buffers:
                raise ValueError(f"Buffer {name} needs its real value (pass it in buffers).")
            state[name] = buffers[name]
            continue
        if tensor.ndim == 1 and name.endswith("weight"):
            pool = ones
        else:
            fan_in = tensor.numel() // tensor.shape[0] if tensor.ndim >= 2 else tensor.numel()
            octave = min(12, max(0, round(math.log2(max(fan_in, 1)) / 2)))
            if octave not in pools:
                pools[octave] = (base * 2.0**-octave).half()
            pool = pools[octave]
        state[name] = _window(pool, tuple(tensor.shape), generator)
    return state


def _window(pool: torch.Tensor, shape: tuple[int, ...], generator) -> torch.Tensor:
    """A tensor of `shape` viewing `pool`: a slice if it fits, else rows as shifted windows."""
    import torch

    count = math.prod(shape)
    if count <= pool.numel():
        start = int(torch.randint(0, pool.numel() - count + 1, (1,), generator=generator))
        return pool[start : start + count].view(shape)
    per_row = count // shape[0]
    step = (pool.numel() - per_row) // max(shape[0] - 1, 1)
    if per_row > pool.numel() or step < 1:  # too large to share a pool: draw it outright
        scale = float(pool.float().std())
        return (torch.randn(shape, generator=generator) * scale).half()
    inner = [math.prod(shape[i + 1 :]) for i in range(1, len(shape))]
    return pool.as_strided(shape, (step, *inner))


def save_checkpoint(state: dict[str, torch.Tensor], path: Path, *, key: str | None = None) -> None:
    """`torch.save` as controlnet-aux's loaders read it: the state dict itself, or under `key`."""
    import torch

    torch.save({key: state} if key else state, path)


def rgb_array(image: Image.Image) -> np.ndarray:
    """An H x W x 3 uint8 array of a PIL image, what every controlnet-aux detector takes."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def fit(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`array` (2-D) resized to `size` (width, height): smooth when enlarging, averaging when
    shrinking, so a map lines up with the source pixel for pixel."""
    width, height = size
    if array.shape[:2] == (height, width):
        return array
    shrinking = array.shape[0] * array.shape[1] > width * height
    if array.dtype == np.uint8:  # line maps: linear, so thin lines get no ringing halo
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    else:
        array = array.astype(np.float32)
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(array, (width, height), interpolation=interpolation)
