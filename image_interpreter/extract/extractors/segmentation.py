"""Semantic segmentation in the ADE20K classes the segmentation ControlNet was trained on.

UperNet (ConvNeXt, trained on ADE20K, through transformers) is the default: its 150 classes are
the ControlNet's own, index for index. FCN-ResNet101 (torchvision, the one the project's seed
names) knows the 21 Pascal VOC classes; `VOC_TO_ADE20K` maps each to the nearest ADE20K class so
the map stays in the one index space the renderer draws. VOC's 'background' is not one class (it
is wall, sky, floor...), so it becomes 255, unlabelled, drawn black: the ControlNet is left free
there rather than told a wrong class.

Both give a class-index PNG at the picture's size: logits upsampled to at most `max_side` (150
float maps of a full-size photo would take gigabytes), argmax, then a nearest-neighbour resize.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import cv2
import numpy as np
from PIL import Image
from pydantic import Field

from image_interpreter.errors import ModelUnavailable
from image_interpreter.extract.base import (
    ExtractContext,
    Extractor,
    Params,
    register_extractor,
)
from image_interpreter.images.fit import network_size
from image_interpreter.models.loading import (
    load_pretrained,
    load_with,
    offline_mode,
    resolve_device,
    resolve_dtype,
)
from image_interpreter.models.registry import register_role
from image_interpreter.models.tiny import seeded, tiny_model
from image_interpreter.priors.render.ade20k import ADE20K_CLASSES, ade20k_index
from image_interpreter.priors.schema import SegmentationPrior, SegmentClass
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    import torch

_UPERNET = "openmmlab/upernet-convnext-small"
UPERNET_ROLE = "extract.segmentation.upernet"
register_role(
    UPERNET_ROLE,
    sd15=_UPERNET,
    sdxl=_UPERNET,
    tiny="tiny/upernet",
    description="UperNet semantic segmentation with ADE20K's 150 classes (transformers)",
)
_FCN = "torchvision/fcn_resnet101"
FCN_ROLE = "extract.segmentation.fcn"
register_role(
    FCN_ROLE,
    sd15=_FCN,
    sdxl=_FCN,
    tiny="tiny/fcn",
    description="torchvision FCN with Pascal VOC classes: 'torchvision/fcn_resnet101' or"
    " 'torchvision/fcn_resnet50' (weights from download.pytorch.org, cached under TORCH_HOME),"
    " or a folder with fcn_config.json + model.safetensors",
)

UNLABELLED = 255  # drawn black by the renderer: no class

# Pascal VOC (FCN's classes, in its index order) -> the nearest ADE20K class.
VOC_TO_ADE20K: dict[str, str | None] = {
    "__background__": None,  # everything else: not one class, so unlabelled
    "aeroplane": "airplane",
    "bicycle": "bicycle",
    "bird": "animal",  # ADE20K has one class for all animals
    "boat": "boat",
    "bottle": "bottle",
    "bus": "bus",
    "car": "car",
    "cat": "animal",
    "chair": "chair",
    "cow": "animal",
    "diningtable": "table",
    "dog": "animal",
    "horse": "animal",
    "motorbike": "minibike",  # ADE20K's motorbike class
    "person": "person",
    "pottedplant": "plant",
    "sheep": "animal",
    "sofa": "sofa",
    "train": "bus",  # ADE20K has no train; the nearest long passenger vehicle
    "tvmonitor": "television receiver",
}
_VOC_LUT = np.array(
    [UNLABELLED if name is None else ade20k_index(name) for name in VOC_TO_ADE20K.values()],
    dtype=np.uint8,
)


class SegmentationParams(Params):
    max_side: int = Field(
        1024, ge=64, le=4096, description="Decide classes at most this finely, then scale up."
    )


@register_extractor
class UperNetExtractor(Extractor):
    name = "segmentation.upernet"
    kind = "segmentation"
    aliases = ("seg", "upernet")
    default = True
    roles = (UPERNET_ROLE,)
    Params = SegmentationParams
    description = "An ADE20K class for each pixel (UperNet), as the segmentation ControlNet needs."

    def load(self) -> None:
        from transformers import AutoImageProcessor, UperNetForSemanticSegmentation

        role = self.roles[0]
        self.processor = load_pretrained(AutoImageProcessor, role, self.settings)
        model = load_pretrained(UperNetForSemanticSegmentation, role, self.settings)
        if model.config.num_labels != len(ADE20K_CLASSES):
            raise ModelUnavailable(
                f"The model for role '{role}' has {model.config.num_labels} classes, but the"
                " segmentation ControlNet knows ADE20K's 150. Choose an ADE20K UperNet (e.g."
                f" {_UPERNET}) in IMAGE_INTERPRETER_MODELS."
            )
        self.device = resolve_device(self.settings)
        self.dtype = resolve_dtype(self.settings, self.device)
        self.model = model.to(self.device, self.dtype).eval()

    def extract(self, image: Image.Image, params: SegmentationParams, ctx: ExtractContext):
        import torch

        pixels = self.processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            logits = self.model(pixel_values=pixels.to(self.device, self.dtype)).logits
        return _prior(logits, image.size, params.max_side, ctx)


@register_extractor
class FcnExtractor(Extractor):
    name = "segmentation.fcn"
    kind = "segmentation"
    aliases = ("fcn",)
    roles = (FCN_ROLE,)
    Params = SegmentationParams
    description = "People, animals, vehicles and furniture (FCN, 20 VOC classes) in ADE20K classes."

    def load(self) -> None:
        self.device = resolve_device(self.settings)
        self.dtype = resolve_dtype(self.settings, self.device)
        model, self.resize = load_with(self._load, self.roles[0], self.settings)
        self.model = model.to(self.device, self.dtype).eval()

    def _load(self, target: str | Path) -> tuple[Any, int]:
        from safetensors.torch import load_file

        if isinstance(target, Path):
            config = json.loads((target / "fcn_config.json").read_text(encoding="utf-8"))
            state = load_file(target / "model.safetensors")
        else:
            weights = _torchvision_weights(target)
            config = {
                "arch": target.partition("/")[2],
                "num_classes": len(weights.meta["categories"]),
                "aux_loss": True,  # the published weights include the training-time head
                "resize": weights.transforms.keywords["resize_size"],
            }
            state = _download(weights.url, target, self.settings)
        model = _fcn(config)
        model.load_state_dict(state)
        model.aux_classifier = None  # only used in training
        return model, int(config["resize"])

    def extract(self, image: Image.Image, params: SegmentationParams, ctx: ExtractContext):
        import torch
        from torchvision.transforms import functional as F

        pixels = F.pil_to_tensor(image.convert("RGB"))
        width, height = network_size(image.size, self.resize, multiple=1)  # bounded, any shape
        pixels = F.resize(pixels, [height, width], antialias=True).float() / 255.0
        pixels = F.normalize(pixels, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
        with torch.inference_mode():
            logits = self.model(pixels[None].to(self.device, self.dtype))["out"]
        return _prior(logits, image.size, params.max_side, ctx, lut=_VOC_LUT)


def _prior(
    logits: torch.Tensor,
    size: tuple[int, int],
    max_side: int,
    ctx: ExtractContext,
    lut: np.ndarray | None = None,
) -> SegmentationPrior:
    """Class logits (1, classes, h, w) -> an ADE20K class-index map at `size` (width, height)."""
    import torch

    width, height = size
    scale = min(1.0, max_side / max(width, height))
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    logits = torch.nn.functional.interpolate(
        logits.float(), size=shape, mode="bilinear", align_corners=False
    )
    indices = logits.argmax(dim=1)[0].to(torch.uint8).cpu().numpy()
    if lut is not None:
        indices = lut[indices]
    if indices.shape != (height, width):
        indices = cv2.resize(indices, (width, height), interpolation=cv2.INTER_NEAREST)
    present = [int(i) for i in np.unique(indices) if i < len(ADE20K_CLASSES)]
    return SegmentationPrior(
        map=ctx.put_png(indices),
        palette="ade20k",
        classes=[SegmentClass(index=i, label=ADE20K_CLASSES[i]) for i in present],
    )


# --- FCN weights --------------------------------------------------------------------------------

_FCN_ARCHS = {"fcn_resnet101": "FCN_ResNet101_Weights", "fcn_resnet50": "FCN_ResNet50_Weights"}


def _fcn(config: dict[str, Any]) -> torch.nn.Module:
    """torchvision's FCN of the named size, without weights (they are loaded next)."""
    from torchvision.models import segmentation

    if config.get("arch") not in _FCN_ARCHS:
        raise FileNotFoundError(f"unknown FCN architecture {config.get('arch')!r}")
    builder = getattr(segmentation, config["arch"])
    return builder(
        weights=None,
        weights_backbone=None,
        num_classes=config["num_classes"],
        aux_loss=config.get("aux_loss", False),
    )


def _torchvision_weights(model: str) -> Any:
    from torchvision.models import segmentation

    owner, _, arch = model.partition("/")
    if owner != "torchvision" or arch not in _FCN_ARCHS:
        choices = ", ".join(f"torchvision/{name}" for name in _FCN_ARCHS)
        raise ModelUnavailable(
            f"'{model}' (role '{FCN_ROLE}') is not a torchvision FCN. Use one of {choices},"
            " or a folder with fcn_config.json + model.safetensors, in IMAGE_INTERPRETER_MODELS."
        )
    return getattr(segmentation, _FCN_ARCHS[arch]).COCO_WITH_VOC_LABELS_V1


def _download(url: str, model: str, settings: Settings) -> dict[str, Any]:
    """torchvision's weights from the torch hub cache (TORCH_HOME), downloaded unless offline.
    They are not on the Hugging Face hub, so the fix names this cache, not the hub's."""
    import torch

    folder = Path(torch.hub.get_dir()) / "checkpoints"
    file = folder / Path(urlparse(url).path).name
    if not file.is_file() and offline_mode(settings):
        raise _unavailable(model, url, file, "offline mode is on, so they were not downloaded")
    try:
        return torch.hub.load_state_dict_from_url(
            url,
            model_dir=str(folder),
            map_location="cpu",
            progress=False,
            check_hash=True,
            weights_only=True,
        )
    except OSError as exc:
        raise _unavailable(model, url, file, f"could not be downloaded ({exc})") from exc


def _unavailable(model: str, url: str, file: Path, why: str) -> ModelUnavailable:
    return ModelUnavailable(
        f"Model '{model}' (role '{FCN_ROLE}') is not available: its weights are not in the"
        f" torch hub cache at {file.parent} and {why}. To fix it, download {url} into"
        f" {file.parent} on a machine with internet access (or point TORCH_HOME at a folder"
        " whose hub/checkpoints has it); or set IMAGE_INTERPRETER_PROFILE=tiny to use"
        " random-weight tiny models (no download; for trying things out and tests, not real"
        " pictures)."
    )


# --- tiny ---------------------------------------------------------------------------------------


@tiny_model("tiny/upernet")
def build_upernet(folder: Path) -> None:
    """UperNet on a 4-stage ConvNeXt 8-64 channels wide, 64 px inputs, ADE20K's 150 labels."""
    from transformers import (
        ConvNextConfig,
        SegformerImageProcessor,
        UperNetConfig,
        UperNetForSemanticSegmentation,
    )

    backbone = ConvNextConfig(
        hidden_sizes=[8, 16, 32, 64],
        depths=[1, 1, 1, 1],
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = UperNetConfig(
        backbone_config=backbone,
        hidden_size=16,
        use_auxiliary_head=False,
        num_labels=len(ADE20K_CLASSES),
        id2label=dict(enumerate(ADE20K_CLASSES)),
        label2id={name: index for index, name in enumerate(ADE20K_CLASSES)},
    )
    with seeded(12):
        model = UperNetForSemanticSegmentation(config)
    model.save_pretrained(folder, safe_serialization=True)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)


@tiny_model("tiny/fcn")
def build_fcn(folder: Path) -> None:
    """torchvision's FCN class with random weights. ResNet-50, not 101: the same class and head
    from the same builder family, a third lighter; torchvision has no smaller FCN backbone."""
    from safetensors.torch import save_model

    config = {"arch": "fcn_resnet50", "num_classes": 21, "aux_loss": False, "resize": 64}
    with seeded(13):
        model = _fcn(config)
    (folder / "fcn_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_model(model, str(folder / "model.safetensors"))
