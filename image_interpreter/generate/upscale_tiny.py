"""Tiny stand-ins for the upscalers, built locally with random weights (the `tiny` profile).

Kept apart from `upscale.py` on purpose: a tiny model's folder name carries a fingerprint of the
module that builds it, so only a change here (not every change to the upscaling code) rebuilds them.
"""

from __future__ import annotations

from pathlib import Path

from image_interpreter.models.tiny import (
    seeded,
    tiny_clip_text_encoder,
    tiny_clip_tokenizer,
    tiny_model,
    tiny_unet,
    tiny_vae,
)

TINY_SD_X4 = "tiny/sd-x4-upscaler"
TINY_ESRGAN = "tiny/esrgan-x4"
ESRGAN_FILE = "model.pth"


@tiny_model(TINY_SD_X4)
def build_sd_x4(folder: Path) -> None:
    """A StableDiffusionUpscalePipeline of the real classes: a UNet taking 4 latent + 3 image
    channels and a noise-level class label, a 3-block VAE (so its decoder upsamples by 4, like the
    real one), a CLIP text encoder and the tiny CLIP tokenizer, DDPM for the low-res noise and
    DDIM for sampling."""
    from diffusers import (
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
    )

    tokenizer = tiny_clip_tokenizer()
    # 7 inputs: the noisy latents and the low-resolution image; classes: noise levels 0..350
    unet = tiny_unet(seed=10, in_channels=7, layers_per_block=1, num_class_embeds=351)
    vae = tiny_vae(  # three blocks: the upscaler's VAE downsamples by 4
        seed=11,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 16, 32),
        norm_num_groups=16,
        sample_size=128,
        scaling_factor=0.08333,  # the real upscaler's; anything else draws a warning
    )
    text_encoder = tiny_clip_text_encoder(tokenizer, seed=12)
    low_res_scheduler = DDPMScheduler(beta_schedule="scaled_linear", num_train_timesteps=1000)
    scheduler = DDIMScheduler(
        beta_start=0.0001,
        beta_end=0.02,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="v_prediction",
    )
    pipe = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=low_res_scheduler,
        scheduler=scheduler,
        max_noise_level=350,
    )
    pipe.save_pretrained(folder, safe_serialization=True)


@tiny_model(TINY_ESRGAN)
def build_esrgan(folder: Path) -> None:
    """An ESRGAN (RRDBNet, old-arch keys) with 8 filters and one RRDB block, x4, saved as the
    plain .pth state dict spandrel recognises. The last convolution is centred on mid-grey so
    the random output is spread over [0, 1] rather than clipped at black."""
    import torch
    from spandrel.architectures.ESRGAN import ESRGAN

    with seeded(13):
        model = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=4)
    with torch.no_grad():
        model.model[-1].bias.fill_(0.5)
    torch.save(model.state_dict(), folder / ESRGAN_FILE)
