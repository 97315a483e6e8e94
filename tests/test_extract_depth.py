"""Depth maps from a photo: whichever backend a user picks, they get a 16-bit map the picture's
size, bright = near, over the full range; asking again costs nothing; a missing real model or a
wrong parameter is one clear error. Runs on the tiny profile: random weights, so what the maps show
is noise, but their form, orientation and plumbing are the real ones."""

import io
import shutil

import numpy as np
import pytest
from PIL import Image
from skimage import data

from image_interpreter.errors import ExtractionError, ModelUnavailable
from image_interpreter.extract import ExtractContext, ExtractionService, find_extractor
from image_interpreter.extract.extractors.depth import normalise_depth
from image_interpreter.images.load import encode_png
from image_interpreter.priors.schema import ImageRef
from image_interpreter.settings import load_settings

# ZoeDepth has no small variant that controlnet-aux can load: its stand-in is the full 345 M
# parameter network, which takes about half a minute of CPU to build, load and run once.


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = load_settings(profile="tiny", data_dir=tmp_path_factory.mktemp("depth"))
    yield ExtractionService(settings)
    # the MiDaS and ZoeDepth stand-ins are full-size networks (about 1 GB): leave nothing behind
    shutil.rmtree(settings.tiny_models_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def photo(service):
    """The astronaut at 128 x 96 (not square, so a swapped width and height would show)."""
    picture = Image.fromarray(data.astronaut()[64:448]).resize((128, 96))
    sha = service.artifacts.put(encode_png(picture))
    return picture, ImageRef(sha256=sha, width=128, height=96, name="astronaut.png")


def _read(service, ref) -> Image.Image:
    return Image.open(io.BytesIO(service.artifacts.get(ref.sha256)))


def test_nearness_becomes_brightness_whichever_way_a_backend_counts():
    disparity = np.tile(np.linspace(0.1, 5.0, 50), (4, 1))  # grows to the right: right is near
    metres = 1.0 / disparity  # the same scene in metres: smallest on the right
    for raw, nearer in ((disparity, "larger"), (metres, "smaller")):
        depth = normalise_depth(raw, nearer=nearer)
        assert depth.dtype == np.uint16 and depth.shape == (4, 50)
        assert depth[0, 0] == 0 and depth[0, -1] == 65535
        assert (np.diff(depth[0].astype(int)) > 0).all()


def test_percentiles_clip_the_ends_and_flat_or_broken_predictions_are_black():
    ramp = np.arange(101, dtype=float)[None, :]
    clipped = normalise_depth(ramp, nearer="larger", percentiles=(10, 90))
    assert (clipped[0, :11] == 0).all() and (clipped[0, 90:] == 65535).all()
    assert abs(int(clipped[0, 50]) - 32768) <= 1
    assert not normalise_depth(np.full((8, 8), 3.0), nearer="larger").any()
    broken = ramp.copy()
    broken[0, 5] = np.nan
    repaired = normalise_depth(broken, nearer="larger")
    assert repaired[0, 5] == 0 and repaired.max() == 65535


@pytest.mark.parametrize(
    ("name", "counts"),
    [("depth.depth_anything", "disparity"), ("depth.midas", "disparity"), ("depth.zoe", "metres")],
)
def test_each_backend_puts_the_near_side_bright(service, photo, name, counts, monkeypatch):
    """A floor running towards the camera (the bottom is near), as each backend reports it."""
    picture, _ = photo
    extractor = find_extractor(name)(service.settings)  # not loaded: only the conversion runs
    disparity = np.linspace(1.0, 10.0, 24)[:, None] * np.ones((1, 32))
    raw = disparity if counts == "disparity" else 1.0 / disparity
    monkeypatch.setattr(extractor, "predict", lambda image, params: raw)
    ctx = ExtractContext(put_artifact=service.artifacts.put)
    prior = extractor.extract(picture, extractor.Params(), ctx)
    depth = np.asarray(_read(service, prior.map)).astype(int)
    assert depth.shape == (96, 128)
    assert depth[-4:].mean() > 60000 and depth[:4].mean() < 5000


@pytest.mark.parametrize(
    ("typed", "params", "name", "model"),
    [
        ("depth", {"detect_resolution": 126}, "depth.depth_anything", "tiny/depth-anything"),
        ("midas", {"detect_resolution": 128}, "depth.midas", "tiny/annotators-midas"),
        # ZoeDepth has one size (BEiT-L, 345M parameters): the slowest test here, kept because
        # it is the only end-to-end check of that backend.
        (
            "zoe",
            {"detect_resolution": 128, "flip_augment": False},
            "depth.zoe",
            "tiny/annotators-zoe",
        ),
    ],
)
def test_a_photo_gives_a_16_bit_depth_map_of_its_size_once(
    service, photo, typed, params, name, model
):
    picture, ref = photo
    runs = service.model_runs
    prior = service.extract(picture, ref, typed, params)
    assert service.model_runs == runs + 1
    assert prior.provenance.extractor == name and prior.provenance.model_id == model
    depth_map = _read(service, prior.map)
    assert depth_map.mode == "I;16"
    assert depth_map.size == picture.size == (prior.map.width, prior.map.height)
    values = np.asarray(depth_map)
    assert values.min() == 0 and values.max() == 65535
    assert len(np.unique(values)) > 256  # more levels than an 8-bit map could hold
    again = service.extract(picture, ref, typed, params)
    assert again == prior and service.model_runs == runs + 1


def test_users_name_depth_backends_by_kind_or_short_name():
    assert find_extractor("depth").name == "depth.depth_anything"
    assert find_extractor("MiDaS").name == "depth.midas"
    assert find_extractor("zoedepth").name == "depth.zoe"
    assert find_extractor("depth.zoe").kind == "depth"


@pytest.mark.parametrize(
    ("name", "model", "needs"),
    [
        ("depth", "depth-anything/Depth-Anything-V2-Small-hf", None),
        ("midas", "lllyasviel/Annotators", "dpt_hybrid-midas-501f0c75.pt"),
        ("zoe", "lllyasviel/Annotators", "ZoeD_M12_N.pt"),
    ],
)
def test_without_the_real_weights_offline_the_error_names_the_model_and_the_fix(
    tmp_path, photo, name, model, needs
):
    picture, ref = photo
    settings = load_settings(
        profile="sd15", data_dir=tmp_path, offline=True, hf_cache_dir=tmp_path / "hf"
    )
    service = ExtractionService(settings)
    with pytest.raises(ModelUnavailable) as caught:
        service.extract(picture, ref, name)
    message = str(caught.value)
    assert f"'{model}'" in message and str(tmp_path / "hf") in message and "tiny" in message
    if needs:
        assert f"hf download lllyasviel/Annotators {needs}" in message
    assert service.model_runs == 0


@pytest.mark.parametrize(
    ("name", "params", "says"),
    [
        ("depth", {"detect_resolution": 10}, "detect_resolution"),
        ("midas", {"resolution": 512}, "resolution"),
        ("zoe", {"flip_augment": "sometimes"}, "flip_augment"),
    ],
)
def test_wrong_parameters_are_refused_before_any_model_is_built(
    tmp_path, photo, name, params, says
):
    picture, ref = photo
    settings = load_settings(profile="tiny", data_dir=tmp_path)
    service = ExtractionService(settings)
    with pytest.raises(ExtractionError, match=f"Wrong parameters.*{says}"):
        service.extract(picture, ref, name, params)
    assert service.model_runs == 0 and not settings.tiny_models_dir.exists()
