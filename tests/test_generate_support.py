"""Shared pieces of the generator tests: tiny settings, a PriorSet with real artifacts, and a
single torch thread (two threads on a shared 2-core machine are many times slower)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.images import encode_png
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.schema import (
    ArtifactRef,
    Box,
    CaptionPrior,
    DepthPrior,
    DetectedObject,
    EdgesPrior,
    GenerationSettings,
    ImageRef,
    ObjectsPrior,
    PeoplePrior,
    PriorSet,
    SegmentationPrior,
)

SIZE = 64
DEFAULTS = {"steps": 2, "candidates": 2, "seed": 11}


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def source_image(size: int = SIZE) -> Image.Image:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([x * 255 // size, y * 255 // size, (x + y) * 127 // size], axis=-1)
    noise = rng.integers(0, 30, size=(size, size, 3))
    return Image.fromarray(np.clip(rgb + noise, 0, 255).astype(np.uint8))


def make_priors(store: ArtifactStore, size: int = SIZE, **generation) -> PriorSet:
    """Caption, one person, depth, edges (canny), a disabled segmentation and two objects (one
    to replace, one to remove), all artifacts real PNGs in `store`."""
    source = source_image(size)
    depth = np.tile(np.linspace(0, 65535, size).round().astype(np.uint16), (size, 1))
    edges = np.zeros((size, size), dtype=np.uint8)
    edges[size // 2, 4:-4] = 255
    seg = np.full((size, size), 12, dtype=np.uint8)
    left = np.zeros((size, size), dtype=np.uint8)
    left[8:24, 8:24] = 255
    right = np.zeros((size, size), dtype=np.uint8)
    right[40:56, 40:56] = 255

    def ref(data: bytes) -> ArtifactRef:
        return ArtifactRef(sha256=store.put(data))

    return PriorSet(
        source=ImageRef(sha256=store.put(encode_png(source)), width=size, height=size),
        caption=CaptionPrior(text="a woman in a park", style=["watercolor"], time_of_day="dusk"),
        people=PeoplePrior(people=[example_person()], weight=0.9, start=0.0, end=0.8),
        depth=DepthPrior(map=ref(png(depth)), weight=0.6, start=0.1, end=1.0),
        edges=EdgesPrior(map=ref(png(edges)), method="canny", weight=0.4, end=0.5),
        segmentation=SegmentationPrior(map=ref(png(seg)), enabled=False),
        objects=ObjectsPrior(
            objects=[
                DetectedObject(
                    label="dog", box=Box(x0=0.1, y0=0.1, x1=0.4, y1=0.4), mask=ref(png(left)),
                    action="replace", replacement="a sleeping cat",
                ),
                DetectedObject(
                    label="bench", box=Box(x0=0.6, y0=0.6, x1=0.9, y1=0.9), mask=ref(png(right)),
                    action="remove",
                ),
            ]
        ),
        generation=GenerationSettings(**(DEFAULTS | {"width": size, "height": size} | generation)),
    )  # fmt: skip


def tiny_settings(tmp_path_factory, **overrides):
    """Tiny-profile settings on the CPU; the tiny models are built once per test session."""
    from image_interpreter.settings import load_settings

    base = tmp_path_factory.getbasetemp()
    values = {
        "profile": "tiny",
        "device": "cpu",
        "data_dir": tmp_path_factory.mktemp("generate-data"),
        "tiny_dir": base / "generate-tiny-models",
    }
    return load_settings(**(values | overrides))
