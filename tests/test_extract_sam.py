"""Objects as masks: SAM finds everything in a photo, or the one thing a box or point shows, and
CLIP names each mask from a vocabulary. Tiny random-weight models: the masks are arbitrary, but
they are binary, at the photo's size, inside their boxes, named from the vocabulary, and they are
what inpainting would repaint."""

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from image_interpreter.artifacts.store import sha256_of
from image_interpreter.errors import ExtractionError, ModelUnavailable
from image_interpreter.extract import ExtractionService, find_extractor
from image_interpreter.images import encode_png
from image_interpreter.priors import PriorSet
from image_interpreter.priors.render import render_inpaint_mask
from image_interpreter.priors.schema import ImageRef
from image_interpreter.settings import load_settings

VOCABULARY = ("person", "sky", "rocket", "flag")
# A random SAM rates its own masks poorly: let every mask through, on a small grid of prompts.
EVERYTHING = {"points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sam")
    settings = load_settings(profile="tiny", data_dir=folder, device="cpu", models={})
    return ExtractionService(settings)


@pytest.fixture(scope="module")
def photo():
    """The astronaut at 128 x 96: not square, so width and height cannot be swapped unseen."""
    image = Image.fromarray(data.astronaut()).resize((128, 96))
    return image, ImageRef(sha256=sha256_of(encode_png(image)), width=128, height=96)


def _mask(service, item) -> np.ndarray:
    picture = Image.open(io.BytesIO(service.artifacts.get(item.mask.sha256)))
    assert picture.mode == "L"
    return np.asarray(picture)


def _check_objects(service, prior, vocabulary=VOCABULARY):
    """Every object: a 0/255 mask at the photo's size, its box just enclosing it, a named label."""
    assert prior.objects
    for item in prior.objects:
        mask = _mask(service, item)
        assert mask.shape == (96, 128)
        assert set(np.unique(mask).tolist()) <= {0, 255} and mask.any()
        ys, xs = np.nonzero(mask)
        box = item.box
        assert (box.x0, box.y0) == (xs.min() / 128, ys.min() / 96)
        assert (box.x1, box.y1) == ((xs.max() + 1) / 128, (ys.max() + 1) / 96)
        assert item.label in vocabulary
        assert 0.0 <= item.score <= 1.0


def test_objects_means_sam_and_a_mask_is_a_prompted_sam():
    assert find_extractor("objects").name == "objects.sam"
    assert find_extractor("sam").name == "objects.sam"
    assert find_extractor("masks").name == "objects.sam"
    assert find_extractor("mask").name == "objects.sam_prompted"


def test_sam_finds_objects_with_masks_boxes_and_labels_from_the_vocabulary(service, photo):
    prior = service.extract(*photo, "objects", EVERYTHING | {"vocabulary": VOCABULARY})
    _check_objects(service, prior)
    areas = [int(_mask(service, item).astype(bool).sum()) for item in prior.objects]
    assert areas == sorted(areas, reverse=True)  # largest first


def test_when_sam_finds_nothing_the_objects_are_empty_not_an_error(service, photo):
    prior = service.extract(*photo, "objects", {"points_per_side": 4})  # SAM's own quality bars
    assert prior.objects == []


def test_a_box_prompt_masks_the_thing_in_it_and_adds_it_to_the_objects(service, photo):
    image, ref = photo
    found = service.extract_into(PriorSet(source=ref), image, ["objects"],
                                 {"objects": EVERYTHING | {"labels": "none"}})  # fmt: skip
    box = {"box": (0.25, 0.1, 0.75, 0.9), "vocabulary": VOCABULARY}
    priors = service.extract_into(found, image, ["mask"], {"mask": box})
    assert priors.objects.objects[:-1] == found.objects.objects
    masked = priors.objects.model_copy(update={"objects": priors.objects.objects[-1:]})
    _check_objects(service, masked)
    # the mask is exactly what inpainting repaints when the user replaces that object
    last = len(priors.objects.objects) - 1
    repaint = render_inpaint_mask(priors.objects, (128, 96), service.artifacts.get, select=[last])
    assert (np.asarray(repaint) == _mask(service, priors.objects.objects[-1])).all()


def test_a_point_prompt_with_a_known_name_keeps_that_name(service, photo):
    prior = service.extract(*photo, "mask", {"points": [(0.5, 0.4)], "label": "astronaut"})
    _check_objects(service, prior, vocabulary=("astronaut",))


def test_labels_can_be_switched_off(service, photo):
    prior = service.extract(*photo, "objects", EVERYTHING | {"labels": "none"})
    _check_objects(service, prior, vocabulary=("object",))


def test_asking_again_costs_nothing(service, photo):
    params = {"box": (0.1, 0.1, 0.6, 0.6), "labels": "none"}
    first = service.extract(*photo, "mask", params)
    runs = service.model_runs
    assert service.extract(*photo, "mask", params) == first
    assert service.model_runs == runs


def test_a_missing_sam_checkpoint_says_which_file_and_how_to_get_it(tmp_path, photo):
    settings = load_settings(
        profile="sd15", data_dir=tmp_path, offline=True, hf_cache_dir=tmp_path / "hf", models={}
    )
    with pytest.raises(ModelUnavailable) as caught:
        ExtractionService(settings).extract(*photo, "objects")
    message = str(caught.value)
    for words in ("ybelkada/segment-anything", "checkpoints/sam_vit_b_01ec64.pth", "PROFILE=tiny"):
        assert words in message


def test_a_missing_clip_model_is_named_when_labels_are_asked_for(tmp_path, photo):
    clip = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    settings = load_settings(profile="tiny", data_dir=tmp_path, offline=True,
                             hf_cache_dir=tmp_path / "hf", models={"clip": clip})  # fmt: skip
    service = ExtractionService(settings)
    with pytest.raises(ModelUnavailable, match=f"{clip}.*open_clip_config.json"):
        service.extract(*photo, "mask", {"box": (0.2, 0.2, 0.8, 0.8)})
    unlabelled = service.extract(*photo, "mask", {"box": (0.2, 0.2, 0.8, 0.8), "labels": "none"})
    assert [item.label for item in unlabelled.objects] == ["object"]


@pytest.mark.parametrize(
    "name,params,message",
    [
        ("mask", {"points": [(1.5, 0.2)]}, "points"),
        ("mask", {}, "at least one point or a box"),
        ("mask", {"box": (0.8, 0.2, 0.1, 0.9)}, "x0 < x1"),
        ("objects", {"labels": "captions"}, "labels"),
        ("objects", {"vocabulary": ["dog", " "]}, "empty"),
    ],
)
def test_wrong_parameters_are_refused_before_any_work(service, photo, name, params, message):
    runs = service.model_runs
    with pytest.raises(ExtractionError, match=message):
        service.extract(*photo, name, params)
    assert service.model_runs == runs
