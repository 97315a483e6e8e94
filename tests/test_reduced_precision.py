"""Reduced precision on the CPU, on the tiny models: what a GPU user with dtype float16/bfloat16
runs first. The generator (SD 1.5, SDXL with own and union ControlNets), the x4 upscaler with its
float32 VAE decode, interpolation, CLIP ranking and every extractor that has a tiny model run in
bfloat16 (float16 where CPU kernels exist) and give pictures or priors, not errors or NaNs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from test_generate_support import make_priors, source_image

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.extract.service import ExtractionService
from image_interpreter.generate import GenerationRequest, Generator
from image_interpreter.generate.interpolate import Endpoint, interpolate
from image_interpreter.generate.sdxl_tiny import TINY_SDXL_MODELS
from image_interpreter.generate.upscale import Upscaler
from image_interpreter.images import encode_png
from image_interpreter.priors.schema import ImageRef
from image_interpreter.rank.clip import clip_cosines, load_clip
from image_interpreter.settings import load_settings

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def make_settings(tmp_path_factory):
    tiny_dir = tmp_path_factory.getbasetemp() / "tiny-models"

    def make(dtype, **extra):
        data = tmp_path_factory.mktemp(f"data-{dtype}")
        return load_settings(
            profile="tiny", device="cpu", dtype=dtype, data_dir=data, tiny_dir=tiny_dir, **extra
        )

    return make


def _picture_ok(image: Image.Image) -> None:
    pixels = np.asarray(image.convert("RGB")).astype(float)
    assert np.isfinite(pixels).all() and pixels.std() > 1  # not black, not one colour


def _dtypes(module: torch.nn.Module) -> set[torch.dtype]:
    return {p.dtype for p in module.parameters()}


@pytest.mark.parametrize(
    ("dtype", "models"),
    [("bfloat16", {}), ("float16", {}), ("bfloat16", TINY_SDXL_MODELS)],
    ids=["sd15-bf16", "sd15-fp16", "sdxl-bf16"],
)
def test_generation_in_reduced_precision(make_settings, dtype, models):
    settings = make_settings(dtype, models=models)
    store = ArtifactStore(settings.artifacts_dir)
    priors = make_priors(store, candidates=1)
    segmentation = priors.segmentation.model_copy(update={"enabled": True})
    priors = priors.model_copy(update={"segmentation": segmentation})
    generator = Generator(settings)
    (candidate,) = generator.generate(GenerationRequest(priors=priors), read_artifact=store.get)
    _picture_ok(candidate.image)
    assert candidate.recipe.dtype == dtype
    components = generator.components
    wanted = getattr(torch, dtype)
    assert _dtypes(components.base.unet) == {wanted}
    for net in components.loaded_controlnets.values():
        assert _dtypes(net) == {wanted}


def test_interpolation_in_bfloat16(make_settings):
    settings = make_settings("bfloat16")
    store = ArtifactStore(settings.artifacts_dir)
    priors = make_priors(store)
    generator = Generator(settings)
    first, second = generator.generate(GenerationRequest(priors=priors), read_artifact=store.get)
    result = interpolate(
        generator, Endpoint.from_recipe(first.recipe, priors),
        Endpoint.from_recipe(second.recipe, priors), frames=3, read_artifact=store.get,
    )  # fmt: skip
    assert len(result.frames) == 3
    for frame in result.frames:
        _picture_ok(frame.image)
    middle = np.asarray(result.frames[1].image).astype(int)
    assert np.abs(middle - np.asarray(first.image).astype(int)).mean() > 1


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_the_x4_upscaler_in_reduced_precision_decodes_in_float32(make_settings, dtype):
    """In float16 the VAE (force_upcast) decodes in float32 and goes back to float16 after."""
    upscaler = Upscaler(make_settings(dtype))
    decoded: list[torch.dtype] = []
    vae = upscaler.sd_x4().vae
    handle = vae.decoder.register_forward_pre_hook(lambda m, args: decoded.append(args[0].dtype))
    try:
        image = upscaler.upscale(source_image(16), model="sd_x4", steps=2)
    finally:
        handle.remove()
    assert image.size == (64, 64)
    _picture_ok(image)
    wanted = getattr(torch, dtype)
    assert decoded and set(decoded) == {torch.float32 if dtype == "float16" else wanted}
    assert _dtypes(vae) == {wanted} and _dtypes(upscaler.sd_x4().unet) == {wanted}
    _picture_ok(upscaler.upscale(source_image(16), model="esrgan"))


def test_clip_scores_in_bfloat16_under_cpu_autocast(make_settings):
    pictures = [source_image(64), Image.new("RGB", (64, 64), (200, 30, 30))]
    exact = clip_cosines(load_clip(make_settings("float32")), pictures, "a red square")
    half = load_clip(make_settings("bfloat16"))
    seen: list[torch.dtype] = []
    handle = half.model.visual.register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    try:
        reduced = clip_cosines(half, pictures, "a red square")
    finally:
        handle.remove()
    assert seen == [torch.bfloat16]  # autocast ran the image tower in bfloat16
    assert np.abs(reduced - exact).max() < 0.05


# Every extractor with a tiny model, with the parameters it needs. (depth.midas, depth.zoe and
# pose.openpose keep float32 weights by design: controlnet-aux feeds them float32.)
EXTRACTORS = {
    "caption.blip": {},
    "caption.florence2": {},
    "caption.query": {"question": "what is in the picture?"},
    "depth.depth_anything": {},
    "edges.canny": {},
    "edges.hed": {},
    "edges.lineart": {},
    "objects.florence2": {"queries": ["dog"]},
    "objects.owlv2": {"queries": ["dog"]},
    "objects.sam": {},
    "objects.sam_prompted": {"points": [(0.5, 0.5)]},
    "palette.median_cut": {},
    "segmentation.fcn": {},
    "segmentation.upernet": {},
    "tags.densenet": {},
    "tags.squeezenet": {},
}


@pytest.fixture(scope="module")
def bf16_service(make_settings):
    return ExtractionService(make_settings("bfloat16"))


@pytest.mark.parametrize("name", list(EXTRACTORS))
def test_every_extractor_in_bfloat16(bf16_service, name):
    picture = source_image(64)
    ref = ImageRef(sha256=bf16_service.artifacts.put(encode_png(picture)), width=64, height=64)
    prior = bf16_service.extract(picture, ref, name, EXTRACTORS[name])
    kind = name.split(".")[0]
    assert prior.kind == {"tags": "caption"}.get(kind, kind)  # tags join the caption prior
    extractor = bf16_service.instance(name)
    if hasattr(extractor, "dtype"):  # those that cast their model run it in bfloat16
        assert extractor.dtype == torch.bfloat16
