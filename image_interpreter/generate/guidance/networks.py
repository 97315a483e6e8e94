"""The extractors' networks, as differentiable functions of a decoded image in [0, 1].

Each is loaded by the extractor's own model role (the same model id, so guidance pulls towards
what the extractor would see), through `models/`, once per process, device and dtype. The roles
and their tiny stand-ins are registered by the extractor modules; `load_role_modules` brings them
in through the `image_interpreter.models` entry points, so this package never imports `extract`.
Preprocessing (resize, normalisation, channel order) is redone in torch, as each extractor's
image processor does it in numpy, so gradients flow back to the pixels.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from image_interpreter.models import load_pretrained, load_with, model_id
from image_interpreter.models.registry import load_role_modules
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    import torch

DEPTH_ROLE = "extract.depth.depth_anything"
SEGMENTATION_ROLE = "extract.segmentation.upernet"
POSE_ROLE = "extract.pose.openpose"
CLIP_ROLE = "clip"
CLIP_CONFIG = "open_clip_config.json"
CLIP_WEIGHTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
)

_CACHE: dict[tuple[str, str, str, str], Any] = {}
_LOCK = threading.Lock()


class GuidanceNetworks:
    """Lazily loaded networks for one (settings, device, dtype); `on_load(text)` hears of every
    load, so a user sees why the first guided step is slow."""

    def __init__(
        self,
        settings: Settings,
        device: torch.device,
        dtype: torch.dtype,
        on_load: Callable[[str], None] | None = None,
    ):
        self.settings = settings
        self.device = device
        self.dtype = dtype
        self.on_load = on_load

    def role_ids(self, roles: list[str]) -> dict[str, str]:
        load_role_modules()
        return {role: model_id(role, self.settings) for role in roles}

    def _get(self, role: str, build: Callable[[], Any]) -> Any:
        load_role_modules()
        key = (role, model_id(role, self.settings), str(self.device), str(self.dtype))
        with _LOCK:
            if key not in _CACHE:
                if self.on_load is not None:
                    self.on_load(f"loading {key[1]} ({role}) for guidance")
                _CACHE[key] = build()
            return _CACHE[key]

    def depth(self) -> DepthNet:
        return self._get(DEPTH_ROLE, self._load_depth)

    def segmentation(self) -> SegmentationNet:
        return self._get(SEGMENTATION_ROLE, self._load_segmentation)

    def pose(self) -> PoseNet:
        return self._get(POSE_ROLE, self._load_pose)

    def clip(self) -> ClipNet:
        return self._get(CLIP_ROLE, self._load_clip)

    # --- loading ---------------------------------------------------------------------------

    def _frozen(self, module: Any, dtype: Any = None) -> Any:
        return module.to(self.device, dtype or self.dtype).eval().requires_grad_(False)

    def _load_depth(self) -> DepthNet:
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        processor = load_pretrained(AutoImageProcessor, DEPTH_ROLE, self.settings)
        model = load_pretrained(AutoModelForDepthEstimation, DEPTH_ROLE, self.settings)
        metric = getattr(model.config, "depth_estimation_type", "relative") == "metric"
        return DepthNet(self._frozen(model), processor.image_mean, processor.image_std, metric)

    def _load_segmentation(self) -> SegmentationNet:
        from transformers import AutoImageProcessor, UperNetForSemanticSegmentation

        processor = load_pretrained(AutoImageProcessor, SEGMENTATION_ROLE, self.settings)
        model = load_pretrained(UperNetForSemanticSegmentation, SEGMENTATION_ROLE, self.settings)
        return SegmentationNet(self._frozen(model), processor.image_mean, processor.image_std)

    def _load_pose(self) -> PoseNet:
        import importlib
        import warnings

        with warnings.catch_warnings():  # controlnet-aux warns about every missing extra
            warnings.simplefilter("ignore")
            open_pose = importlib.import_module("controlnet_aux.open_pose")
        detector = load_pretrained(open_pose.OpenposeDetector, POSE_ROLE, self.settings)
        return PoseNet(self._frozen(detector.body_estimation.model, dtype=_float32()))

    def _load_clip(self) -> ClipNet:
        import open_clip

        def load(target: str | Path) -> ClipNet:
            folder = target if isinstance(target, Path) else self._clip_folder(target)
            if not (folder / CLIP_CONFIG).is_file():
                raise FileNotFoundError(f"no {CLIP_CONFIG} beside the CLIP weights in {folder}")
            name = f"local-dir:{folder}"
            model, _, _ = open_clip.create_model_and_transforms(
                name, device=self.device, require_pretrained=True
            )
            config = getattr(model.visual, "preprocess_cfg", {}) or {}
            size = model.visual.image_size
            return ClipNet(
                self._frozen(model, dtype=_float32()),
                open_clip.get_tokenizer(name),
                config.get("mean", open_clip.OPENAI_DATASET_MEAN),
                config.get("std", open_clip.OPENAI_DATASET_STD),
                size if isinstance(size, int) else int(size[0]),
            )

        return load_with(load, CLIP_ROLE, self.settings)

    def _clip_folder(self, repo: str) -> Path:
        from huggingface_hub import snapshot_download

        from image_interpreter.models.loading import offline_mode

        return Path(
            snapshot_download(
                repo,
                allow_patterns=[CLIP_CONFIG, *CLIP_WEIGHTS],
                cache_dir=self.settings.hf_cache_dir,
                local_files_only=offline_mode(self.settings),
            )
        )


def _float32() -> Any:
    import torch

    return torch.float32


def _normalise(images: torch.Tensor, mean: Any, std: Any) -> torch.Tensor:
    import torch

    mean_t = torch.tensor(mean, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
    return (images - mean_t) / std_t


def _resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    import torch.nn.functional as F

    if tuple(images.shape[-2:]) == (height, width):
        return images
    return F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False)


def _multiple(value: float, of: int, low: int, high: int) -> int:
    return int(min(max(round(value / of) * of, low), high))


class DepthNet:
    """Depth Anything: images -> relative inverse depth (B, h, w), larger = nearer."""

    def __init__(self, model: Any, mean: Any, std: Any, metric: bool):
        self.model, self.mean, self.std, self.metric = model, mean, std, metric
        self.dtype = next(model.parameters()).dtype

    def __call__(self, images: torch.Tensor, side: int = 518) -> torch.Tensor:
        height, width = images.shape[-2:]
        scale = min(side, max(height, width)) / max(height, width)  # never above the image's
        size = (_multiple(height * scale, 14, 56, side), _multiple(width * scale, 14, 56, side))
        pixels = _normalise(_resize(images, *size), self.mean, self.std).to(self.dtype)
        depth = self.model(pixel_values=pixels).predicted_depth.float()
        return -depth if self.metric else depth


class SegmentationNet:
    """UperNet (ADE20K): images -> class logits (B, 150, h, w)."""

    def __init__(self, model: Any, mean: Any, std: Any):
        self.model, self.mean, self.std = model, mean, std
        self.dtype = next(model.parameters()).dtype

    def __call__(self, images: torch.Tensor, side: int = 512) -> torch.Tensor:
        height, width = images.shape[-2:]
        scale = min(1.0, side / max(height, width))
        size = (_multiple(height * scale, 32, 64, side), _multiple(width * scale, 32, 64, side))
        pixels = _normalise(_resize(images, *size), self.mean, self.std).to(self.dtype)
        return self.model(pixel_values=pixels).logits.float()


POSE_STRIDE = 8  # the OpenPose body network's output stride


class PoseNet:
    """The OpenPose body network: images -> (part affinity fields (B, 38, h, w), joint heatmaps
    (B, 19, h, w), the last the background), at 1/8 of the size it was shown."""

    def __init__(self, model: Any):
        self.model = model

    def __call__(self, images: torch.Tensor, side: int = 368) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = images.shape[-2:]
        scale = min(side, height) / height  # controlnet-aux: the height becomes 368; no larger
        size = (_multiple(height * scale, 8, 64, 2048), _multiple(width * scale, 8, 64, 2048))
        bgr = _resize(images, *size).flip(1).float()
        pafs, heatmaps = self.model(bgr * (255.0 / 256.0) - 0.5)  # the network's x / 256 - 0.5
        return pafs, heatmaps


class ClipNet:
    """open_clip: images -> normalised image embeddings; texts -> normalised text embeddings."""

    def __init__(self, model: Any, tokenizer: Any, mean: Any, std: Any, size: int):
        self.model, self.tokenizer, self.mean, self.std, self.size = (
            model,
            tokenizer,
            mean,
            std,
            size,
        )
        self.device = next(model.parameters()).device

    def images(self, images: torch.Tensor) -> torch.Tensor:
        pixels = _normalise(_resize(images.float(), self.size, self.size), self.mean, self.std)
        return self.model.encode_image(pixels, normalize=True)

    def text(self, text: str) -> torch.Tensor:
        import torch

        with torch.no_grad():
            tokens = self.tokenizer([text]).to(self.device)
            return self.model.encode_text(tokens, normalize=True)
