"""`image-interpreter upscale IMAGE --out OUT.png`: 4x super-resolution, tiled, with progress."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from image_interpreter.cli.common import console, settings_from
from image_interpreter.durable import replacing


def register(app: typer.Typer) -> None:
    app.command()(upscale)


def upscale(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="The picture to enlarge.")],
    out: Annotated[Path, typer.Option(help="Where to write the result (.png, .jpg, .webp).")],
    model: Annotated[
        str, typer.Option(help="esrgan (fast, faithful) or sd_x4 (diffusion, adds detail).")
    ] = "esrgan",
    tile: Annotated[
        int | None,
        typer.Option(
            help="Tile size in input pixels (0: no tiles). Default: 256 esrgan, 128 sd_x4."
        ),
    ] = None,
    overlap: Annotated[
        int | None, typer.Option(help="Tile overlap, input pixels (default 32, or a quarter tile).")
    ] = None,
    prompt: Annotated[str, typer.Option(help="sd_x4: what the picture shows.")] = "",
    negative_prompt: Annotated[str | None, typer.Option(help="sd_x4: what to avoid.")] = None,
    steps: Annotated[int, typer.Option(min=1, max=200, help="sd_x4: denoising steps.")] = 25,
    guidance: Annotated[float, typer.Option(min=0.0, max=30.0, help="sd_x4: guidance.")] = 9.0,
    noise_level: Annotated[
        int, typer.Option(min=0, max=350, help="sd_x4: noise added to the input (more: freer).")
    ] = 20,
    seed: Annotated[int, typer.Option(min=0, help="sd_x4: the random seed.")] = 0,
    esrgan_file: Annotated[
        str | None,
        typer.Option(help="esrgan: the weights file in the hub repository (RealESRGAN_x4.pth)."),
    ] = None,
) -> None:
    """Make a picture 4x larger with Real-ESRGAN (spandrel) or the Stable Diffusion x4 upscaler.

    Large pictures are processed in overlapping tiles, blended without seams.

    Examples:

      image-interpreter upscale photo.png --out photo-4x.png

      image-interpreter upscale candidate.png --out big.png --model sd_x4 --prompt "a red fox"
    """
    from image_interpreter.generate.upscale import (
        ESRGAN_HUB_FILE,
        UPSCALE_MODELS,
        UpscaleError,
        Upscaler,
    )
    from image_interpreter.images import load_image_file

    settings = settings_from(ctx)
    quiet_libraries()
    if model not in UPSCALE_MODELS:
        raise UpscaleError(
            f"Unknown --model '{model}'. Choose one of: {', '.join(UPSCALE_MODELS)}."
        )
    suffix = out.suffix.lower()
    if suffix not in {".png", ".jpg", ".jpeg", ".webp"}:
        raise UpscaleError(f"--out must end in .png, .jpg or .webp, not '{out.name}'.")
    picture = load_image_file(image, settings.limits)
    upscaler = Upscaler(settings, esrgan_file=esrgan_file or ESRGAN_HUB_FILE)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as progress:  # fmt: skip
        unit = "tiles" if model == "esrgan" else "steps"
        task = progress.add_task(f"loading {model}", total=None)

        def report(step: int, total: int, preview: object) -> None:
            progress.update(task, description=f"upscaling ({unit})", completed=step, total=total)

        result = upscaler.upscale(
            picture,
            model=model,  # type: ignore[arg-type]
            tile=-1 if tile is None else tile,
            overlap=overlap,
            prompt=prompt,
            negative_prompt=negative_prompt,
            steps=steps,
            guidance=guidance,
            noise_level=noise_level,
            seed=seed,
            progress=report,
        )
    _save(result, out)
    console.print(
        f"Wrote {out} ({picture.width}x{picture.height} -> {result.width}x{result.height})"
    )


def quiet_libraries() -> None:
    """No progress bars from diffusers and transformers while loading: ours is on screen."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def _save(image, path: Path) -> None:
    """Write through a temporary file beside `path`, then rename: no half-written picture."""
    with replacing(path) as tmp:
        if path.suffix.lower() in {".jpg", ".jpeg"}:
            image.convert("RGB").save(tmp, quality=95)
        else:
            image.save(tmp)
