"""Line maps from a photo through controlnet-aux: line art (fine or coarse) and HED soft edges or
scribbles, as ControlNets want them: white lines on black, one grey channel, the picture's size.
Runs on the tiny profile: the real networks with random weights, so the lines themselves are noise;
what the networks draw is also replaced by known drawings to check which way round the map is."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from image_interpreter.errors import ExtractionError, ModelUnavailable
from image_interpreter.extract import ExtractContext, ExtractionService, find_extractor
from image_interpreter.images.load import encode_png
from image_interpreter.priors.schema import ImageRef
from image_interpreter.settings import load_settings


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = load_settings(profile="tiny", data_dir=tmp_path_factory.mktemp("lines"))
    return ExtractionService(settings)


@pytest.fixture(scope="module")
def photo(service):
    """The astronaut at 128 x 96 (not square, so a swapped width and height would show)."""
    picture = Image.fromarray(data.astronaut()[64:448]).resize((128, 96))
    sha = service.artifacts.put(encode_png(picture))
    return picture, ImageRef(sha256=sha, width=128, height=96, name="astronaut.png")


def _read(service, ref) -> Image.Image:
    return Image.open(io.BytesIO(service.artifacts.get(ref.sha256)))


@pytest.mark.parametrize(
    ("typed", "params", "name", "method"),
    [
        ("lineart", {}, "edges.lineart", "lineart"),
        ("lineart", {"coarse": True}, "edges.lineart", "lineart"),
        ("softedge", {}, "edges.hed", "hed"),
        ("hed", {"safe": True}, "edges.hed", "hed"),
        ("hed", {"scribble": True}, "edges.hed", "scribble"),
    ],
)
def test_a_photo_gives_a_grey_line_map_of_its_size_once(
    service, photo, typed, params, name, method
):
    picture, ref = photo
    params = {**params, "detect_resolution": 128}
    runs = service.model_runs
    prior = service.extract(picture, ref, typed, params)
    assert service.model_runs == runs + 1
    assert prior.method == method and prior.provenance.extractor == name
    assert prior.provenance.model_id == f"tiny/annotators-{name.split('.')[1]}"
    lines = _read(service, prior.map)
    assert lines.mode == "L"
    assert lines.size == picture.size == (prior.map.width, prior.map.height)
    if method == "scribble":
        assert set(np.unique(np.asarray(lines)).tolist()) <= {0, 255}
    again = service.extract(picture, ref, typed, params)
    assert again == prior and service.model_runs == runs + 1


class _Drawing(torch.nn.Module):
    """Stands in for a network: returns a fixed drawing whatever it is shown."""

    def __init__(self, draw):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # the detectors look up the device
        self.draw = draw

    def forward(self, pixels):
        return self.draw(*pixels.shape[-2:])


def _band(height, width, inside, outside):
    """A picture of `outside` with a horizontal band of `inside` across the middle."""
    out = torch.full((1, 1, height, width), float(outside))
    out[..., height // 2 - 4 : height // 2 + 4, :] = float(inside)
    return out


@pytest.mark.parametrize(
    ("name", "network", "drawing"),
    [
        # line art's network draws dark lines (0) on white paper (1)
        ("lineart", "model", lambda h, w: _band(h, w, inside=0.0, outside=1.0)),
        # HED's gives five edge-strength logits; strong in the band, none elsewhere
        ("hed", "netNetwork", lambda h, w: (_band(h, w, inside=20, outside=-20),) * 5),
    ],
)
def test_lines_come_out_white_on_black(service, photo, name, network, drawing, monkeypatch):
    picture, _ = photo
    extractor = service.instance(name)
    extractor.ensure_loaded()
    monkeypatch.setattr(extractor.detector, network, _Drawing(drawing))
    ctx = ExtractContext(put_artifact=service.artifacts.put)
    prior = extractor.extract(picture, extractor.Params(detect_resolution=128), ctx)
    lines = np.asarray(_read(service, prior.map))
    assert lines.shape == (96, 128)
    assert lines[46:50].min() >= 250  # the band, white
    assert lines[:40].max() == 0 and lines[56:].max() == 0  # the rest, black


def test_users_name_line_extractors_and_canny_stays_the_default_for_edges():
    assert find_extractor("edges").name == "edges.canny"
    assert find_extractor("lineart").name == "edges.lineart"
    assert find_extractor("softedge").name == find_extractor("HED").name == "edges.hed"


@pytest.mark.parametrize(
    ("name", "needs"),
    [("lineart", "sk_model.pth sk_model2.pth"), ("hed", "ControlNetHED.pth")],
)
def test_without_the_real_weights_offline_the_error_names_the_model_and_the_files(
    tmp_path, photo, name, needs
):
    picture, ref = photo
    settings = load_settings(
        profile="sd15", data_dir=tmp_path, offline=True, hf_cache_dir=tmp_path / "hf"
    )
    service = ExtractionService(settings)
    with pytest.raises(ModelUnavailable) as caught:
        service.extract(picture, ref, name)
    message = str(caught.value)
    assert "'lllyasviel/Annotators'" in message and str(tmp_path / "hf") in message
    assert f"hf download lllyasviel/Annotators {needs}" in message and "tiny" in message
    assert service.model_runs == 0


@pytest.mark.parametrize(
    ("name", "params", "says"),
    [
        ("lineart", {"coarse": "very"}, "coarse"),
        ("hed", {"scribble": True, "thickness": 3}, "thickness"),
        ("hed", {"detect_resolution": 8}, "detect_resolution"),
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
