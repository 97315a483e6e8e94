"""Objects by name: boxes for what the user names ("the dog", "a red umbrella"), from
open-vocabulary detectors, so an edit can say "replace the dog" without a fixed list of classes.

OWLv2 scores every query against every image patch and is the one to use. Florence-2 grounding
finds named phrases too, but gives no confidence (its score is 1.0). YOLOv5 knows the 80 COCO
classes only and comes through torch.hub, so it runs only where settings trust its repository.
None of them is the default for kind "objects": that is segmentation (SAM), which gives masks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from PIL import Image
from pydantic import Field, StringConstraints

from image_interpreter.errors import ModelUnavailable
from image_interpreter.extract.base import ExtractContext, Extractor, Params, register_extractor
from image_interpreter.extract.extractors import florence2
from image_interpreter.extract.extractors.regions import normalised
from image_interpreter.extract.extractors.torchhub import hub_load, require_trusted
from image_interpreter.images.fit import network_picture
from image_interpreter.models import (
    load_pretrained,
    register_role,
    resolve_device,
    resolve_dtype,
    tiny_model,
)
from image_interpreter.models.tiny import seeded
from image_interpreter.priors.schema import DetectedObject, ObjectsPrior, Unit

OWLV2_ROLE = "extract.objects.owlv2"
register_role(
    OWLV2_ROLE,
    sd15="google/owlv2-base-patch16-ensemble",
    sdxl="google/owlv2-base-patch16-ensemble",
    tiny="tiny/owlv2",
    description="OWLv2 open-vocabulary object detector (transformers + processor)",
)

Query = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Queries = Annotated[
    list[Query],
    Field(min_length=1, max_length=16, description="What to find, one name or phrase each."),
]


def _ranked(objects: list[DetectedObject], limit: int) -> ObjectsPrior:
    objects.sort(key=lambda o: (-o.score, o.box.y0, o.box.x0))
    return ObjectsPrior(objects=objects[:limit])


# --- OWLv2 ---------------------------------------------------------------------------------------


class OwlParams(Params):
    queries: Queries
    threshold: Unit = Field(0.1, description="Keep boxes scoring at least this.")
    overlap: Unit = Field(
        0.3, description="Boxes of one query overlapping more than this (IoU) are one object."
    )
    max_objects: int = Field(20, ge=1, le=100, description="Keep this many, best first.")


@register_extractor
class Owlv2Objects(Extractor):
    name = "objects.owlv2"
    kind = "objects"
    aliases = ("detect", "find", "owlv2")
    roles = (OWLV2_ROLE,)
    Params = OwlParams
    description = "OWLv2: boxes for things named in words, with a score each."

    def load(self) -> None:
        from transformers import AutoProcessor, Owlv2ForObjectDetection

        self.device = resolve_device(self.settings)
        self.dtype = resolve_dtype(self.settings, self.device)
        self.processor = load_pretrained(AutoProcessor, OWLV2_ROLE, self.settings)
        model = load_pretrained(
            Owlv2ForObjectDetection, OWLV2_ROLE, self.settings, dtype=self.dtype
        )
        self.model = model.to(self.device).eval()

    def extract(self, image: Image.Image, params: OwlParams, ctx: ExtractContext):
        import torch
        from torchvision.ops import batched_nms

        picture = image.convert("RGB")
        # OWLv2 pads to a square of the longer side before resizing: bound that side first.
        inputs = self.processor(
            text=[list(params.queries)],
            images=network_picture(picture),
            return_tensors="pt",
            truncation=True,
        ).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            outputs = self.model(**inputs)
        # OWLv2 pads to a square: boxes come in pixels of the longer side, from the top left.
        found = self.processor.post_process_grounded_object_detection(
            outputs, threshold=params.threshold, target_sizes=[(picture.height, picture.width)]
        )[0]
        boxes, scores, labels = (found[k].float().cpu() for k in ("boxes", "scores", "labels"))
        keep = batched_nms(boxes, scores, labels, params.overlap)
        objects = []
        for index in keep.tolist():
            box = normalised(boxes[index].tolist(), picture.size)
            if box is not None:
                label = params.queries[int(labels[index])]
                score = min(1.0, max(0.0, float(scores[index])))
                objects.append(DetectedObject(label=label, box=box, score=score))
        return _ranked(objects, params.max_objects)


@tiny_model("tiny/owlv2")
def build_owlv2(folder: Path) -> None:
    """OWLv2's layout at toy size: a 64-px ViT (4x4 patches), a two-layer text tower with OWL's
    16-token context, and a CLIP byte-level tokenizer padding with '!' as OWLv2's does."""
    from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2Processor
    from transformers import Owlv2ImageProcessor as Images

    vocab, merges = florence2.byte_level_vocab([], [])
    for symbol in list(vocab):
        vocab[f"{symbol}</w>"] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=16, pad_token="!")
    processor = Owlv2Processor(Images(size={"height": 64, "width": 64}), tokenizer)
    config = Owlv2Config(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 16,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["!"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 64,
            "patch_size": 16,
        },
        projection_dim=32,
    )
    with seeded(13):
        model = Owlv2ForObjectDetection(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


# --- Florence-2 grounding ------------------------------------------------------------------------


class FlorenceObjectParams(Params):
    queries: Queries
    max_objects: int = Field(20, ge=1, le=100, description="Keep this many.")
    max_new_tokens: int = Field(256, ge=1, le=1024, description="Longest answer, in tokens.")
    num_beams: int = Field(3, ge=1, le=8, description="Beam search width (1 = greedy, fastest).")


@register_extractor
class Florence2Objects(Extractor):
    name = "objects.florence2"
    kind = "objects"
    aliases = ("ground",)
    roles = (florence2.ROLE,)
    Params = FlorenceObjectParams
    description = "Florence-2 grounding: boxes for things named in words (no scores)."

    def load(self) -> None:
        self.florence = florence2.florence2(self.settings)

    def extract(self, image: Image.Image, params: FlorenceObjectParams, ctx: ExtractContext):
        objects = []
        for index, query in enumerate(params.queries):
            ctx.progress(f"finding {query}", 0.1 + 0.9 * index / len(params.queries))
            found = self.florence.boxes(
                image,
                "<OPEN_VOCABULARY_DETECTION>",
                query,
                max_new_tokens=params.max_new_tokens,
                num_beams=params.num_beams,
            )
            objects += [DetectedObject(label=query, box=box) for _, box in found]
        return _ranked(objects, params.max_objects)


# --- YOLOv5 through torch.hub --------------------------------------------------------------------

YOLOV5_SETTING = "objects.yolov5"  # key in settings.models: another repository or fork
YOLOV5_REPO = "ultralytics/yolov5"
YOLOV5_LICENCE = "YOLOv5 is AGPL-3.0: a service built on it must publish its source"


class YoloParams(Params):
    threshold: Unit = Field(0.25, description="Keep boxes scoring at least this.")
    labels: list[Query] = Field(
        default_factory=list, description="Keep only these COCO classes ('person', 'dog')."
    )
    max_objects: int = Field(50, ge=1, le=300, description="Keep this many, best first.")
    size: int = Field(640, ge=64, le=1920, multiple_of=32, description="Inference size, pixels.")


@register_extractor
class Yolov5Objects(Extractor):
    """YOLOv5s (COCO's 80 classes) from torch.hub: remote code, so opt-in (trusted_hub_repos).
    Licence: AGPL-3.0 (Ultralytics). It has no tiny model; the tiny profile refuses it."""

    name = "objects.yolov5"
    kind = "objects"
    aliases = ("yolo", "yolov5")
    Params = YoloParams
    entry = "yolov5s"
    description = "YOLOv5 (torch.hub, opt-in, AGPL-3.0): COCO objects with scores."

    @property
    def repo(self) -> str:
        return self.settings.models.get(YOLOV5_SETTING) or YOLOV5_REPO

    def model_ids(self) -> dict[str, str]:
        return {YOLOV5_SETTING: f"{self.repo}:{self.entry}"}

    def load(self) -> None:
        what = f"The {self.name} extractor"
        require_trusted(self.repo, self.settings, what=what, licence=YOLOV5_LICENCE)
        if self.settings.profile == "tiny":
            raise ModelUnavailable(
                "YOLOv5 has no tiny model: it needs its torch.hub code and weights. Use"
                " objects.owlv2 in the tiny profile, or switch IMAGE_INTERPRETER_PROFILE."
            )
        model = hub_load(self.repo, self.entry, self.settings, what=what, licence=YOLOV5_LICENCE)
        self.model = model.to(resolve_device(self.settings)).eval()

    def extract(self, image: Image.Image, params: YoloParams, ctx: ExtractContext):
        self.model.conf = params.threshold  # YOLOv5 drops boxes below its own cut first
        results = self.model(image.convert("RGB"), size=params.size)
        return _ranked(yolo_objects(results, params), params.max_objects)


def yolo_objects(results: Any, params: YoloParams) -> list[DetectedObject]:
    """Objects from YOLOv5's `Detections`: `.xyxyn[0]` rows (x0, y0, x1, y1, score, class),
    already normalised, and `.names` (class index -> name, a dict or a list)."""
    wanted = {label.lower() for label in params.labels}
    objects = []
    for *corners, score, index in results.xyxyn[0].tolist():
        label = str(results.names[int(index)])
        if score < params.threshold or (wanted and label.lower() not in wanted):
            continue
        box = normalised(corners, (1, 1))
        if box is not None:
            objects.append(DetectedObject(label=label, box=box, score=min(1.0, float(score))))
    return objects
