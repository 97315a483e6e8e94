"""Tiny models: miniature, random-weight copies of the real architectures, built locally.

The `tiny` profile points every role at one of these, so tests and demos run the real code paths
(diffusers pipelines, ControlNet conditioning, tokenization) on a CPU in seconds, with no download.
The images they make are noise-like; only shapes, plumbing and determinism are meaningful.

Each builder writes a `save_pretrained` folder. `ensure_tiny` builds it once per machine into
`settings.tiny_models_dir`, atomically, and reuses it afterwards. The folder name carries a
fingerprint of the builder's module and the library versions, so changing a tiny architecture (or
upgrading diffusers) builds a fresh copy instead of silently reusing a stale one. Modules that
need another tiny model register its builder with `@tiny_model("tiny/<name>")` next to the
code that uses it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from image_interpreter.durable import fsync_dir, fsync_tree
from image_interpreter.errors import ModelUnavailable

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from image_interpreter.settings import Settings

TINY_PREFIX = "tiny/"
TinyBuilder = Callable[[Path], None]

_BUILDERS: dict[str, TinyBuilder] = {}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_BUILD_LOCK = threading.Lock()  # one build at a time per process; other processes are handled


def tiny_model(model_id: str) -> Callable[[TinyBuilder], TinyBuilder]:
    """Register `build(folder)` as the builder of `model_id` ("tiny/<name>")."""
    name = model_id.removeprefix(TINY_PREFIX)
    if not model_id.startswith(TINY_PREFIX) or not _NAME.match(name):
        raise ValueError(
            f"Tiny model ids look like 'tiny/<name>', <name> a plain folder name: {model_id!r}"
        )

    def register(build: TinyBuilder) -> TinyBuilder:
        existing = _BUILDERS.get(model_id)
        if existing is not None and existing.__qualname__ != build.__qualname__:
            raise ValueError(
                f"Tiny model '{model_id}' already has a builder: {existing.__qualname__}."
            )
        _BUILDERS[model_id] = build
        return build

    return register


def is_tiny(model_id: str) -> bool:
    return model_id.startswith(TINY_PREFIX)


def tiny_ids() -> list[str]:
    return sorted(_BUILDERS)


def ensure_tiny(model_id: str, settings: Settings) -> Path:
    """The folder of tiny model `model_id`, built on first use.

    The build goes into a temp folder beside the target and is renamed into place, so a crash
    leaves no half-built model; if another process finished first, its copy wins and ours goes.
    """
    build = _builder(model_id)
    root = settings.tiny_models_dir
    target = tiny_path(model_id, settings)
    if _complete(target):
        return target
    with _BUILD_LOCK:
        if _complete(target):
            return target
        _announce_first_build(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{target.name}-"))
        except OSError as exc:
            raise _build_failed(model_id, root, exc) from exc
        try:
            build(tmp)
            fsync_tree(tmp)
            try:
                os.rename(tmp, target)  # replaces at most an empty folder
            except OSError:
                if not _complete(target):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # another process won the race
            fsync_dir(root)
        except OSError as exc:
            raise _build_failed(model_id, root, exc) from exc
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


_BUILD_LISTENERS: list[Callable[[str], None]] = []
_announced = False


def on_first_build(listener: Callable[[str], None]) -> Callable[[], None]:
    """Have `listener(message)` called when this process starts building its first tiny model
    (a minute or more on a CPU, once per machine), so a front end can say why the first photo
    is slow. Returns a function that removes the listener."""
    _BUILD_LISTENERS.append(listener)

    def remove() -> None:
        if listener in _BUILD_LISTENERS:
            _BUILD_LISTENERS.remove(listener)

    return remove


def _announce_first_build(root: Path) -> None:
    global _announced
    if _announced:
        return
    _announced = True
    message = f"Building the miniature models, once (they are kept in {root})."
    for listener in list(_BUILD_LISTENERS):
        listener(message)


def tiny_path(model_id: str, settings: Settings) -> Path:
    """Where tiny model `model_id` is (or will be) built: `<name>-<fingerprint>`."""
    name = model_id.removeprefix(TINY_PREFIX)
    return settings.tiny_models_dir / f"{name}-{_fingerprint(_builder(model_id))}"


def _builder(model_id: str) -> TinyBuilder:
    build = _BUILDERS.get(model_id)
    if build is None:
        known = ", ".join(tiny_ids()) or "none"
        raise ModelUnavailable(f"There is no tiny model '{model_id}'. Known tiny models: {known}.")
    return build


@cache
def _fingerprint(build: TinyBuilder) -> str:
    module = sys.modules.get(build.__module__)
    try:
        source = inspect.getsource(module) if module else build.__qualname__
    except (OSError, TypeError):
        source = build.__qualname__
    versions = []
    for package in (
        "diffusers", "transformers", "torch", "torchvision", "controlnet-aux", "timm",
        "open-clip-torch", "segment-anything", "spandrel",
    ):  # fmt: skip
        try:
            versions.append(f"{package}={version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package}=none")
    text = "\n".join([build.__qualname__, source, *versions])
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _complete(folder: Path) -> bool:
    """Only finished builds are ever renamed into place, so any non-empty folder is one."""
    return folder.is_dir() and any(folder.iterdir())


def _build_failed(model_id: str, root: Path, exc: OSError) -> ModelUnavailable:
    return ModelUnavailable(
        f"Could not build tiny model '{model_id}' in {root} ({exc}). Check that the folder is"
        " writable and has space, or point IMAGE_INTERPRETER_TINY_DIR elsewhere."
    )


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Fixed weights on every machine, without disturbing the caller's random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# --- the foundation's tiny models -------------------------------------------------------------
# Sizes follow diffusers' own miniature test components. With two VAE blocks the VAE downsamples
# by 2 (not 8): the default image is 64 px, and 64-128 px keeps everything fast.

CLIP_MAX_TOKENS = 77  # CLIP's context length, which the SD pipelines pad prompts to


TINY_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "block_out_channels": (32, 64),
    "layers_per_block": 2,
    "attention_head_dim": (2, 4),
    "norm_num_groups": 32,
    "cross_attention_dim": 32,
}


def tiny_unet(seed: int = 0, **changes: Any) -> UNet2DConditionModel:
    """The tiny SD UNet (32/64 channels), seeded; `changes` override config values (the
    upscaler's 7 input channels, SDXL's text_time embedding)."""
    from diffusers import UNet2DConditionModel

    with seeded(seed):
        return UNet2DConditionModel(**{**TINY_UNET_CONFIG, **changes})


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's byte-level alphabet: printable bytes map to themselves, the rest to 256+."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return dict(sorted(mapping.items()))


# A handful of merges so common words become single tokens; everything else falls back to bytes.
_MERGES = [
    ("t", "h"),
    ("th", "e</w>"),
    ("o", "f</w>"),
    ("a", "n"),
    ("an", "d</w>"),
    ("i", "n"),
    ("p", "h"),
    ("o", "t"),
    ("ph", "ot"),
    ("phot", "o</w>"),
]


def tiny_vae(seed: int, **changes: Any) -> AutoencoderKL:
    """A two-block VAE (it downsamples by 2, not 8: keep tiny images at 64-128 px), seeded;
    `changes` override config values (e.g. SDXL's scaling_factor)."""
    from diffusers import AutoencoderKL

    config: dict[str, Any] = {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ("DownEncoderBlock2D", "DownEncoderBlock2D"),
        "up_block_types": ("UpDecoderBlock2D", "UpDecoderBlock2D"),
        "block_out_channels": (32, 64),
        "layers_per_block": 1,
        "latent_channels": 4,
        "norm_num_groups": 32,
        "sample_size": 64,
    }
    with seeded(seed):
        return AutoencoderKL(**{**config, **changes})


def tiny_clip_text_encoder(tokenizer: CLIPTokenizer, seed: int) -> CLIPTextModel:
    """A 2-layer, 32-wide CLIP text encoder for `tokenizer` (the SD pipelines' and the
    upscaler's), with seeded random weights."""
    from transformers import CLIPTextConfig, CLIPTextModel

    with seeded(seed):
        return CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                intermediate_size=37,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=CLIP_MAX_TOKENS,
                projection_dim=32,
                layer_norm_eps=1e-5,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )


def tiny_clip_tokenizer() -> CLIPTokenizer:
    """A real CLIP BPE tokenizer with a 500-odd token vocabulary, written out and loaded back."""
    from transformers import CLIPTokenizer

    alphabet = list(_bytes_to_unicode().values())
    tokens = alphabet + [f"{c}</w>" for c in alphabet] + ["".join(m) for m in _MERGES]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        vocab = {token: index for index, token in enumerate(tokens)}
        (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        merges = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in _MERGES)
        (folder / "merges.txt").write_text(merges, encoding="utf-8")
        return CLIPTokenizer.from_pretrained(folder, model_max_length=CLIP_MAX_TOKENS)


@tiny_model("tiny/sd-base")
def build_sd_base(folder: Path) -> None:
    """A Stable Diffusion 1.x-style pipeline: UNet, VAE, CLIP text encoder, tokenizer, DDIM."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    tokenizer = tiny_clip_tokenizer()
    unet = tiny_unet()
    vae = tiny_vae(seed=1)
    text_encoder = tiny_clip_text_encoder(tokenizer, seed=2)
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def build_controlnet(folder: Path, seed: int) -> None:
    """A ControlNet for the tiny UNet, its waking weights drawn from `seed`.

    A real ControlNet starts with zeroed output convolutions; left that way the control image
    would change nothing, so they get small random weights and conditioning visibly matters.
    Each role's seed differs, so each role's ControlNet draws different pixels from one image.
    """
    import torch
    from diffusers import ControlNetModel

    controlnet = ControlNetModel.from_unet(
        tiny_unet(), conditioning_embedding_out_channels=(16, 32)
    )
    zeroed = [
        *controlnet.controlnet_down_blocks,
        controlnet.controlnet_mid_block,
        controlnet.controlnet_cond_embedding.conv_out,
    ]
    with seeded(seed), torch.no_grad():
        for conv in zeroed:
            torch.nn.init.normal_(conv.weight, std=0.5)
            torch.nn.init.zeros_(conv.bias)
    controlnet.save_pretrained(folder, safe_serialization=True)


def role_seed(role: str) -> int:
    """A seed of its own for each role."""
    return int(hashlib.sha256(role.encode()).hexdigest()[:8], 16)


def _register_tiny_controlnets() -> None:
    """tiny/controlnet-<name> for every ControlNet role, each from its own seed (from the name,
    so a folder's fingerprint, which covers this module and the name, fixes its weights)."""
    from image_interpreter.models.registry import CONTROLNET_MODELS

    for role, *_ in CONTROLNET_MODELS:
        seed = role_seed(role)

        def build(folder: Path, seed: int = seed) -> None:
            build_controlnet(folder, seed)

        tiny_model(f"tiny/controlnet-{role.removeprefix('controlnet.')}")(build)


_register_tiny_controlnets()
