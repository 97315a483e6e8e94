"""Tiny SDXL stand-ins, built locally with random weights, for testing the SDXL code paths.

`tiny/sdxl-base` is a `StableDiffusionXLPipeline` of the real classes at miniature size: a UNet
with SDXL's "text_time" added conditioning (pooled text embedding + six size/crop numbers), a
2-block VAE, two CLIP text encoders (the second with a projection, whose output is the pooled
embedding) and their tokenizers, and SDXL's Euler scheduler. `tiny/sdxl-controlnet` is a
ControlNet of that UNet and `tiny/sdxl-controlnet-union` a ControlNetUnionModel of it (six
control types, as xinsir's union model), so regular and union ControlNets both run on a CPU.

None of them is in a profile: tests point roles at them with settings overrides, e.g.
`models={"sd.base": "tiny/sdxl-base", "controlnet.pose": "tiny/sdxl-controlnet"}`, or
`TINY_SDXL_MODELS`: the sdxl profile in miniature, each role a ControlNet of its own weights
(`tiny/sdxl-controlnet-<name>`) where the profile has a dedicated model, the union model where
it has the union one. Kept apart from
the generator on purpose: a tiny model's folder name carries a fingerprint of this module, so only
a change here rebuilds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from image_interpreter.models.registry import (
    CONTROLNET_MODELS,
    is_union_controlnet,
    register_union_controlnet,
)
from image_interpreter.models.tiny import (
    CLIP_MAX_TOKENS,
    TINY_UNET_CONFIG,
    role_seed,
    seeded,
    tiny_clip_tokenizer,
    tiny_model,
    tiny_unet,
    tiny_vae,
)

if TYPE_CHECKING:
    import torch
    from diffusers import UNet2DConditionModel

TINY_SDXL_BASE = "tiny/sdxl-base"
TINY_SDXL_CONTROLNET = "tiny/sdxl-controlnet"
TINY_SDXL_UNION = "tiny/sdxl-controlnet-union"

register_union_controlnet(TINY_SDXL_UNION)

_TEXT_DIM = 32  # hidden size of each text encoder; the UNet attends to both, concatenated
_POOLED_DIM = 32  # the second encoder's projection: SDXL's pooled text embedding
_TIME_DIM = 8  # per size/crop number (original size, crop corner, target size: 6 numbers)
_UNION_CONTROL_TYPES = 6  # xinsir/controlnet-union-sdxl-1.0's num_control_type


def _unet_config() -> dict[str, Any]:
    """What SDXL changes in the tiny SD UNet: wider cross-attention (two text encoders) and
    the text_time embedding of pooled text and size conditions."""
    return {
        **TINY_UNET_CONFIG,
        "use_linear_projection": True,
        "cross_attention_dim": 2 * _TEXT_DIM,
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": _TIME_DIM,
        "projection_class_embeddings_input_dim": _POOLED_DIM + 6 * _TIME_DIM,
    }


def _tiny_sdxl_unet() -> UNet2DConditionModel:
    return tiny_unet(seed=20, **_unet_config())


def _text_config(tokenizer: Any, **extra: Any) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=_TEXT_DIM,
        intermediate_size=37,
        num_hidden_layers=3,  # SDXL reads the penultimate layer's hidden states
        num_attention_heads=4,
        max_position_embeddings=CLIP_MAX_TOKENS,
        layer_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


@tiny_model(TINY_SDXL_BASE)
def build_sdxl_base(folder: Path) -> None:
    """UNet (text_time), VAE, CLIPTextModel + CLIPTextModelWithProjection, two tokenizers, Euler."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = tiny_clip_tokenizer()
    tokenizer_2 = tiny_clip_tokenizer()
    tokenizer_2.pad_token = "!"  # as SDXL's second tokenizer: it pads with "!", not end markers
    unet = _tiny_sdxl_unet()
    vae = tiny_vae(seed=21, scaling_factor=0.13025)  # SDXL's VAE scaling
    with seeded(22):
        text_encoder = CLIPTextModel(_text_config(tokenizer))
    with seeded(23):
        text_encoder_2 = CLIPTextModelWithProjection(
            _text_config(tokenizer_2, projection_dim=_POOLED_DIM)
        )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


def _wake(convs: list[torch.nn.Module], seed: int) -> None:
    """A trained ControlNet's output convolutions start at zero; left that way the control image
    would change nothing, so they get small random weights and conditioning visibly matters."""
    import torch

    with seeded(seed), torch.no_grad():
        for conv in convs:
            torch.nn.init.normal_(conv.weight, std=0.5)
            if conv.bias is not None:
                torch.nn.init.zeros_(conv.bias)


@tiny_model(TINY_SDXL_CONTROLNET)
def build_sdxl_controlnet(folder: Path, seed: int = 24) -> None:
    """A ControlNet of the tiny SDXL UNet (text_time conditioning included)."""
    from diffusers import ControlNetModel

    controlnet = ControlNetModel.from_unet(
        _tiny_sdxl_unet(), conditioning_embedding_out_channels=(16, 32)
    )
    _wake(
        [
            *controlnet.controlnet_down_blocks,
            controlnet.controlnet_mid_block,
            controlnet.controlnet_cond_embedding.conv_out,
        ],
        seed,
    )
    controlnet.save_pretrained(folder, safe_serialization=True)


@tiny_model(TINY_SDXL_UNION)
def build_sdxl_controlnet_union(folder: Path) -> None:
    """A ControlNetUnionModel of the tiny SDXL UNet: six control types, one set of weights.

    Built from the UNet's config rather than `from_unet`, which keeps the union transformer at
    its full-size width (320) while it must match the UNet's first block (32 here)."""
    from diffusers import ControlNetUnionModel

    config = _unet_config()
    for key in ("sample_size", "out_channels", "up_block_types"):
        del config[key]
    width = config["block_out_channels"][0]
    with seeded(25):
        controlnet = ControlNetUnionModel(
            **config,
            conditioning_embedding_out_channels=(16, 32),
            num_control_type=_UNION_CONTROL_TYPES,
            num_trans_channel=width,
            num_trans_head=2,
            num_proj_channel=width,
        )
    unet = _tiny_sdxl_unet()
    controlnet.conv_in.load_state_dict(unet.conv_in.state_dict())
    controlnet.time_embedding.load_state_dict(unet.time_embedding.state_dict())
    controlnet.add_embedding.load_state_dict(unet.add_embedding.state_dict())
    controlnet.down_blocks.load_state_dict(unet.down_blocks.state_dict(), strict=False)
    controlnet.mid_block.load_state_dict(unet.mid_block.state_dict(), strict=False)
    _wake(
        [
            *controlnet.controlnet_down_blocks,
            controlnet.controlnet_mid_block,
            controlnet.controlnet_cond_embedding.conv_out,
            controlnet.spatial_ch_projs,
        ],
        26,
    )
    controlnet.save_pretrained(folder, safe_serialization=True)


def _register_role_controlnets() -> dict[str, str]:
    """tiny/sdxl-controlnet-<name> per ControlNet role (own seed), and the sdxl profile's
    roles mapped to them or to the union model."""
    models = {"sd.base": TINY_SDXL_BASE}
    for role, _sd15, sdxl, _what in CONTROLNET_MODELS:
        name = f"tiny/sdxl-controlnet-{role.removeprefix('controlnet.')}"

        def build(folder: Path, seed: int = role_seed(role) + 1) -> None:
            build_sdxl_controlnet(folder, seed)

        tiny_model(name)(build)
        models[role] = TINY_SDXL_UNION if is_union_controlnet(sdxl) else name
    return models


TINY_SDXL_MODELS: dict[str, str] = _register_role_controlnets()
