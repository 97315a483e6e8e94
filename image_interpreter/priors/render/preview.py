"""Pictures of priors for people, not ControlNets: what `extract --out` writes and UIs show.

Control kinds (people, depth, segmentation, edges) are shown as the control image itself, since
that is exactly what generation will see; caption, objects and palette, which no ControlNet takes,
are drawn over the photo or as swatches.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from image_interpreter.priors.render.registry import ReadArtifact, control_kinds, render_prior
from image_interpreter.priors.schema import CaptionPrior, ObjectsPrior, PalettePrior, PriorSet

_BOX_COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180))


def preview_images(
    priors: PriorSet, photo: Image.Image, read_artifact: ReadArtifact
) -> dict[str, Image.Image]:
    """One picture per prior present (enabled or not), at the photo's size."""
    size = photo.size
    pictures: dict[str, Image.Image] = {}
    for kind, prior in priors.priors().items():
        if kind in control_kinds():
            pictures[kind] = render_prior(kind, prior, size, read_artifact)
        elif isinstance(prior, CaptionPrior):
            pictures[kind] = _caption(prior, photo)
        elif isinstance(prior, ObjectsPrior):
            pictures[kind] = _objects(prior, photo, read_artifact)
        elif isinstance(prior, PalettePrior):
            pictures[kind] = _palette(prior, size)
    return pictures


def prior_label(kind: str, version: int, enabled: bool) -> str:
    """The name a prior picture carries wherever it is shown: 'depth · v4 · off'."""
    return f"{kind} · v{version} · {'on' if enabled else 'off'}"


def labelled(picture: Image.Image, label: str) -> Image.Image:
    """`picture` with `label` written in a band above it, so a picture saved, forwarded or
    seen out of its message still says what it is. Switched-off priors get a grey band."""
    picture = picture.convert("RGB")
    size = max(11, min(24, picture.width // 18))
    font = ImageFont.load_default(size=size)
    band = size + 8
    canvas = Image.new("RGB", (picture.width, picture.height + band), (24, 24, 24))
    canvas.paste(picture, (0, band))
    off = label.endswith("· off")
    colour = (150, 150, 150) if off else (255, 255, 255)
    ImageDraw.Draw(canvas).text((6, 4), label, fill=colour, font=font)
    return canvas


def _pixels(box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    return int(box.x0 * w), int(box.y0 * h), int(box.x1 * w), int(box.y1 * h)


def _caption(prior: CaptionPrior, photo: Image.Image) -> Image.Image:
    picture = photo.convert("RGB").copy()
    draw = ImageDraw.Draw(picture)
    for i, region in enumerate(prior.regions):
        colour = _BOX_COLOURS[i % len(_BOX_COLOURS)]
        x0, y0, x1, y1 = _pixels(region.box, picture.size)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=2)
        draw.text((x0 + 3, y0 + 2), region.text, fill=colour)
    lines = [prior.text] + ([", ".join(t.label for t in prior.tags)] if prior.tags else [])
    banner = 14 * len(lines) + 6
    canvas = Image.new("RGB", (picture.width, picture.height + banner), (0, 0, 0))
    canvas.paste(picture, (0, 0))
    ImageDraw.Draw(canvas).multiline_text(
        (4, picture.height + 3), "\n".join(lines), fill=(255, 255, 255), spacing=2
    )
    return canvas


def _objects(prior: ObjectsPrior, photo: Image.Image, read_artifact: ReadArtifact) -> Image.Image:
    picture = np.asarray(photo.convert("RGB")).astype(np.float32)
    for i, obj in enumerate(prior.objects):
        if obj.mask is None:
            continue
        colour = np.array(_BOX_COLOURS[i % len(_BOX_COLOURS)], np.float32)
        mask = Image.open(io.BytesIO(read_artifact(obj.mask.sha256))).convert("L")
        inside = np.asarray(mask.resize(photo.size, Image.Resampling.NEAREST)) > 127
        picture[inside] = 0.55 * picture[inside] + 0.45 * colour
    out = Image.fromarray(picture.astype(np.uint8))
    draw = ImageDraw.Draw(out)
    for i, obj in enumerate(prior.objects):
        colour = _BOX_COLOURS[i % len(_BOX_COLOURS)]
        x0, y0, x1, y1 = _pixels(obj.box, out.size)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=2)
        draw.text((x0 + 3, y0 + 2), f"{i + 1} {obj.label} {obj.score:.2f}", fill=colour)
    return out


def _palette(prior: PalettePrior, size: tuple[int, int]) -> Image.Image:
    width, height = size
    strip = Image.new("RGB", (width, max(height // 4, 16)), (0, 0, 0))
    draw = ImageDraw.Draw(strip)
    x = 0.0
    total = sum(c.fraction for c in prior.colors) or 1.0
    for colour in prior.colors:
        step = width * colour.fraction / total
        draw.rectangle((int(x), 0, int(x + step), strip.height), fill=colour.hex)
        x += step
    return strip
