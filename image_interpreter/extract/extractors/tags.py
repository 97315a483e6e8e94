"""Tags: the ImageNet classes a classifier sees in the picture, top k with their probabilities, into
the caption prior's tags (its text and regions stay as they are).

SqueezeNet 1.1 (the default: 5 MB, milliseconds on a CPU) and DenseNet-121 come from torchvision,
their weights from its own download site into torch's cache (TORCH_HOME). ResNeXt-101 32x8d WSL
(Instagram-pretrained) and SNN-MLP come through torch.hub, which runs the repository's code, so
they are opt-in: settings.trusted_hub_repos must name the repository.

Model ids: 'torchvision/<WeightsEnum>.<NAME>' for torchvision weights, 'owner/repo' for torch.hub,
or a folder with `classifier.json` (architecture, categories) and `model.safetensors`, the way
the tiny models are saved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from PIL import Image
from pydantic import Field

from image_interpreter.errors import ModelUnavailable
from image_interpreter.extract.base import ExtractContext, Extractor, Params, register_extractor
from image_interpreter.extract.extractors.torchhub import hub_load, require_trusted
from image_interpreter.images.fit import network_picture
from image_interpreter.models import (
    is_tiny,
    load_with,
    model_id,
    register_role,
    resolve_device,
    tiny_model,
)
from image_interpreter.models.tiny import seeded
from image_interpreter.priors.schema import CaptionPrior, Prior, Tag, Unit
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    import torch

TORCHVISION = "torchvision/"
IMAGENET = "SqueezeNet1_1_Weights.IMAGENET1K_V1"  # its meta: the 1000 ImageNet class names
CONFIG = "classifier.json"
WEIGHTS = "model.safetensors"

register_role(
    "extract.tags.squeezenet",
    sd15=f"{TORCHVISION}{IMAGENET}",
    sdxl=f"{TORCHVISION}{IMAGENET}",
    tiny="tiny/squeezenet1_1",
    description="torchvision SqueezeNet 1.1 ImageNet classifier (image tags)",
)
register_role(
    "extract.tags.densenet",
    sd15=f"{TORCHVISION}DenseNet121_Weights.IMAGENET1K_V1",
    sdxl=f"{TORCHVISION}DenseNet121_Weights.IMAGENET1K_V1",
    tiny="tiny/densenet121",
    description="torchvision DenseNet-121 ImageNet classifier (image tags)",
)
register_role(
    "extract.tags.resnext_wsl",
    sd15="facebookresearch/WSL-Images",
    sdxl="facebookresearch/WSL-Images",
    tiny="tiny/resnext-wsl",
    description="ResNeXt-101 32x8d WSL through torch.hub (opt-in; CC BY-NC 4.0)",
)
register_role(
    "extract.tags.snnmlp",
    sd15="huawei-noah/Efficient-AI-Backbones",
    sdxl="huawei-noah/Efficient-AI-Backbones",
    tiny="tiny/snnmlp",
    description="SNN-MLP-T through torch.hub (opt-in)",
)


class Classifier:
    """An ImageNet-style classifier with its preprocessing and class names."""

    def __init__(self, model: torch.nn.Module, categories: list[str], weights: str = IMAGENET):
        from torchvision.models import get_weight

        self.transform = get_weight(weights).transforms()
        self.categories = categories
        self.model = model.eval()
        self.device = next(model.parameters()).device

    def to(self, device: torch.device) -> Classifier:
        self.model = self.model.to(device)
        self.device = device
        return self

    def top(self, image: Image.Image, k: int, min_score: float) -> list[Tag]:
        """The k most likely classes scoring at least `min_score`, most likely first."""
        import torch

        picture = network_picture(image.convert("RGB"))  # the transform scales the short side up
        batch = self.transform(picture).unsqueeze(0).to(self.device)
        with torch.inference_mode():
            probabilities = self.model(batch).float().softmax(dim=-1)[0].cpu()
        scores, indices = probabilities.topk(min(k, probabilities.numel()))
        return [
            Tag(label=self.categories[index], score=min(1.0, score))
            for score, index in zip(scores.tolist(), indices.tolist(), strict=True)
            if score >= min_score
        ]


def imagenet_categories() -> list[str]:
    from torchvision.models import get_weight

    return list(get_weight(IMAGENET).meta["categories"])


# --- loading -------------------------------------------------------------------------------------


def torchvision_classifier(ident: str, role: str, settings: Settings) -> Classifier:
    """A torchvision classifier with its published weights, from torch's cache (downloaded there
    unless offline)."""
    import torch
    from torchvision.models import get_model, get_model_weights, get_weight, list_models

    name = ident.removeprefix(TORCHVISION)
    try:
        weights = get_weight(name)
    except (ValueError, KeyError, AttributeError):
        raise ModelUnavailable(
            f"'{ident}' (role '{role}') names no torchvision weights. Name them as"
            " 'torchvision/<WeightsEnum>.<NAME>' in IMAGE_INTERPRETER_MODELS, e.g."
            " torchvision/DenseNet121_Weights.IMAGENET1K_V1."
        ) from None
    builder = next(n for n in list_models() if get_model_weights(n) is type(weights))
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    missing = not (cache / Path(weights.url).name).is_file()
    if missing and settings.offline:
        raise _torchvision_unavailable(ident, role, cache, "offline mode is on")
    try:
        model = get_model(builder, weights=weights, progress=False)
    except OSError as exc:  # urllib's errors when there is no connection
        why = f"it could not be downloaded ({exc})"
        raise _torchvision_unavailable(ident, role, cache, why) from exc
    return Classifier(model, list(weights.meta["categories"]), name)


def _torchvision_unavailable(ident: str, role: str, cache: Path, why: str) -> ModelUnavailable:
    name = ident.removeprefix(TORCHVISION)
    fetch = (
        'python -c "import torchvision;'
        f" torchvision.models.get_weight('{name}').get_state_dict()\""
    )
    return ModelUnavailable(
        f"Model '{ident}' (role '{role}') is not available: its weights are not in torch's cache"
        f" at {cache} and {why}. To fix it, run `{fetch}` on a machine with internet access and"
        " point TORCH_HOME at that cache; or set IMAGE_INTERPRETER_PROFILE=tiny to use"
        " random-weight tiny models (no download; for trying things out and tests)."
    )


def folder_classifier(folder: Path) -> Classifier:
    """A classifier saved as `classifier.json` + `model.safetensors` (see `save_classifier`)."""
    from safetensors.torch import load_file

    config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    model = _architecture(config["architecture"], config.get("kwargs", {}))
    model.load_state_dict(load_file(folder / WEIGHTS))
    return Classifier(model, config["categories"], config.get("weights", IMAGENET))


def save_classifier(
    folder: Path, architecture: str, kwargs: dict[str, Any], weights: str = IMAGENET
) -> None:
    """Random weights for `architecture`, saved so `folder_classifier` loads them."""
    from safetensors.torch import save_file
    from torchvision.models import get_weight

    model = _architecture(architecture, kwargs)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / WEIGHTS)
    config = {
        "architecture": architecture,
        "kwargs": kwargs,
        "weights": weights,
        "categories": list(get_weight(weights).meta["categories"]),
    }
    (folder / CONFIG).write_text(json.dumps(config, indent=1), encoding="utf-8")


def _architecture(name: str, kwargs: dict[str, Any]) -> torch.nn.Module:
    """A torchvision builder by name ('densenet121'), or 'ResNet' with its block named."""
    from torchvision.models import get_model, resnet

    if name == "ResNet":
        block = {"BasicBlock": resnet.BasicBlock, "Bottleneck": resnet.Bottleneck}
        rest = {key: value for key, value in kwargs.items() if key != "block"}
        return resnet.ResNet(block=block[kwargs["block"]], **rest)
    return get_model(name, weights=None, **kwargs)


# --- extractors ----------------------------------------------------------------------------------


class TagParams(Params):
    k: int = Field(5, ge=1, le=100, description="At most this many tags.")
    min_score: Unit = Field(0.05, description="Drop tags less likely than this.")


class TagExtractor(Extractor):
    """Subclasses name their role; loading is torchvision's unless they override `classifier`."""

    kind = "caption"
    Params = TagParams
    role: ClassVar[str]

    def load(self) -> None:
        self.tagger = self.classifier().to(resolve_device(self.settings))

    def classifier(self) -> Classifier:
        def load(target: str | Path) -> Classifier:
            if isinstance(target, Path):
                return folder_classifier(target)
            return torchvision_classifier(target, self.role, self.settings)

        return load_with(load, self.role, self.settings)

    def extract(self, image: Image.Image, params: TagParams, ctx: ExtractContext):
        return CaptionPrior(tags=self.tagger.top(image, params.k, params.min_score))

    def merge(self, existing: Prior | None, new: Prior) -> Prior:
        """Tags join the caption's; a label both have keeps the higher score."""
        if not isinstance(existing, CaptionPrior) or not isinstance(new, CaptionPrior):
            return new
        best: dict[str, Tag] = {}
        for tag in [*existing.tags, *new.tags]:
            if tag.label not in best or tag.score > best[tag.label].score:
                best[tag.label] = tag
        tags = sorted(best.values(), key=lambda t: -t.score)
        return existing.model_copy(update={"tags": tags})


@register_extractor
class SqueezeNetTags(TagExtractor):
    name = "tags.squeezenet"
    aliases = ("tags", "squeezenet")  # the only "tags": default=True would make "caption" ambiguous
    role = "extract.tags.squeezenet"
    roles = (role,)
    description = "SqueezeNet 1.1: ImageNet tags, fast on a CPU."


@register_extractor
class DenseNetTags(TagExtractor):
    name = "tags.densenet"
    aliases = ("densenet",)
    role = "extract.tags.densenet"
    roles = (role,)
    description = "DenseNet-121: ImageNet tags, more accurate than SqueezeNet."


class HubTagExtractor(TagExtractor):
    """A classifier from a torch.hub repository: opt-in, since loading runs its code."""

    hub_repo: ClassVar[str]
    hub_entry: ClassVar[str]
    hub_kwargs: ClassVar[dict[str, Any]] = {}
    licence: ClassVar[str | None] = None

    def classifier(self) -> Classifier:
        ident = model_id(self.role, self.settings)
        local = is_tiny(ident) or Path(ident).expanduser().exists()
        what = f"The {self.name} extractor"
        repo = self.hub_repo if local else ident
        require_trusted(repo, self.settings, what=what, licence=self.licence)

        def load(target: str | Path) -> Classifier:
            if isinstance(target, Path):
                return folder_classifier(target)
            model = hub_load(
                target,
                self.hub_entry,
                self.settings,
                what=what,
                licence=self.licence,
                **self.hub_kwargs,
            )
            return Classifier(model, imagenet_categories())

        return load_with(load, self.role, self.settings)


@register_extractor
class ResNeXtWSLTags(HubTagExtractor):
    name = "tags.resnext_wsl"
    aliases = ("resnext_wsl", "wsl")
    role = "extract.tags.resnext_wsl"
    roles = (role,)
    hub_repo = "facebookresearch/WSL-Images"
    hub_entry = "resnext101_32x8d_wsl"
    licence = "the WSL-Images weights are CC BY-NC 4.0, for non-commercial use only"
    description = "ResNeXt-101 32x8d WSL (torch.hub, opt-in): strong ImageNet tags."


@register_extractor
class SNNMLPTags(HubTagExtractor):
    name = "tags.snnmlp"
    aliases = ("snnmlp",)
    role = "extract.tags.snnmlp"
    roles = (role,)
    hub_repo = "huawei-noah/Efficient-AI-Backbones"
    hub_entry = "snnmlp_t"
    hub_kwargs: ClassVar[dict[str, Any]] = {"pretrained": True}
    description = "SNN-MLP-T (torch.hub, opt-in): ImageNet tags."


# --- tiny models ---------------------------------------------------------------------------------
# The torchvision ones are the real architectures with random weights. The torch.hub ones cannot
# be built without their repositories' code: ResNeXt WSL is torchvision's ResNeXt at one block per
# stage, and SNN-MLP (not in torchvision) stands in as a SqueezeNet 1.1.


@tiny_model("tiny/squeezenet1_1")
def build_squeezenet(folder: Path) -> None:
    with seeded(20):
        save_classifier(folder, "squeezenet1_1", {})


@tiny_model("tiny/densenet121")
def build_densenet(folder: Path) -> None:
    with seeded(21):
        save_classifier(folder, "densenet121", {}, "DenseNet121_Weights.IMAGENET1K_V1")


@tiny_model("tiny/resnext-wsl")
def build_resnext_wsl(folder: Path) -> None:
    kwargs = {"block": "Bottleneck", "layers": [1, 1, 1, 1], "groups": 32, "width_per_group": 4}
    with seeded(22):
        save_classifier(folder, "ResNet", kwargs)


@tiny_model("tiny/snnmlp")
def build_snnmlp(folder: Path) -> None:
    with seeded(23):
        save_classifier(folder, "squeezenet1_1", {})
