"""Super-resolution: the Stable Diffusion x4 upscaler (diffusers) and Real-ESRGAN-class models
(spandrel), tiled so large images fit in memory.

    upscaler = Upscaler(settings)
    big = upscaler.upscale(image, model="esrgan")                   # 4x, tiles of 256 px
    big = upscaler.upscale(image, model="sd_x4", prompt="a dog")    # 4x, diffusion

Both backends work on overlapping tiles blended with ramps (see `tiles`). ESRGAN is a plain
convolutional network, so each tile is one call. The x4 upscaler is a diffusion model: tiling its
pipeline call by call would draw a different picture in every tile and leave seams, so each
denoising step runs the UNet on every tile of one shared latent and blends the noise predictions
(MultiDiffusion), and the VAE then decodes the final latent tile by tile. The noise is drawn once
for the whole image in the pipeline's own order, so a single tile gives exactly what
`StableDiffusionUpscalePipeline.__call__` gives.

Models are named by role ("upscale.sd_x4", "upscale.esrgan") and loaded once per `Upscaler`.
An ESRGAN role may name a local .pth/.safetensors file or folder, or a hub repository plus
`esrgan_file` (any architecture spandrel recognises as an image-to-image model works).
"""

from __future__ import annotations

import math
import pickle
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from image_interpreter.errors import ModelUnavailable
from image_interpreter.generate.errors import GenerationError
from image_interpreter.generate.preview import latent_preview
from image_interpreter.generate.tiles import Tile, check_tiling, plan_tiles, run_tiled
from image_interpreter.generate.upscale_tiny import ESRGAN_FILE, TINY_ESRGAN, TINY_SD_X4
from image_interpreter.models import (
    load_pretrained,
    load_with,
    register_role,
    resolve_device,
    resolve_dtype,
)
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionUpscalePipeline
    from spandrel import ImageModelDescriptor

UpscaleModel = Literal["sd_x4", "esrgan"]
UPSCALE_MODELS: tuple[UpscaleModel, ...] = ("sd_x4", "esrgan")
Progress = Callable[[int, int, "Image.Image | None"], Any]
"""progress(step, total, preview), as the generator's: ESRGAN counts tiles (no preview), the x4
upscaler denoising steps and the decode (a latent preview). Raising (GenerationCancelled, or a
queue's cancellable()) stops the work."""

SD_X4_ROLE = "upscale.sd_x4"
ESRGAN_ROLE = "upscale.esrgan"
ESRGAN_HUB_FILE = "RealESRGAN_x4.pth"
MAX_OUTPUT_PIXELS = 2**28  # beyond PIL's own decompression-bomb bound: nobody can open it

DEFAULT_TILE: dict[UpscaleModel, int] = {"esrgan": 256, "sd_x4": 128}  # input pixels
DEFAULT_OVERLAP: dict[UpscaleModel, int] = {"esrgan": 32, "sd_x4": 32}

register_role(
    SD_X4_ROLE,
    sd15="stabilityai/stable-diffusion-x4-upscaler",
    sdxl="stabilityai/stable-diffusion-x4-upscaler",
    tiny=TINY_SD_X4,
    description="Stable Diffusion x4 upscaler pipeline (text-guided diffusion super-resolution)",
)
register_role(
    ESRGAN_ROLE,
    sd15="ai-forever/Real-ESRGAN",
    sdxl="ai-forever/Real-ESRGAN",
    tiny=TINY_ESRGAN,
    description="Real-ESRGAN-class super-resolution model loaded by spandrel (a .pth or"
    " .safetensors file, a folder holding one, or a hub repository)",
)


class UpscaleError(GenerationError):
    """An image cannot be upscaled as asked (bad tile settings, too large, wrong model kind)."""


# --- the front door ----------------------------------------------------------------------------


class Upscaler:
    """Loads each upscaler once (to the configured device and dtype) and upscales images."""

    def __init__(
        self,
        settings: Settings,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        esrgan_file: str = ESRGAN_HUB_FILE,
    ) -> None:
        import torch

        self.settings = settings
        self.device = torch.device(device) if device is not None else resolve_device(settings)
        self.dtype = dtype if dtype is not None else resolve_dtype(settings, self.device)
        self.esrgan_file = esrgan_file
        self._lock = threading.Lock()
        self._sd_x4: StableDiffusionUpscalePipeline | None = None
        self._esrgan: ImageModelDescriptor | None = None

    def sd_x4(self) -> StableDiffusionUpscalePipeline:
        """The x4 upscaler pipeline, loaded on first use."""
        with self._lock:
            if self._sd_x4 is None:
                self._sd_x4 = load_sd_x4(self.settings, self.device, self.dtype)
            return self._sd_x4

    def esrgan(self) -> ImageModelDescriptor:
        """The ESRGAN-class model, loaded on first use."""
        with self._lock:
            if self._esrgan is None:
                self._esrgan = load_esrgan(
                    self.settings, self.device, self.dtype, filename=self.esrgan_file
                )
            return self._esrgan

    def upscale(
        self,
        image: Image.Image,
        *,
        model: UpscaleModel = "esrgan",
        tile: int | None = -1,
        overlap: int | None = None,
        batch: int = 1,
        prompt: str = "",
        negative_prompt: str | None = None,
        steps: int = 25,
        guidance: float = 9.0,
        noise_level: int = 20,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> Image.Image:
        """`image` made 4x larger (the model's scale) by `model`.

        `tile` (input pixels; -1: the model's default, None or 0: no tiling) and `overlap`
        (default 32, at most a quarter of the tile) bound memory; `batch` tiles run per call.
        `prompt`, `negative_prompt`, `steps`, `guidance`, `noise_level` and `seed` are the x4
        upscaler's (ignored by ESRGAN). One call at a time per Upscaler (the x4 upscaler's
        scheduler keeps per-call state): run them through a `GPUQueue`."""
        if model not in UPSCALE_MODELS:
            raise UpscaleError(
                f"Unknown upscaler '{model}'. Choose one of: {', '.join(UPSCALE_MODELS)}."
            )
        tile = DEFAULT_TILE[model] if tile == -1 else (tile or None)
        if overlap is None:  # the default, or a quarter of a smaller tile
            overlap = min(DEFAULT_OVERLAP[model], tile // 4) if tile else DEFAULT_OVERLAP[model]
        if model == "esrgan":
            return upscale_esrgan(
                self.esrgan(), image, tile=tile, overlap=overlap, batch=batch, progress=progress
            )
        return upscale_sd_x4(
            self.sd_x4(),
            image,
            prompt=prompt,
            negative_prompt=negative_prompt,
            steps=steps,
            guidance=guidance,
            noise_level=noise_level,
            seed=seed,
            tile=tile,
            overlap=overlap,
            batch=batch,
            progress=progress,
        )


# --- loading -----------------------------------------------------------------------------------


def load_sd_x4(
    settings: Settings, device: torch.device, dtype: torch.dtype
) -> StableDiffusionUpscalePipeline:
    from diffusers import StableDiffusionUpscalePipeline

    pipe = load_pretrained(StableDiffusionUpscalePipeline, SD_X4_ROLE, settings, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def load_esrgan(
    settings: Settings,
    device: torch.device,
    dtype: torch.dtype,
    *,
    filename: str = ESRGAN_HUB_FILE,
) -> ImageModelDescriptor:
    """The spandrel model for the "upscale.esrgan" role: a local file, a folder with one model
    file, or `filename` in a hub repository (from the cache; downloaded unless offline)."""
    import torch
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    def load(target: str | Path) -> ImageModelDescriptor:
        path = _model_file(target) if isinstance(target, Path) else _hub_file(target)
        try:
            descriptor = ModelLoader().load_from_file(path)
        except UnsupportedModelError as exc:
            raise UpscaleError(
                f"{path} is not a model spandrel knows ({exc}). Use an ESRGAN/Real-ESRGAN-class"
                " super-resolution .pth or .safetensors file."
            ) from exc
        except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as exc:
            raise UpscaleError(
                f"{path} could not be read as model weights ({type(exc).__name__}: {exc})."
                " It may be damaged, or not a .pth/.safetensors file."
            ) from exc
        if not isinstance(descriptor, ImageModelDescriptor) or descriptor.scale < 2:
            raise UpscaleError(
                f"{path} holds a {descriptor.architecture.name} model for"
                f" '{descriptor.purpose}', not super-resolution."
            )
        return descriptor

    def _hub_file(repo: str) -> Path:
        from huggingface_hub import hf_hub_download

        from image_interpreter.models.hub import offline_mode

        return Path(
            hf_hub_download(
                repo,
                filename,
                cache_dir=settings.hf_cache_dir,
                local_files_only=offline_mode(settings),
            )
        )

    descriptor = load_with(load, ESRGAN_ROLE, settings)
    if dtype == torch.float16 and not descriptor.supports_half:
        dtype = torch.float32
    if dtype == torch.bfloat16 and not descriptor.supports_bfloat16:
        dtype = torch.float32
    if device.type == "cpu":
        dtype = torch.float32  # half-precision convolutions are slow or missing on CPUs
    return descriptor.to(device, dtype).eval()


def _model_file(target: Path) -> Path:
    if target.is_file():
        return target
    preferred = target / ESRGAN_FILE
    if preferred.is_file():
        return preferred
    found = sorted(
        p for p in target.iterdir() if p.suffix.lower() in {".pth", ".safetensors", ".pt", ".ckpt"}
    )
    if len(found) != 1:
        raise ModelUnavailable(
            f"Folder {target} (role '{ESRGAN_ROLE}') should hold one model file (.pth or"
            f" .safetensors); it holds {len(found)}. Name the file itself in"
            " IMAGE_INTERPRETER_MODELS."
        )
    return found[0]


# --- ESRGAN ------------------------------------------------------------------------------------


def upscale_esrgan(
    descriptor: ImageModelDescriptor,
    image: Image.Image,
    *,
    tile: int | None = DEFAULT_TILE["esrgan"],
    overlap: int = DEFAULT_OVERLAP["esrgan"],
    batch: int = 1,
    progress: Progress | None = None,
) -> Image.Image:
    """`image` upscaled by a spandrel model (by its scale), in tiles of `tile` input pixels."""
    import torch

    scale = descriptor.scale
    rgb, alpha = _split_alpha(image)
    _check_output(rgb, scale, tile, overlap)
    pixels = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    pixels = pixels.to(descriptor.device, descriptor.dtype)
    height, width = pixels.shape[2:]

    def run(tiles: Sequence[Tile]) -> torch.Tensor:
        crops = torch.cat([pixels[:, :, t.y0 : t.y1, t.x0 : t.x1] for t in tiles])
        return descriptor(crops)

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total, None)

    with torch.inference_mode():
        out = run_tiled(
            run,
            plan_tiles(height, width, tile, overlap),
            height,
            width,
            scale=scale,
            overlap=overlap,
            batch=batch,
            progress=report,
        )
    return _join_alpha(_to_image(out.clamp(0, 1)), alpha)


# --- Stable Diffusion x4 -----------------------------------------------------------------------


def upscale_sd_x4(
    pipe: StableDiffusionUpscalePipeline,
    image: Image.Image,
    *,
    prompt: str = "",
    negative_prompt: str | None = None,
    steps: int = 25,
    guidance: float = 9.0,
    noise_level: int = 20,
    seed: int = 0,
    eta: float = 0.0,
    tile: int | None = DEFAULT_TILE["sd_x4"],
    overlap: int = DEFAULT_OVERLAP["sd_x4"],
    batch: int = 1,
    progress: Progress | None = None,
) -> Image.Image:
    """`image` upscaled by the x4 upscaler pipeline's components: one latent for the whole
    image, denoised with the UNet run on `tile`-pixel tiles (noise predictions blended), then
    decoded by the VAE tile by tile. With one tile this is exactly the pipeline's own call."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    if not 0 <= noise_level <= pipe.config.max_noise_level:
        raise UpscaleError(
            f"noise_level must be between 0 and {pipe.config.max_noise_level}, not {noise_level}."
        )
    if steps < 1:
        raise UpscaleError(f"steps must be at least 1, not {steps}.")
    scale = pipe.vae_scale_factor
    rgb, alpha = _split_alpha(image)
    _check_output(rgb, scale, tile, overlap)
    # The UNet halves the latent once per block after the first; the image processor wants whole
    # VAE factors. Pad (edges repeated) to both, and crop the result back.
    multiple = math.lcm(2 ** (len(pipe.unet.config.block_out_channels) - 1), scale)
    padded, (height, width) = _pad_to(rgb, multiple)
    if tile is not None:
        tile = max(multiple * 2, tile // multiple * multiple)
        overlap = min(-(-overlap // multiple) * multiple, tile // 2 // multiple * multiple)

    device = pipe._execution_device
    generator = torch.Generator("cpu").manual_seed(seed)
    cfg = guidance > 1.0
    with torch.inference_mode():
        positive, negative = pipe.encode_prompt(prompt, device, 1, cfg, negative_prompt)
        dtype = positive.dtype
        low_res = pipe.image_processor.preprocess(padded).to(device=device, dtype=dtype)
        pipe.scheduler.set_timesteps(steps, device=device)
        timesteps = pipe.scheduler.timesteps
        level = torch.tensor([noise_level], dtype=torch.long, device=device)
        noise = randn_tensor(low_res.shape, generator=generator, device=device, dtype=dtype)
        low_res = pipe.low_res_scheduler.add_noise(low_res, noise, level)
        lh, lw = low_res.shape[2:]
        channels = pipe.vae.config.latent_channels
        if channels + low_res.shape[1] != pipe.unet.config.in_channels:
            raise UpscaleError(
                f"The upscaler's UNet takes {pipe.unet.config.in_channels} channels, not"
                f" {channels} latent + {low_res.shape[1]} image channels: not an x4 upscaler."
            )
        latents = pipe.prepare_latents(1, channels, lh, lw, dtype, device, generator)
        step_kwargs = pipe.prepare_extra_step_kwargs(generator, eta)
        tiles = plan_tiles(lh, lw, tile, overlap, multiple)
        total_work = len(timesteps) + 1  # the decode counts as one step

        def denoise(t: torch.Tensor) -> Callable[[Sequence[Tile]], torch.Tensor]:
            def run(group: Sequence[Tile]) -> torch.Tensor:
                n = len(group)
                lat = torch.cat([latents[:, :, g.y0 : g.y1, g.x0 : g.x1] for g in group])
                img = torch.cat([low_res[:, :, g.y0 : g.y1, g.x0 : g.x1] for g in group])
                model_in = torch.cat([lat, lat]) if cfg else lat
                model_in = pipe.scheduler.scale_model_input(model_in, t)
                model_in = torch.cat([model_in, torch.cat([img, img]) if cfg else img], dim=1)
                embeds = (
                    torch.cat([negative.expand(n, -1, -1), positive.expand(n, -1, -1)])
                    if cfg
                    else positive.expand(n, -1, -1)
                )
                pred = pipe.unet(
                    model_in,
                    t,
                    encoder_hidden_states=embeds,
                    class_labels=level.expand(model_in.shape[0]),
                    return_dict=False,
                )[0]
                if cfg:
                    uncond, text = pred.chunk(2)
                    pred = uncond + guidance * (text - uncond)
                return pred

            return run

        for i, t in enumerate(timesteps):
            pred = run_tiled(
                denoise(t), tiles, lh, lw, scale=1, overlap=overlap or 0, batch=batch
            ).to(dtype)
            latents = pipe.scheduler.step(pred, t, latents, **step_kwargs, return_dict=False)[0]
            if progress is not None:
                progress(i + 1, total_work, latent_preview(latents))

        pixels = _decode_tiled(pipe, latents, tiles, overlap or 0, batch)
        out = pipe.image_processor.postprocess(pixels, output_type="pt")
    if progress is not None:
        progress(total_work, total_work, None)
    result = _to_image(out[:, :, : height * scale, : width * scale])
    return _join_alpha(result, alpha)


def _decode_tiled(
    pipe: StableDiffusionUpscalePipeline,
    latents: torch.Tensor,
    tiles: Sequence[Tile],
    overlap: int,
    batch: int,
) -> torch.Tensor:
    """The VAE decode, tile by tile, in float32 where the VAE would overflow in float16."""
    import torch

    vae = pipe.vae
    upcast = vae.dtype == torch.float16 and vae.config.force_upcast
    if upcast:
        vae.to(dtype=torch.float32)
    try:
        vae_dtype = next(iter(vae.post_quant_conv.parameters())).dtype
        scaled = latents.to(vae_dtype) / vae.config.scaling_factor

        def run(group: Sequence[Tile]) -> torch.Tensor:
            crops = torch.cat([scaled[:, :, g.y0 : g.y1, g.x0 : g.x1] for g in group])
            return vae.decode(crops, return_dict=False)[0]

        lh, lw = latents.shape[2:]
        return run_tiled(
            run, tiles, lh, lw, scale=pipe.vae_scale_factor, overlap=overlap, batch=batch
        )
    finally:
        if upcast:
            vae.to(dtype=torch.float16)


# --- pixels ------------------------------------------------------------------------------------


def _check_output(image: Image.Image, scale: int, tile: int | None, overlap: int) -> None:
    if tile is not None:
        try:
            check_tiling(tile, overlap)
        except ValueError as exc:
            raise UpscaleError(str(exc)) from None
    pixels = image.width * image.height * scale * scale
    if pixels > MAX_OUTPUT_PIXELS:
        raise UpscaleError(
            f"Upscaling {image.width}x{image.height} by {scale} would make"
            f" {pixels / 1e6:.0f} megapixels, more than any image viewer opens"
            f" ({MAX_OUTPUT_PIXELS / 1e6:.0f}). Crop or shrink it first."
        )


def _split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    return image.convert("RGB"), None


def _join_alpha(image: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return image
    image.putalpha(alpha.resize(image.size, Image.Resampling.BICUBIC))
    return image


def _pad_to(image: Image.Image, multiple: int) -> tuple[Image.Image, tuple[int, int]]:
    """`image` padded right and bottom (edge pixels repeated) to a multiple of `multiple`."""
    height, width = image.height, image.width
    ph, pw = -height % multiple, -width % multiple
    if not ph and not pw:
        return image, (height, width)
    array = np.pad(np.asarray(image), ((0, ph), (0, pw), (0, 0)), mode="edge")
    return Image.fromarray(array), (height, width)


def _to_image(tensor: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) in [0, 1] -> an RGB PIL image."""
    import torch

    array = (tensor[0].float().clamp(0, 1) * 255).round().to("cpu", dtype=torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).numpy(), mode="RGB")
