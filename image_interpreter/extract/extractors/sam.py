"""Objects as masks with segment-anything (SAM): everything it finds, or the one thing a point or a
box points at.

Automatic masks come from SAM's own point-grid generator, prompted ones from its predictor. Both
run on a copy at most `max_side` large (SAM works at 1024 px inside; a full-size photo would only
cost memory) and scale the masks back to the picture's size. Masks are named by CLIP over a
vocabulary (`clip_labels`). SAM runs in float32 on every device: its predictor feeds float32
inputs and has no dtype switch.

Weights: the official ViT-B/L/H checkpoints. The hub id fetches ViT-B (the size a CPU can run);
a folder named in IMAGE_INTERPRETER_MODELS may hold any official `sam_vit_{b,l,h}_*.pth`, or a
`sam_config.json` with the architecture next to `model.safetensors` (how the tiny one is saved).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PIL import Image
from pydantic import Field, model_validator

from image_interpreter.errors import ModelUnavailable
from image_interpreter.extract.base import ExtractContext, Extractor, register_extractor
from image_interpreter.extract.extractors._hub import hub_file, only_these_files
from image_interpreter.extract.extractors.clip_labels import ROLE as CLIP_ROLE
from image_interpreter.extract.extractors.clip_labels import LabelParams, label_masks
from image_interpreter.images.fit import NETWORK_ASPECT, fit_image
from image_interpreter.models.loading import load_with, resolve, resolve_device
from image_interpreter.models.registry import register_role
from image_interpreter.models.tiny import seeded, tiny_model
from image_interpreter.priors.schema import Box, DetectedObject, ObjectsPrior, Unit
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    from segment_anything.modeling import Sam

ROLE = "extract.sam"
_REPO = "ybelkada/segment-anything"
register_role(
    ROLE,
    sd15=_REPO,
    sdxl=_REPO,
    tiny="tiny/sam",
    description="segment-anything (SAM) checkpoint: ViT-B from the hub, or a folder holding an"
    " official sam_vit_{b,l,h}_*.pth",
)

HUB_CHECKPOINTS = {_REPO: "checkpoints/sam_vit_b_01ec64.pth"}  # repos whose layout is known
CONFIG = "sam_config.json"
_VARIANT = re.compile(r"sam_(vit_[blh])")
_PREFERENCE = ("vit_h", "vit_l", "vit_b")  # several checkpoints in a folder: the best one


def load_sam(settings: Settings) -> Sam:
    """SAM for role 'extract.sam', on the configured device, ready for inference."""

    def load(target: str | Path) -> Sam:
        if isinstance(target, str):
            checkpoint = hub_file(target, [_hub_checkpoint(target)], settings)
            model = _build({"variant": _variant(checkpoint)}, checkpoint)
        else:
            model = _build(*_folder_checkpoint(target))
        return model.to(resolve_device(settings)).eval()

    try:
        return load_with(load, ROLE, settings)
    except ModelUnavailable as exc:
        target = resolve(ROLE, settings)
        if isinstance(target, Path) or target not in HUB_CHECKPOINTS:
            raise
        raise only_these_files(exc, target, [HUB_CHECKPOINTS[target]], settings) from exc


def _hub_checkpoint(repo: str) -> str:
    if repo in HUB_CHECKPOINTS:
        return HUB_CHECKPOINTS[repo]
    raise ModelUnavailable(
        f"'{repo}' (role '{ROLE}') is not a SAM repository whose layout is known"
        f" ({', '.join(HUB_CHECKPOINTS)}). Download an official checkpoint (sam_vit_b_01ec64.pth,"
        " sam_vit_l_0b3195.pth or sam_vit_h_4b8939.pth, see github.com/facebookresearch/"
        "segment-anything) into a folder and name it: IMAGE_INTERPRETER_MODELS="
        f'\'{{"{ROLE}": "/path/to/folder"}}\'.'
    )


def _variant(checkpoint: Path) -> str:
    found = _VARIANT.search(checkpoint.name)
    if not found:
        raise FileNotFoundError(f"cannot tell the SAM size of {checkpoint.name}")
    return found.group(1)


def _folder_checkpoint(folder: Path) -> tuple[dict[str, Any], Path]:
    """(architecture config, checkpoint) of a folder: `sam_config.json` + its checkpoint, or an
    official checkpoint whose name says its size."""
    if (folder / CONFIG).is_file():
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        return config, folder / config.get("checkpoint", "model.safetensors")
    found = {_variant(path): path for path in folder.glob("sam_vit_*.pth")}
    for variant in _PREFERENCE:
        if variant in found:
            return {"variant": variant}, found[variant]
    raise FileNotFoundError(f"no {CONFIG} and no official sam_vit_*.pth checkpoint in {folder}")


def _build(config: dict[str, Any], checkpoint: Path) -> Sam:
    """The architecture `config` names (an official size, or custom dimensions), with the
    checkpoint's weights."""
    import torch
    from segment_anything import sam_model_registry

    variant = config.get("variant")
    if variant in sam_model_registry:
        model = sam_model_registry[variant]()
    elif variant == "custom":
        model = _custom(config)
    else:
        raise FileNotFoundError(f"unknown SAM variant {variant!r} in {CONFIG}")
    if checkpoint.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(checkpoint)
    else:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model


def _custom(c: dict[str, Any]) -> Sam:
    """SAM from segment_anything's own blocks, as its `build_sam` wires them, at any size."""
    import torch
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    size, patch, dim = c["img_size"], c["patch_size"], c["prompt_embed_dim"]
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=size,
            patch_size=patch,
            embed_dim=c["embed_dim"],
            depth=c["depth"],
            num_heads=c["num_heads"],
            mlp_ratio=c["mlp_ratio"],
            out_chans=dim,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=c["window_size"],
            global_attn_indexes=tuple(c["global_attn_indexes"]),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=dim,
            image_embedding_size=(size // patch, size // patch),
            input_image_size=(size, size),
            mask_in_chans=c["mask_in_chans"],
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=dim, mlp_dim=c["decoder_mlp_dim"], num_heads=c["heads"]
            ),
            transformer_dim=dim,
            iou_head_depth=3,
            iou_head_hidden_dim=c["iou_head_hidden_dim"],
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )


# --- extractors ---------------------------------------------------------------------------------


class SamParams(LabelParams):
    points_per_side: int = Field(
        32, ge=1, le=64, description="Prompts on a grid: this many points along each side."
    )
    pred_iou_thresh: Unit = Field(0.88, description="Drop masks SAM rates below this quality.")
    stability_score_thresh: Unit = Field(
        0.95, description="Drop masks that change much when their threshold moves."
    )
    min_area: Unit = Field(0.0005, description="Drop masks smaller than this part of the picture.")
    max_objects: int = Field(64, ge=1, le=255, description="Keep this many masks, largest first.")
    max_side: int = Field(1024, ge=32, le=4096, description="Segment a copy at most this large.")


Point = tuple[Unit, Unit]


class SamPromptParams(LabelParams):
    points: tuple[Point, ...] = Field((), description="(x, y) on the thing, normalised.")
    negative_points: tuple[Point, ...] = Field((), description="(x, y) not on it, normalised.")
    box: tuple[Unit, Unit, Unit, Unit] | None = Field(
        None, description="(x0, y0, x1, y1) around it, normalised."
    )
    label: str | None = Field(
        None, min_length=1, description="Its name, if known (then CLIP is not asked)."
    )
    max_side: int = Field(1024, ge=32, le=4096, description="Segment a copy at most this large.")

    @model_validator(mode="after")
    def _prompted(self) -> SamPromptParams:
        if not self.points and self.box is None:
            raise ValueError("give at least one point or a box")
        if self.box is not None and not (self.box[0] < self.box[2] and self.box[1] < self.box[3]):
            raise ValueError("box needs x0 < x1 and y0 < y1")
        return self


class _SamExtractor(Extractor):
    kind = "objects"
    roles = (ROLE, CLIP_ROLE)

    def load(self) -> None:
        self.sam = load_sam(self.settings)

    def _objects(
        self,
        image: Image.Image,
        found: list[tuple[np.ndarray, float]],
        params: LabelParams,
        ctx: ExtractContext,
        label: str | None = None,
    ) -> ObjectsPrior:
        """Masks found on the working copy -> objects at the picture's size, labelled."""
        masks, scores = [], []
        for mask, score in found:
            full = _to_size(mask, image.size)
            if full.any():
                masks.append(full)
                scores.append(min(max(score, 0.0), 1.0))
        if label is None:
            ctx.progress("naming masks", 0.7)
            labels = label_masks(np.asarray(image.convert("RGB")), masks, params, self.settings)
        else:
            labels = [label] * len(masks)
        objects = [
            DetectedObject(label=name, box=_box(mask), score=score, mask=ctx.put_png(mask))
            for mask, score, name in zip(masks, scores, labels, strict=True)
        ]
        return ObjectsPrior(objects=objects)


@register_extractor
class SamExtractor(_SamExtractor):
    name = "objects.sam"
    aliases = ("sam", "masks")
    default = True
    Params = SamParams
    description = "Every object SAM finds: a mask, box and CLIP label for each, largest first."

    def extract(self, image: Image.Image, params: SamParams, ctx: ExtractContext):
        from segment_anything import SamAutomaticMaskGenerator

        work = _work_copy(image, params.max_side)
        generator = SamAutomaticMaskGenerator(
            self.sam,
            points_per_side=params.points_per_side,
            pred_iou_thresh=params.pred_iou_thresh,
            stability_score_thresh=params.stability_score_thresh,
        )
        found = generator.generate(work)
        smallest = params.min_area * work.shape[0] * work.shape[1]
        found = sorted((m for m in found if m["area"] >= smallest), key=lambda m: -m["area"])
        found = found[: params.max_objects]
        return self._objects(
            image, [(m["segmentation"], float(m["predicted_iou"])) for m in found], params, ctx
        )


@register_extractor
class SamPromptedExtractor(_SamExtractor):
    name = "objects.sam_prompted"
    aliases = ("mask",)
    Params = SamPromptParams
    description = "The one object at given points or in a box, as a SAM mask; added to the others."

    def load(self) -> None:
        super().load()
        self._embedded: tuple[bytes, Any] | None = None  # (working copy's hash, predictor)

    def extract(self, image: Image.Image, params: SamPromptParams, ctx: ExtractContext):
        work = _work_copy(image, params.max_side)
        predictor = self._predictor(work)
        scale = np.array([work.shape[1], work.shape[0]], dtype=float)  # normalised -> pixels
        points = [*params.points, *params.negative_points]
        coords = np.array(points, dtype=float).reshape(-1, 2) * scale if points else None
        kinds = np.array([1] * len(params.points) + [0] * len(params.negative_points))
        box = np.array(params.box).reshape(2, 2) * scale if params.box else None
        masks, scores, _ = predictor.predict(
            point_coords=coords,
            point_labels=kinds if points else None,
            box=box.reshape(4) if box is not None else None,
            multimask_output=box is None and len(points) == 1,  # one point is ambiguous
        )
        best = int(np.argmax(scores))
        found = [(masks[best], float(scores[best]))]
        return self._objects(image, found, params, ctx, label=params.label)

    def _predictor(self, work: np.ndarray):
        """SAM's predictor with `work` embedded; the embedding (the slow part) is kept, so more
        prompts on the same picture cost only the small decoder."""
        from segment_anything import SamPredictor

        key = hashlib.sha256(work.tobytes()).digest() + repr(work.shape).encode()
        if self._embedded is None or self._embedded[0] != key:
            predictor = SamPredictor(self.sam)
            predictor.set_image(work)
            self._embedded = (key, predictor)
        return self._embedded[1]

    def merge(self, existing: ObjectsPrior | None, new: ObjectsPrior) -> ObjectsPrior:
        """Add the new mask to the objects already there (the same mask again replaces itself)."""
        if existing is None:
            return new
        masks = {o.mask.sha256 for o in new.objects if o.mask is not None}
        kept = [o for o in existing.objects if o.mask is None or o.mask.sha256 not in masks]
        return existing.model_copy(
            update={"objects": [*kept, *new.objects], "provenance": new.provenance}
        )


def _work_copy(image: Image.Image, max_side: int) -> np.ndarray:
    """At most `max_side` large and not too thin: SAM scales the longer side to its input size,
    which would round the shorter side of a strip to 0 pixels."""
    picture = fit_image(image.convert("RGB"), max_side=max_side, max_aspect=NETWORK_ASPECT)
    return np.asarray(picture)


def _to_size(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A boolean mask at `size` (width, height), edges interpolated rather than blocky."""
    if (mask.shape[1], mask.shape[0]) == size:
        return mask.astype(bool)
    scaled = cv2.resize(mask.astype(np.uint8) * 255, size, interpolation=cv2.INTER_LINEAR)
    return scaled >= 128


def _box(mask: np.ndarray) -> Box:
    """The normalised box enclosing every pixel of the mask."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return Box(x0=xs.min() / w, y0=ys.min() / h, x1=(xs.max() + 1) / w, y1=(ys.max() + 1) / h)


# --- tiny ---------------------------------------------------------------------------------------

TINY_SAM = {
    "variant": "custom",
    "img_size": 64,  # SAM's predictor resizes every picture to this: keeps CPU runs quick
    "patch_size": 8,
    "embed_dim": 32,
    "depth": 2,
    "num_heads": 2,
    "mlp_ratio": 2,
    "window_size": 4,
    "global_attn_indexes": [1],
    "prompt_embed_dim": 32,
    "mask_in_chans": 4,
    "decoder_mlp_dim": 64,
    "heads": 2,
    "iou_head_hidden_dim": 32,
    "checkpoint": "model.safetensors",
}


@tiny_model("tiny/sam")
def build_sam(folder: Path) -> None:
    """SAM with a 2-block ViT on 64 px inputs, from segment_anything's own blocks."""
    from safetensors.torch import save_model

    with seeded(11):
        model = _custom(TINY_SAM)
    (folder / CONFIG).write_text(json.dumps(TINY_SAM, indent=2), encoding="utf-8")
    save_model(model, str(folder / TINY_SAM["checkpoint"]))
