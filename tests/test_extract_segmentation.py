"""Segmentation a user asks for: a class for every pixel, in the ADE20K classes the segmentation
ControlNet draws. UperNet by default, FCN with its VOC classes mapped into ADE20K; maps at the
photo's size whose listed classes are exactly the ones in them. Tiny random-weight models: the
classes are arbitrary, the shapes and bookkeeping are real."""

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from image_interpreter.artifacts.store import sha256_of
from image_interpreter.errors import ExtractionError, ModelUnavailable
from image_interpreter.extract import ExtractionService, find_extractor
from image_interpreter.extract.extractors.segmentation import VOC_TO_ADE20K
from image_interpreter.images import encode_png
from image_interpreter.priors.render import ADE20K_CLASSES, ADE20K_PALETTE, render_prior
from image_interpreter.priors.schema import ImageRef
from image_interpreter.settings import load_settings


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("segmentation")
    settings = load_settings(profile="tiny", data_dir=folder, device="cpu", models={})
    return ExtractionService(settings)


@pytest.fixture(scope="module")
def photo():
    """The astronaut at 128 x 96: not square, so width and height cannot be swapped unseen."""
    image = Image.fromarray(data.astronaut()).resize((128, 96))
    return image, ImageRef(sha256=sha256_of(encode_png(image)), width=128, height=96)


def _class_map(service, prior) -> np.ndarray:
    picture = Image.open(io.BytesIO(service.artifacts.get(prior.map.sha256)))
    assert picture.mode == "L"
    return np.asarray(picture)


def test_segmentation_means_upernet_and_fcn_is_there_by_name():
    assert find_extractor("segmentation").name == "segmentation.upernet"
    assert find_extractor("seg").name == "segmentation.upernet"
    assert find_extractor("fcn").name == "segmentation.fcn"


@pytest.mark.parametrize("name", ["segmentation", "segmentation.fcn"])
def test_a_photo_becomes_an_ade20k_class_map_at_its_size(service, photo, name):
    image, ref = photo
    prior = service.extract(image, ref, name)
    indices = _class_map(service, prior)
    assert indices.shape == (96, 128)
    present = set(np.unique(indices).tolist())
    labelled = present - {255}  # 255: unlabelled (FCN's background)
    assert all(index < len(ADE20K_CLASSES) for index in labelled)
    assert {c.index for c in prior.classes} == labelled
    assert all(c.label == ADE20K_CLASSES[c.index] for c in prior.classes)
    assert prior.palette == "ade20k"
    # ... and the segmentation ControlNet's control image is drawn in ADE20K's colours
    control = np.asarray(render_prior("segmentation", prior, (128, 96), service.artifacts.get))
    for index in labelled:
        assert (control[indices == index] == ADE20K_PALETTE[index]).all()


def test_fcn_classes_map_to_their_nearest_ade20k_class_and_background_to_unlabelled():
    from torchvision.models.segmentation import FCN_ResNet101_Weights

    voc = FCN_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1.meta["categories"]
    assert list(VOC_TO_ADE20K) == voc  # the table follows the model's class order
    assert VOC_TO_ADE20K["person"] == "person" and VOC_TO_ADE20K["dog"] == "animal"
    assert VOC_TO_ADE20K["__background__"] is None
    assert all(name is None or name in ADE20K_CLASSES for name in VOC_TO_ADE20K.values())


def test_segmenting_again_costs_nothing(service, photo):
    image, ref = photo
    first = service.extract(image, ref, "seg")
    runs = service.model_runs
    assert service.extract(image, ref, "seg") == first
    assert service.model_runs == runs
    restarted = ExtractionService(service.settings)
    assert restarted.extract(image, ref, "seg") == first
    assert restarted.model_runs == 0


@pytest.mark.parametrize(
    "name,expected",
    [
        ("segmentation", ["openmmlab/upernet-convnext-small", "hf download", "PROFILE=tiny"]),
        ("fcn", ["torchvision/fcn_resnet101", "download.pytorch.org", "torch-home", "tiny"]),
    ],
)
def test_a_missing_real_model_says_which_and_how_to_get_it(
    tmp_path, monkeypatch, photo, name, expected
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    settings = load_settings(
        profile="sd15", data_dir=tmp_path, offline=True, hf_cache_dir=tmp_path / "hf", models={}
    )
    service = ExtractionService(settings)
    with pytest.raises(ModelUnavailable) as caught:
        service.extract(*photo, name)
    for words in expected:
        assert words in str(caught.value)
    assert not list(service.cache_dir.rglob("*.json"))


@pytest.mark.parametrize(
    "params,message",
    [({"max_side": 10}, "max_side"), ({"colours": "bright"}, "colours")],
)
def test_wrong_parameters_are_refused(service, photo, params, message):
    with pytest.raises(ExtractionError, match=message):
        service.extract(*photo, "seg", params)
