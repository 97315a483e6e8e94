"""A few bytes of PNG must not become gigabytes: an extreme strip is refused at load, and every
resize an extractor or the generator makes is bounded in its *output*, whatever the picture's
shape (a 2000x1 strip once became a 1,024,000x512 array in pose extraction)."""

from __future__ import annotations

import hashlib
import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image
from test_generate_support import make_priors, tiny_settings

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.errors import ImageRejected
from image_interpreter.extract import ExtractionService
from image_interpreter.extract.extractors.pose.runtime import detection_image
from image_interpreter.extract.registry import load_extractors
from image_interpreter.generate import GenerationRequest, Generator
from image_interpreter.images import encode_png, load_image
from image_interpreter.images.fit import fit_size, network_picture, network_size
from image_interpreter.priors.schema import ImageRef
from image_interpreter.settings import Limits, load_settings

# Far more than any bounded run needs (the largest, OpenPose on a strip, peaks near 100 MiB);
# far less than the unbounded resizes took (gigabytes for a 300x1 strip).
PEAK_BYTES = 384 * 2**20
STRIPS = [(300, 1), (1, 300)]  # past the load limit on purpose: extractors must cope alone

# Every extractor that runs on the tiny profile, with parameters that keep it quick.
ON_TINY = {
    "pose.openpose": {"detect_resolution": 64, "hands": False, "face": False},
    "depth.depth_anything": {"detect_resolution": 56},
    "depth.midas": {"detect_resolution": 64},
    "depth.zoe": {"detect_resolution": 64, "flip_augment": False},
    "edges.canny": {},
    "edges.lineart": {"detect_resolution": 64},
    "edges.hed": {"detect_resolution": 64},
    "caption.blip": {"max_new_tokens": 8, "num_beams": 1},
    "caption.query": {"question": "what is it?", "max_new_tokens": 8},
    "caption.florence2": {"max_new_tokens": 8, "num_beams": 1},
    "objects.owlv2": {"queries": ["a dog"]},
    "objects.florence2": {"queries": ["a dog"], "max_new_tokens": 8},
    "objects.sam": {},
    "objects.sam_prompted": {"points": [[0.5, 0.5]]},
    "segmentation.upernet": {},
    "segmentation.fcn": {},
    "palette.median_cut": {},
    "tags.squeezenet": {},
    "tags.densenet": {},
}
# No tiny stand-in can exist for these (the reason is each one's own refusal on `tiny`).
NOT_ON_TINY = {
    "pose.dwpose": "OpenMMLab checkpoints",
    "pose.mediapipe": "MediaPipe .task bundles",
    "caption.bedrock": "a cloud service",
    "objects.yolov5": "torch.hub code",
    "tags.resnext_wsl": "torch.hub code",
    "tags.snnmlp": "torch.hub code",
}


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _ref(picture: Image.Image) -> ImageRef:
    digest = hashlib.sha256(encode_png(picture)).hexdigest()
    return ImageRef(sha256=digest, width=picture.width, height=picture.height)


# --- at load ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(2000, 1), (1, 2000), (21, 1)])
def test_an_extreme_strip_is_refused_at_load_naming_the_setting(size):
    data = _png(*size)
    assert len(data) < 200  # a tiny upload: the pixel and byte limits let it through
    with pytest.raises(ImageRejected, match=r"20:1 \(IMAGE_INTERPRETER_LIMITS__MAX_ASPECT_RATIO\)"):
        load_image(data, name="strip.png")


@pytest.mark.parametrize("size", [(20, 1), (1, 20), (640, 480)])
def test_shapes_within_the_limit_load(size):
    assert load_image(_png(*size)).size == size


def test_the_aspect_limit_is_a_setting():
    assert load_image(_png(2000, 1), Limits(max_aspect_ratio=5000)).size == (2000, 1)


# --- the one sizing rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [(1, 1), (2000, 1), (1, 2000), (40_000_000, 1), (1, 40_000_000), (7, 6000), (640, 480)]
)
def test_every_network_size_is_bounded_whatever_the_shape(size):
    for resolution in (64, 128, 512, 2048):
        width, height = network_size(size, resolution)
        assert width % 64 == 0 and height % 64 == 0
        assert min(width, height) >= 64 and max(width, height) <= 4 * resolution
    picture = fit_size(size, max_side=1024, max_aspect=4)
    assert max(picture) <= 1024 and max(picture) <= 4 * min(picture)
    width, height = fit_size(size, short_side=300, max_pixels=100_000)
    assert width * height <= 100_000


@pytest.mark.parametrize(
    ("size", "expected"),
    [((640, 480), (704, 512)), ((512, 512), (512, 512)), ((1920, 1080), (896, 512))],
)
def test_ordinary_photos_get_controlnet_aux_sizes(size, expected):
    """Shorter side at the resolution, multiples of 64, as controlnet-aux's resize_image."""
    assert network_size(size, 512) == expected


def test_pose_detection_image_of_a_strip_is_small():
    """Before: 2000x1 -> 1,024,000 x 512 x 3 bytes (1.5 GB) for the pose networks."""
    rgb = detection_image(Image.new("RGB", (2000, 1)), 512)
    assert rgb.shape == (64, 2048, 3)
    assert detection_image(Image.new("RGB", (1, 2000)), 512).shape == (2048, 64, 3)


def test_preprocessor_copies_have_a_bounded_aspect_and_side():
    assert network_picture(Image.new("RGB", (20000, 1))).size == (1024, 256)
    photo = Image.new("RGB", (400, 300))
    assert network_picture(photo) is photo  # ordinary pictures pass untouched


# --- every extractor on strips -----------------------------------------------------------------


def test_every_extractor_is_checked_here_or_has_no_tiny_model():
    assert set(load_extractors()) == set(ON_TINY) | set(NOT_ON_TINY)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return ExtractionService(load_settings(profile="tiny", data_dir=tmp_path_factory.mktemp("d")))


@pytest.mark.parametrize("name", sorted(ON_TINY))
def test_every_extractor_runs_on_strips_in_bounded_memory(service, name):
    params = ON_TINY[name]
    warm = _noise(32, 32, seed=1)
    service.extract(warm, _ref(warm), name, params)  # loads the model outside the measurement
    for width, height in STRIPS:
        strip = _noise(width, height)
        tracemalloc.start()
        try:
            prior = service.extract(strip, _ref(strip), name, params)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < PEAK_BYTES, f"{name} on {width}x{height} peaked at {peak / 2**20:.0f} MiB"
        maps = [getattr(prior, field, None) for field in ("map",)]
        for ref in filter(None, maps):  # maps come back at the strip's own size
            stored = Image.open(io.BytesIO(service.artifacts.get(ref.sha256)))
            assert stored.size == (width, height)


# --- the generator -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generation(tmp_path_factory):
    settings = tiny_settings(tmp_path_factory)
    store = ArtifactStore(settings.artifacts_dir)
    return Generator(settings), store, make_priors(store, width=None, height=None)


def _with_source(priors, store, size):
    source = _noise(*size)
    ref = ImageRef(sha256=store.put(encode_png(source)), width=size[0], height=size[1])
    return priors.model_copy(update={"source": ref})


@pytest.mark.parametrize(("size", "drawn"), [((20, 1), (256, 64)), ((1, 20), (64, 256))])
def test_the_generator_draws_a_strip_at_a_bounded_size(generation, size, drawn):
    """At the load limit (1:20); the tiny model's native side is 64, so at most 4 x 64 long."""
    generator, store, priors = generation
    strip = _with_source(priors, store, size)
    request = GenerationRequest(priors=strip, mode="img2img", candidates=1)
    assert generator.size_for(request) == drawn
    (candidate,) = generator.generate(request, read_artifact=store.get)
    assert candidate.image.size == drawn


@pytest.mark.parametrize("asked", [{}, {"width": 512}, {"height": 512}])
def test_any_source_shape_gives_a_bounded_generation_size(generation, asked):
    generator, _, priors = generation
    for size in [(40_000_000, 1), (1, 40_000_000), (2000, 1)]:
        ref = priors.source.model_copy(update={"width": size[0], "height": size[1]})
        request = GenerationRequest(priors=priors.model_copy(update={"source": ref}), **asked)
        width, height = generator.size_for(request)
        assert min(width, height) >= 64 and max(width, height) <= 4096
        assert width % 8 == 0 and height % 8 == 0
