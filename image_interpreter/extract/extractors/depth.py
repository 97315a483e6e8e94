"""Depth maps: Depth Anything V2 (transformers) by default; MiDaS and ZoeDepth (controlnet-aux),
the depth ControlNets' own preprocessors, as alternatives.

Every backend ends in the same map: 16-bit, the source image's size, bright = near, stretched over
the full 0..65535 range. The backends disagree on what their numbers mean, so each declares it:

- Depth Anything V2 (the relative checkpoints, the default) and MiDaS predict relative inverse
  depth (disparity): larger = nearer. Depth Anything's metric checkpoints predict metres:
  larger = farther; the checkpoint's config says which (`depth_estimation_type`).
- ZoeDepth predicts metric depth in metres: larger = farther. Its map is stretched between the
  2nd and 85th percentile of depth, as controlnet-aux's ZoeDetector does (so the far background
  saturates to black, as in the maps the depth ControlNets were trained on).

The raw prediction (float) is resized to the source size first and quantised once, so a 16-bit map
keeps the network's precision; controlnet-aux's own detectors stop at 8 bits, so for MiDaS and
ZoeDepth only their loading and preprocessing are used, and their networks are called directly.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field

from image_interpreter.extract.base import ExtractContext, Extractor, Params, register_extractor
from image_interpreter.extract.extractors._annotators import (
    ANNOTATORS,
    fit,
    load_annotator,
    quiet,
    random_checkpoint,
    rgb_array,
    save_checkpoint,
)
from image_interpreter.images.fit import NETWORK_ASPECT, fit_image, network_array
from image_interpreter.models import (
    load_pretrained,
    register_role,
    resolve_device,
    resolve_dtype,
    tiny_model,
)
from image_interpreter.models.tiny import seeded
from image_interpreter.priors.schema import DepthPrior

Nearer = Literal["larger", "smaller"]
DEPTH_MAX = 65535

DEPTH_ANYTHING = "depth-anything/Depth-Anything-V2-Small-hf"
MIDAS_FILE = "dpt_hybrid-midas-501f0c75.pt"  # MiDaS v3 DPT-Hybrid, controlnet-aux's default
ZOE_FILE = "ZoeD_M12_N.pt"  # ZoeDepth-N (NYU-trained, indoor scale), controlnet-aux's default

register_role(
    "extract.depth.depth_anything",
    sd15=DEPTH_ANYTHING,
    sdxl=DEPTH_ANYTHING,
    tiny="tiny/depth-anything",
    description="Depth Anything V2 depth estimator (transformers model + image processor)",
)
register_role(
    "extract.annotators.midas",
    sd15=ANNOTATORS,
    sdxl=ANNOTATORS,
    tiny="tiny/annotators-midas",
    description=f"controlnet-aux MiDaS DPT-Hybrid checkpoint ({MIDAS_FILE})",
)
register_role(
    "extract.annotators.zoe",
    sd15=ANNOTATORS,
    sdxl=ANNOTATORS,
    tiny="tiny/annotators-zoe",
    description=f"controlnet-aux ZoeDepth checkpoint ({ZOE_FILE})",
)


def normalise_depth(
    raw: np.ndarray, *, nearer: Nearer, percentiles: tuple[float, float] = (0.0, 100.0)
) -> np.ndarray:
    """A raw 2-D prediction as a uint16 map, bright = near: the `percentiles` of nearness become 0
    and 65535, values beyond them clip. `nearer` says which way the backend counts ("larger" for
    disparity, "smaller" for metres). A constant prediction says nothing about depth: all black;
    so do values that are not numbers."""
    values = np.asarray(raw, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"A depth prediction is 2-D, not of shape {values.shape}.")
    nearness = values if nearer == "larger" else -values
    finite = nearness[np.isfinite(nearness)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=np.uint16)
    low, high = np.percentile(finite, percentiles)
    if not high > low:
        return np.zeros(values.shape, dtype=np.uint16)
    with np.errstate(invalid="ignore"):
        scaled = np.clip((nearness - low) / (high - low), 0.0, 1.0)
    return np.rint(np.nan_to_num(scaled, nan=0.0) * DEPTH_MAX).astype(np.uint16)


class _DepthExtractor(Extractor):
    """The shared tail: raw prediction -> source size -> 16-bit map, bright = near."""

    kind = "depth"
    nearer: Nearer = "larger"  # how this backend counts (see the module docstring)
    percentiles: tuple[float, float] = (0.0, 100.0)

    @abstractmethod
    def predict(self, image: Image.Image, params) -> np.ndarray:
        """The network's raw 2-D prediction for an RGB image, at whatever size it works."""

    def extract(self, image: Image.Image, params, ctx: ExtractContext) -> DepthPrior:
        raw = self.predict(image.convert("RGB"), params)
        depth = normalise_depth(
            fit(raw, image.size), nearer=self.nearer, percentiles=self.percentiles
        )
        return DepthPrior(map=ctx.put_png(depth))


# --- Depth Anything V2 -------------------------------------------------------------------------


class DepthAnythingParams(Params):
    detect_resolution: int = Field(
        518,
        ge=56,
        le=2048,
        description="Size the network sees (the model's keep-aspect resize to a multiple of 14;"
        " its own default is 518). Larger: finer detail, slower.",
    )


@register_extractor
class DepthAnythingExtractor(_DepthExtractor):
    name = "depth.depth_anything"
    aliases = ("depth", "depth_anything", "depth-anything")
    default = True
    roles = ("extract.depth.depth_anything",)
    Params = DepthAnythingParams
    description = "Depth Anything V2: a 16-bit depth map, bright = near, the picture's size."

    def load(self) -> None:
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        self.device = resolve_device(self.settings)
        self.dtype = resolve_dtype(self.settings, self.device)
        role = self.roles[0]
        self.processor = load_pretrained(AutoImageProcessor, role, self.settings)
        model = load_pretrained(AutoModelForDepthEstimation, role, self.settings)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        metric = getattr(model.config, "depth_estimation_type", "relative") == "metric"
        self.nearer = "smaller" if metric else "larger"

    def predict(self, image: Image.Image, params: DepthAnythingParams) -> np.ndarray:
        import torch

        side = params.detect_resolution
        # The processor's own keep-aspect resize fails on an extreme shape (a side rounds to 0):
        # the picture is sized here, bounded, and the processor is asked for exactly that size.
        picture = fit_image(
            image, short_side=side, max_side=round(side * NETWORK_ASPECT), multiple=14
        )
        size = {"height": picture.height, "width": picture.width}
        inputs = self.processor(images=picture, return_tensors="pt", size=size)
        pixels = inputs["pixel_values"].to(device=self.device, dtype=self.dtype)
        with torch.inference_mode():
            predicted = self.model(pixel_values=pixels).predicted_depth
        return predicted[0].float().cpu().numpy()


# --- controlnet-aux: MiDaS and ZoeDepth --------------------------------------------------------


class MidasParams(Params):
    detect_resolution: int = Field(
        512,
        ge=64,
        le=2048,
        description="Short side the network sees, rounded to 64 px (controlnet-aux's default).",
    )


@register_extractor
class MidasExtractor(_DepthExtractor):
    name = "depth.midas"
    aliases = ("midas",)
    roles = ("extract.annotators.midas",)
    Params = MidasParams
    description = "MiDaS v3 (DPT-Hybrid), the classic depth ControlNet preprocessor."

    def load(self) -> None:
        with quiet():
            from controlnet_aux.midas import MidasDetector

        self.device = resolve_device(self.settings)
        self.detector = load_annotator(
            MidasDetector, self.roles[0], self.settings, (MIDAS_FILE,), model_type="dpt_hybrid"
        )

    def predict(self, image: Image.Image, params: MidasParams) -> np.ndarray:
        import torch

        rgb = network_array(rgb_array(image), params.detect_resolution)
        pixels = torch.from_numpy(rgb).to(self.device, torch.float32).permute(2, 0, 1)[None]
        with torch.inference_mode():
            predicted = self.detector.model(pixels / 127.5 - 1.0)  # as MidasDetector scales
        return predicted[0].float().cpu().numpy()


class ZoeParams(Params):
    detect_resolution: int = Field(
        512, ge=64, le=2048, description="Short side of the picture handed to ZoeDepth."
    )
    flip_augment: bool = Field(
        True,
        description="Average with the mirrored picture's prediction, as controlnet-aux does:"
        " steadier, twice the time.",
    )


@register_extractor
class ZoeExtractor(_DepthExtractor):
    name = "depth.zoe"
    aliases = ("zoe", "zoedepth")
    roles = ("extract.annotators.zoe",)
    Params = ZoeParams
    description = "ZoeDepth (metric depth, BEiT-L backbone), a depth ControlNet preprocessor."
    nearer = "smaller"
    percentiles = (15.0, 98.0)  # nearness percentiles = ZoeDetector's 2nd..85th of depth

    def load(self) -> None:
        with quiet():
            from controlnet_aux.zoe import ZoeDetector

        self.device = resolve_device(self.settings)
        self.detector = load_annotator(
            ZoeDetector, self.roles[0], self.settings, (ZOE_FILE,), model_type="zoedepth"
        )

    def predict(self, image: Image.Image, params: ZoeParams) -> np.ndarray:
        import torch

        rgb = network_array(rgb_array(image), params.detect_resolution)
        pixels = torch.from_numpy(rgb).to(self.device, torch.float32).permute(2, 0, 1)[None]
        with torch.inference_mode():
            metres = self.detector.model.infer(pixels / 255.0, with_flip_aug=params.flip_augment)
        return metres[0, 0].float().cpu().numpy()


# --- tiny stand-ins ----------------------------------------------------------------------------


@tiny_model("tiny/depth-anything")
def build_depth_anything(folder: Path) -> None:
    """Depth Anything V2 laid out as the hub's "-hf" checkpoints: DepthAnythingForDepthEstimation
    on a DINOv2 backbone (4 layers of 32 channels instead of 12 of 384) and a DPT image processor
    with the real resize and normalisation. Random heads end in a ReLU that zeroes most pixels;
    the last convolutions get larger weights and a positive bias so the map varies with the input.
    """
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        mlp_ratio=2,
        image_size=518,
        patch_size=14,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
        layerscale_value=1.0,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=14,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type="relative",
    )
    with seeded(20):
        model = DepthAnythingForDepthEstimation(config)
        with torch.no_grad():
            for conv in (model.head.conv1, model.head.conv2, model.head.conv3):
                torch.nn.init.normal_(conv.weight, std=0.5)
                torch.nn.init.zeros_(conv.bias)
            model.head.conv3.bias.fill_(1.0)
    model.save_pretrained(folder, safe_serialization=True)
    DPTImageProcessor(
        do_resize=True,
        size={"height": 518, "width": 518},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=Image.Resampling.BICUBIC,
        do_rescale=True,
        do_normalize=True,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        do_pad=False,
    ).save_pretrained(folder)


@tiny_model("tiny/annotators-midas")
def build_midas(folder: Path) -> None:
    """MiDaS DPT-Hybrid with its full 123 M parameters (random, a few MB on disk).

    Not miniature, because nothing smaller loads through MidasDetector: it picks the architecture
    by `model_type` alone, and of its four types only the two DPT ones build offline (v2.1 and
    v2.1-small fetch their backbones through torch.hub); DPT-Hybrid is the smaller. It is built
    on the meta device (timm, pretrained=False: nothing touches the network) for its shapes."""
    import torch

    with quiet():
        from controlnet_aux.midas.midas.dpt_depth import DPTDepthModel

        with torch.device("meta"):
            model = DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True)
    save_checkpoint(random_checkpoint(model, seed=21), folder / MIDAS_FILE)


@tiny_model("tiny/annotators-zoe")
def build_zoe(folder: Path) -> None:
    """ZoeDepth-N with its full 345 M parameters on a BEiT-L MiDaS core (random, a few MB on
    disk): ZoeDetector builds the architecture from controlnet-aux's own config, with no size to
    choose. Its core comes from the vendored MiDaS repository (torch.hub source='local',
    pretrained=False), so nothing touches the network. The log-binomial head's two constant
    buffers keep their real values."""
    import torch

    with quiet():
        from controlnet_aux.zoe.zoedepth.models.zoedepth.zoedepth_v1 import ZoeDepth
        from controlnet_aux.zoe.zoedepth.utils.config import get_config

        with torch.device("meta"):
            model = ZoeDepth.build_from_config(get_config("zoedepth", "infer"))
    binomial = model.conditional_log_binomial.log_binomial_transform
    constants = type(binomial)(binomial.K).state_dict()  # built for real: two tiny tensors
    buffers = {
        f"conditional_log_binomial.log_binomial_transform.{k}": v for k, v in constants.items()
    }
    state = random_checkpoint(model, seed=22, buffers=buffers)
    save_checkpoint(state, folder / ZOE_FILE, key="model")
