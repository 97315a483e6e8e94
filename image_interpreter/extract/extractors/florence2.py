"""Florence-2 through transformers' native classes: one sequence-to-sequence model that captions,
describes regions and finds named things, chosen by a task token ("<CAPTION>", "<OD>", ...).

The native `Florence2ForConditionalGeneration` (transformers 5) loads the converted checkpoints of
the florence-community organisation; Microsoft's own repositories need `trust_remote_code`, which
this project does not run. Boxes go in and out as <loc_i> tokens, 1000 bins per side. Caption and
grounding extractors share one loaded copy per model, device and dtype.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from image_interpreter.extract.extractors.regions import normalised
from image_interpreter.models import (
    load_pretrained,
    model_id,
    register_role,
    resolve,
    resolve_device,
    resolve_dtype,
    tiny_model,
)
from image_interpreter.models.tiny import seeded
from image_interpreter.priors.schema import Box
from image_interpreter.settings import Settings

ROLE = "extract.florence2"
register_role(
    ROLE,
    sd15="florence-community/Florence-2-base",
    sdxl="florence-community/Florence-2-large",
    tiny="tiny/florence2",
    description="Florence-2 (native transformers checkpoint): captions, region captions, grounding",
)

BINS = 1000  # <loc_0> .. <loc_999> per side
_LOC = re.compile(r"<loc_\d+>")
_FRAME = (10 * BINS, 10 * BINS)  # parse in this frame: bin centres come back as exact integers


class Florence2:
    """A loaded Florence-2: `run` one task on one picture, answers in the processor's shapes."""

    def __init__(self, settings: Settings):
        from transformers import AutoProcessor, Florence2ForConditionalGeneration

        self.device = resolve_device(settings)
        self.dtype = resolve_dtype(settings, self.device)
        self.processor = load_pretrained(AutoProcessor, ROLE, settings)
        model = load_pretrained(Florence2ForConditionalGeneration, ROLE, settings, dtype=self.dtype)
        self.model = model.to(self.device).eval()
        self.lock = threading.Lock()  # extractors sharing this copy take turns

    def run(
        self, image: Image.Image, task: str, text: str = "", *, max_new_tokens: int, num_beams: int
    ) -> Any:
        """The post-processed answer of `task` (+ `text`): a string, or boxes and labels."""
        raw = self.generate(image, task + text, max_new_tokens=max_new_tokens, num_beams=num_beams)
        return self.parse(raw, task)

    def generate(
        self, image: Image.Image, prompt: str, *, max_new_tokens: int, num_beams: int
    ) -> str:
        """The raw generated text, special tokens included (the parser needs them)."""
        import torch

        inputs = self.processor(text=prompt, images=image.convert("RGB"), return_tensors="pt")
        inputs = inputs.to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with self.lock, torch.inference_mode():
            ids = self.model.generate(
                **inputs, max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False
            )
        return self.processor.batch_decode(ids, skip_special_tokens=False)[0]

    def parse(self, raw: str, task: str) -> Any:
        return self.processor.post_process_generation(raw, task=task, image_size=_FRAME)[task]

    def text(self, image: Image.Image, task: str, text: str = "", **generation: int) -> str:
        """A task's answer as plain words (stray <loc_i> tokens removed)."""
        return " ".join(_LOC.sub(" ", str(self.run(image, task, text, **generation))).split())

    def boxes(
        self, image: Image.Image, task: str, text: str = "", **generation: int
    ) -> list[tuple[str, Box]]:
        """(label, box) pairs of a task that answers with boxes; boxes outside the picture go."""
        return labelled_boxes(self.run(image, task, text, **generation))


def labelled_boxes(answer: dict[str, list[Any]]) -> list[tuple[str, Box]]:
    """(label, normalised box) from a parsed box answer ('bboxes' with 'labels' or, for open
    vocabulary detection, 'bboxes_labels')."""
    labels = answer.get("labels", answer.get("bboxes_labels", []))
    found = []
    for label, pixels in zip(labels, answer.get("bboxes", []), strict=False):
        box = normalised(pixels, _FRAME)
        if box is not None:
            found.append((str(label).strip(), box))
    return found


def loc_tokens(box: Box) -> str:
    """A box as Florence-2 reads it in a prompt: four <loc_i> tokens, x0 y0 x1 y1."""
    return "".join(
        f"<loc_{min(BINS - 1, int(value * BINS))}>" for value in (box.x0, box.y0, box.x1, box.y1)
    )


_shared: dict[tuple[str, ...], Florence2] = {}
_shared_lock = threading.Lock()


def florence2(settings: Settings) -> Florence2:
    """The Florence-2 for `settings`, loaded once per model, device and dtype in this process."""
    target = resolve(ROLE, settings)
    device = resolve_device(settings)
    key = (model_id(ROLE, settings), str(target), str(device), str(resolve_dtype(settings, device)))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Florence2(settings)
        return _shared[key]


# --- the tiny model ------------------------------------------------------------------------------
# Florence-2's own layout at toy size: a one-stage DaViT (32 px in, 8x8 + 1 image tokens), a
# one-layer BART, and a byte-level BPE tokenizer with the real one's task and <loc_i> tokens.

_TASK_TOKENS = [
    "<od>", "</od>", "<ocr>", "</ocr>", "<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>",
    "</dcap>", "<grounding>", "</grounding>", "<seg>", "</seg>", "<sep>", "<region_cap>",
    "</region_cap>", "<region_to_desciption>", "</region_to_desciption>", "<proposal>",
    "</proposal>", "<poly>", "</poly>", "<and>",
]  # fmt: skip
_WORDS = ["Ġthe", "Ġa", "Ġof", "Ġimage", "Ġwoman", "Ġin", "Ġand", "Ġwith"]
_IMAGE_SIDE, _IMAGE_TOKENS = 32, 8 * 8 + 1


def byte_level_vocab(specials: list[str], words: list[str]) -> tuple[dict[str, int], list]:
    """A GPT-2-style byte-level BPE vocabulary: the specials first, the 256 byte symbols, then
    `words` (each built by merging its symbols left to right); returns (vocab, merges)."""
    from tokenizers.pre_tokenizers import ByteLevel

    tokens = [*specials, *sorted(ByteLevel.alphabet())]
    merges: list[tuple[str, str]] = []
    for word in words:
        built = word[0]
        for symbol in word[1:]:
            if built + symbol not in tokens:
                merges.append((built, symbol))
                tokens.append(built + symbol)
            built += symbol
    return {token: index for index, token in enumerate(tokens)}, merges


def tiny_florence2_processor() -> Any:
    from transformers import BartTokenizer, CLIPImageProcessor, Florence2Processor

    vocab, merges = byte_level_vocab(["<s>", "<pad>", "</s>", "<unk>"], _WORDS)
    vocab["<mask>"] = len(vocab)
    tokenizer = BartTokenizer(
        vocab=vocab, merges=merges, extra_special_tokens={"image_token": "<image>"}
    )
    tokenizer.add_tokens(_TASK_TOKENS + [f"<loc_{i}>" for i in range(BINS)])
    images = CLIPImageProcessor(
        size={"height": _IMAGE_SIDE, "width": _IMAGE_SIDE},
        do_center_crop=False,
        crop_size=None,
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        image_seq_length=_IMAGE_TOKENS,
    )
    parsers = ["ocr", "phrase_grounding", "pure_text", "description_with_bboxes", "bboxes"]
    parsers += ["description_with_polygons", "polygons", "description_with_bboxes_or_polygons"]
    return Florence2Processor(
        image_processor=images,
        tokenizer=tokenizer,
        post_processor_config={name: {} for name in parsers},
    )


@tiny_model("tiny/florence2")
def build_florence2(folder: Path) -> None:
    from transformers import Florence2Config, Florence2ForConditionalGeneration

    processor = tiny_florence2_processor()
    tokenizer = processor.tokenizer
    text = {
        "model_type": "bart",
        "vocab_size": len(tokenizer),
        "d_model": 16,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 32,
        "decoder_ffn_dim": 32,
        "max_position_embeddings": 256,  # image tokens + a byte-level prompt
        "bos_token_id": 0,
        "pad_token_id": 1,
        "eos_token_id": 2,
        "decoder_start_token_id": 2,
        "forced_bos_token_id": 0,
        "forced_eos_token_id": 2,
    }
    vision = {
        "depths": [1],
        "patch_size": [7],
        "patch_stride": [4],
        "patch_padding": [3],
        "patch_prenorm": [False],
        "embed_dim": [16],
        "num_heads": [1],
        "num_groups": [1],
        "window_size": 12,
        "projection_dim": 16,
        "drop_path_rate": 0.0,
    }
    config = Florence2Config(
        text_config=text, vision_config=vision, image_token_id=tokenizer.image_token_id
    )
    with seeded(10):
        model = Florence2ForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
