"""BLIP through transformers: captions (`BlipForConditionalGeneration`) and short answers to open
questions about a picture (`BlipForQuestionAnswering`), two checkpoints of one architecture.

BLIP sees a 384-px square, so a question about one object is asked of a crop around it (see
`regions.crop`): small things stay visible and "she" means the person in the box.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from PIL import Image

from image_interpreter.models import (
    load_pretrained,
    register_role,
    resolve_device,
    resolve_dtype,
    tiny_model,
)
from image_interpreter.models.tiny import seeded
from image_interpreter.settings import Settings

CAPTION_ROLE = "extract.caption.blip"
VQA_ROLE = "extract.vqa.blip"
register_role(
    CAPTION_ROLE,
    sd15="Salesforce/blip-image-captioning-base",
    sdxl="Salesforce/blip-image-captioning-large",
    tiny="tiny/blip-captioning",
    description="BLIP image captioning (transformers BlipForConditionalGeneration + processor)",
)
register_role(
    VQA_ROLE,
    sd15="Salesforce/blip-vqa-base",
    sdxl="Salesforce/blip-vqa-capfilt-large",
    tiny="tiny/blip-vqa",
    description="BLIP visual question answering (transformers BlipForQuestionAnswering)",
)


class Blip:
    """A loaded BLIP checkpoint: text from a picture and an optional prompt or question."""

    def __init__(self, settings: Settings, role: str):
        from transformers import (
            AutoProcessor,
            BlipForConditionalGeneration,
            BlipForQuestionAnswering,
        )

        loader = BlipForQuestionAnswering if role == VQA_ROLE else BlipForConditionalGeneration
        self.device = resolve_device(settings)
        self.dtype = resolve_dtype(settings, self.device)
        self.processor = load_pretrained(AutoProcessor, role, settings)
        model = load_pretrained(loader, role, settings, dtype=self.dtype)
        self.model = model.to(self.device).eval()

    def generate(
        self, image: Image.Image, text: str = "", *, max_new_tokens: int, num_beams: int = 1
    ) -> str:
        """A caption (continuing `text`, if any), or the VQA checkpoint's answer to `text`."""
        import torch

        inputs = self.processor(
            images=image.convert("RGB"), text=text or None, return_tensors="pt"
        ).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            ids = self.model.generate(
                **inputs, max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False
            )
        return self.processor.decode(ids[0], skip_special_tokens=True).strip()


# --- the tiny models -----------------------------------------------------------------------------
# BLIP's layout at toy size (a 32-px ViT, two-layer BERT encoder/decoder) with a BERT WordPiece
# tokenizer over a small vocabulary: single characters, their ## continuations, a few words, and
# BLIP's [DEC]/[ENC] markers. Both checkpoints share config and tokenizer, like the real ones.

_WORDS = ["a", "the", "of", "picture", "photo", "woman", "holding", "what", "is", "she", "in"]


def tiny_blip_processor() -> Any:
    from transformers import BertTokenizer, BlipImageProcessor, BlipProcessor

    characters = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters]
    tokens += [f"##{c}" for c in string.ascii_lowercase + string.digits]
    tokens += [*_WORDS, "[DEC]", "[ENC]"]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    tokenizer = BertTokenizer(
        vocab=vocab, model_max_length=64, extra_special_tokens=["[DEC]", "[ENC]"]
    )
    images = BlipImageProcessor(size={"height": 32, "width": 32})
    return BlipProcessor(image_processor=images, tokenizer=tokenizer)


def _tiny_blip(folder: Path, loader_name: str, seed: int) -> None:
    import transformers

    processor = tiny_blip_processor()
    vocab = processor.tokenizer.get_vocab()
    config = transformers.BlipConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "encoder_hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 64,
            "bos_token_id": vocab["[DEC]"],
            "sep_token_id": vocab["[SEP]"],
            "eos_token_id": vocab["[SEP]"],
            "pad_token_id": vocab["[PAD]"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=32,
        image_text_hidden_size=32,
    )
    with seeded(seed):
        model = getattr(transformers, loader_name)(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


@tiny_model("tiny/blip-captioning")
def build_blip_captioning(folder: Path) -> None:
    _tiny_blip(folder, "BlipForConditionalGeneration", seed=11)


@tiny_model("tiny/blip-vqa")
def build_blip_vqa(folder: Path) -> None:
    _tiny_blip(folder, "BlipForQuestionAnswering", seed=12)
