"""Naming image regions with CLIP: for each mask, the label of a vocabulary its crop matches best.

open_clip rather than transformers' CLIPModel: the strongest open zero-shot weights (LAION,
DataComp) are published in its format, and it is the CLIP library the project declares, so the
role 'clip' can serve ranking as well; `load_clip` keeps one copy per process for every user.
Real and tiny models are both a folder of `open_clip_config.json` + weights, loaded through
open_clip's `local-dir:` path: the hub's files come through the hub cache, the tiny one is built
here (the same `CLIP` class with two-layer towers).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image
from pydantic import Field, field_validator

from image_interpreter.errors import ModelUnavailable
from image_interpreter.extract.base import Params
from image_interpreter.extract.extractors._hub import hub_file, only_these_files
from image_interpreter.images.fit import network_picture
from image_interpreter.models.loading import load_with, resolve, resolve_device, resolve_dtype
from image_interpreter.models.registry import model_id, register_role
from image_interpreter.models.tiny import seeded, tiny_model
from image_interpreter.priors.render.ade20k import ADE20K_CLASSES
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    import torch

ROLE = "clip"
_LAION_B32 = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
register_role(
    ROLE,
    sd15=_LAION_B32,
    sdxl=_LAION_B32,
    tiny="tiny/clip",
    description="open_clip CLIP model (a hub repo with open_clip_config.json); shared by object"
    " labels and candidate ranking",
)

CONFIG = "open_clip_config.json"
WEIGHTS = (  # best first, as open_clip itself prefers them
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
)
TEMPLATE = "a photo of a {}."
UNLABELLED = "object"  # the label of every mask when labels are off
_GREY = (124, 116, 104)  # CLIP's mean colour: what surrounds a mask in its crop


class LabelParams(Params):
    """How masks are named; shared by the SAM extractors."""

    labels: Literal["clip", "none"] = Field(
        "clip",
        description="'clip': each mask gets the vocabulary label its crop matches best;"
        f" 'none': every mask is called '{UNLABELLED}'.",
    )
    vocabulary: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Labels CLIP chooses from; default: the 150 ADE20K class names.",
    )

    @field_validator("vocabulary")
    @classmethod
    def _clean(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        labels = tuple(dict.fromkeys(" ".join(label.split()) for label in value))
        if "" in labels:
            raise ValueError("vocabulary labels must not be empty")
        return labels


class Clip:
    """A loaded open_clip model: normalised embeddings of pictures and texts, and zero-shot
    classification. Text embeddings of a vocabulary are computed once and kept."""

    def __init__(
        self,
        model: Any,
        preprocess: Any,
        tokenizer: Any,
        device: torch.device,
        half: torch.dtype | None = None,
    ):
        self.model, self.preprocess, self.tokenizer = model, preprocess, tokenizer
        self.device = device
        self._half = half  # autocast dtype on CUDA or the CPU (weights stay float32), or None
        self._texts: dict[tuple[str, ...], torch.Tensor] = {}
        self._lock = threading.Lock()

    def _autocast(self):
        import torch

        if self._half is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self._half)

    def embed_images(self, images: Sequence[Image.Image], batch: int = 32) -> torch.Tensor:
        import torch

        parts = []
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(images), batch):
                chunk = images[start : start + batch]  # bounded: CLIP scales the short side up
                pixels = torch.stack([self.preprocess(network_picture(im)) for im in chunk])
                features = self.model.encode_image(pixels.to(self.device), normalize=True)
                parts.append(features.float().cpu())
        return torch.cat(parts)

    def embed_texts(self, texts: Sequence[str], batch: int = 256) -> torch.Tensor:
        import torch

        key = tuple(texts)
        with self._lock:
            if key in self._texts:
                return self._texts[key]
        parts = []
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(texts), batch):
                tokens = self.tokenizer(list(texts[start : start + batch])).to(self.device)
                parts.append(self.model.encode_text(tokens, normalize=True).float().cpu())
        embedded = torch.cat(parts)
        with self._lock:
            if len(self._texts) >= 16:
                self._texts.pop(next(iter(self._texts)))
            self._texts[key] = embedded
        return embedded

    def classify(
        self, images: Sequence[Image.Image], labels: Sequence[str], template: str = TEMPLATE
    ) -> list[tuple[str, float]]:
        """(best label, its probability among `labels`) for each picture."""
        if not images:
            return []
        texts = self.embed_texts([template.format(label) for label in labels])
        scale = float(self.model.logit_scale.detach().exp())
        probabilities = (scale * self.embed_images(images) @ texts.T).softmax(dim=-1)
        best = probabilities.max(dim=-1)
        return [(labels[int(i)], float(p)) for p, i in zip(best.values, best.indices, strict=True)]


_LOADED: dict[tuple[str, str], Clip] = {}
_LOAD_LOCK = threading.Lock()


def load_clip(settings: Settings) -> Clip:
    """The CLIP model of role 'clip', loaded once per process (per model, device and dtype)."""
    device = resolve_device(settings)
    key = (model_id(ROLE, settings), str(device), str(resolve_dtype(settings, device)))
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(settings, device)
        return _LOADED[key]


def _load(settings: Settings, device: torch.device) -> Clip:
    import open_clip
    import torch

    def load(target: str | Path) -> Clip:
        if isinstance(target, str):
            hub_file(target, [CONFIG], settings)
            folder = hub_file(target, WEIGHTS, settings).parent
        else:
            folder = target
        if not (folder / CONFIG).is_file():
            raise FileNotFoundError(f"no {CONFIG} beside the CLIP weights in {folder}")
        if not any((folder / name).is_file() for name in WEIGHTS):  # open_clip would go random
            raise FileNotFoundError(f"no CLIP weights ({', '.join(WEIGHTS)}) in {folder}")
        name = f"local-dir:{folder}"
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, device=device, require_pretrained=True
        )
        dtype = resolve_dtype(settings, device)
        half = dtype if device.type in ("cuda", "cpu") and dtype != torch.float32 else None
        return Clip(model.eval(), preprocess, open_clip.get_tokenizer(name), device, half)

    try:
        return load_with(load, ROLE, settings)
    except ModelUnavailable as exc:
        target = resolve(ROLE, settings)
        if isinstance(target, Path):
            raise
        raise only_these_files(exc, target, [CONFIG, WEIGHTS[0]], settings) from exc


def label_masks(
    image: np.ndarray, masks: Sequence[np.ndarray], params: LabelParams, settings: Settings
) -> list[str]:
    """A label for each boolean mask of the RGB `image`, as `params` ask."""
    if params.labels == "none" or not masks:
        return [UNLABELLED] * len(masks)
    clip = load_clip(settings)
    crops = [masked_crop(image, mask) for mask in masks]
    return [label for label, _ in clip.classify(crops, params.vocabulary or ADE20K_CLASSES)]


def masked_crop(image: np.ndarray, mask: np.ndarray, pad: float = 0.1) -> Image.Image:
    """A square crop around the mask, everything outside it grey: CLIP sees the region's shape
    and colours, not its neighbours (a shirt is 'apparel', not the 'person' wearing it)."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    side = int(max(x1 - x0, y1 - y0) * (1 + 2 * pad)) + 1
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    left, top = cx - side // 2, cy - side // 2
    crop = np.empty((side, side, 3), dtype=np.uint8)
    crop[:] = _GREY
    h, w = mask.shape
    sx0, sy0, sx1, sy1 = max(left, 0), max(top, 0), min(left + side, w), min(top + side, h)
    window = mask[sy0:sy1, sx0:sx1]
    target = crop[sy0 - top : sy1 - top, sx0 - left : sx1 - left]
    target[window] = image[sy0:sy1, sx0:sx1][window]
    return Image.fromarray(crop)


# --- tiny ---------------------------------------------------------------------------------------


@tiny_model("tiny/clip")
def build_clip(folder: Path) -> None:
    """open_clip's CLIP with 2-layer, 32-wide towers on 32 px pictures. It keeps the real
    tokenizer (open_clip's bundled BPE, no download), so vocabularies tokenize as they would."""
    import open_clip
    from safetensors.torch import save_model

    config = {
        "model_cfg": {
            "embed_dim": 32,
            "vision_cfg": {
                "image_size": 32,
                "layers": 2,
                "width": 32,
                "head_width": 16,
                "patch_size": 8,
            },
            "text_cfg": {
                "context_length": 32,
                "vocab_size": 49408,
                "width": 32,
                "heads": 2,
                "layers": 2,
            },
        },
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
        },
    }
    with seeded(10):
        model = open_clip.CLIP(**config["model_cfg"])
    (folder / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_model(model, str(folder / WEIGHTS[0]))
