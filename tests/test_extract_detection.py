"""Finding things by name on the tiny profile: OWLv2 and Florence-2 grounding with random weights
(so what they find is arbitrary, but every box is normalised, labelled by a query and ranked), and
YOLOv5, which needs torch.hub and the network: only its opt-in gate and the conversion of its
results are tested, with torch.hub.load replaced by a stand-in."""

import pytest
import torch
from PIL import Image
from skimage import data

from image_interpreter.errors import ExtractionError, ModelUnavailable
from image_interpreter.extract import ExtractionService, find_extractor
from image_interpreter.images import encode_png
from image_interpreter.priors.schema import ImageRef
from image_interpreter.settings import load_settings

QUERIES = ["a rocket", "a flag", "a helmet"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="module")
def photo():
    return Image.fromarray(data.astronaut()).resize((128, 96))  # not square: OWLv2 pads


def _service(tmp_path, **settings) -> ExtractionService:
    return ExtractionService(load_settings(data_dir=tmp_path, **settings))


@pytest.fixture
def service(tmp_path, tiny_dir):
    return _service(tmp_path, profile="tiny", tiny_dir=tiny_dir)


def _source(service, photo) -> ImageRef:
    sha = service.artifacts.put(encode_png(photo))
    return ImageRef(sha256=sha, width=photo.width, height=photo.height)


def _check_ranked(objects, labels):
    for found in objects:
        assert found.label in labels
        box = found.box
        assert 0 <= box.x0 <= box.x1 <= 1 and 0 <= box.y0 <= box.y1 <= 1
        assert 0 <= found.score <= 1
    scores = [found.score for found in objects]
    assert scores == sorted(scores, reverse=True)


def test_finding_named_things_gives_ranked_normalised_boxes_once(service, photo):
    assert find_extractor("find").name == find_extractor("detect").name == "objects.owlv2"
    assert not find_extractor("objects.owlv2").default  # SAM's masks are the "objects" default
    source = _source(service, photo)
    params = {"queries": QUERIES, "threshold": 0.0, "max_objects": 5}
    prior = service.extract(photo, source, "find", params)
    assert 1 <= len(prior.objects) <= 5  # threshold 0 keeps boxes, random weights or not
    _check_ranked(prior.objects, QUERIES)
    assert prior.provenance.model_id == "tiny/owlv2"
    assert service.extract(photo, source, "find", params) == prior
    assert service.model_runs == 1


def test_a_high_threshold_finds_nothing_rather_than_guessing(service, photo):
    prior = service.extract(photo, _source(service, photo), "find",
                            {"queries": ["a unicorn"], "threshold": 1.0})  # fmt: skip
    assert prior.objects == []


def test_florence2_grounding_labels_boxes_with_the_query(service, photo):
    params = {"queries": ["a rocket"], "max_new_tokens": 12, "num_beams": 1}
    prior = service.extract(photo, _source(service, photo), "objects.florence2", params)
    _check_ranked(prior.objects, ["a rocket"])


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "queries"),
        ({"queries": []}, "queries"),
        ({"queries": ["  "]}, "queries"),
        ({"queries": ["dog"], "threshold": 2}, "threshold"),
    ],
)
def test_wrong_parameters_are_refused_before_any_work(service, photo, params, message):
    with pytest.raises(ExtractionError, match=message):
        service.extract(photo, _source(service, photo), "find", params)
    assert service.model_runs == 0


def test_without_the_real_model_the_error_names_it(tmp_path, photo):
    service = _service(tmp_path, profile="sd15", offline=True, hf_cache_dir=tmp_path / "hf")
    with pytest.raises(ModelUnavailable, match=r"google/owlv2-base-patch16-ensemble.*tiny"):
        service.extract(photo, _source(service, photo), "find", {"queries": ["dog"]})


# --- YOLOv5 through torch.hub --------------------------------------------------------------------


class Detections:
    """Shaped like YOLOv5's `Detections`: normalised xyxy + score + class per row, class names."""

    def __init__(self):
        self.xyxyn = [
            torch.tensor([
                [0.10, 0.20, 0.40, 0.90, 0.88, 0.0],
                [0.50, 0.10, 0.45, 0.30, 0.60, 16.0],  # corners swapped: still one box
                [0.00, 0.00, 0.20, 0.20, 0.10, 0.0],  # below the default threshold
            ])
        ]  # fmt: skip
        self.names = {0: "person", 16: "dog"}


class StandInYolo:
    def __init__(self):
        self.sizes = []

    def to(self, device):
        return self

    def eval(self):
        return self

    def __call__(self, image, size):
        self.sizes.append(size)
        return Detections()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """torch.hub.load replaced: records each call and returns the stand-in, never the network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls = []
    model = StandInYolo()

    def load(repo, entry, *args, **kwargs):
        calls.append((repo, entry, kwargs))
        return model

    monkeypatch.setattr(torch.hub, "load", load)
    return calls, model


def test_yolov5_runs_only_when_its_repository_is_trusted(tmp_path, photo, hub):
    calls, _ = hub
    service = _service(tmp_path, profile="sd15")
    with pytest.raises(ExtractionError, match=r"trusted_hub_repos.*AGPL") as raised:
        service.extract(photo, _source(service, photo), "yolo")
    assert "IMAGE_INTERPRETER_TRUSTED_HUB_REPOS='[\"ultralytics/yolov5\"]'" in str(raised.value)
    assert calls == [] and service.model_runs == 0


def test_trusted_yolov5_results_become_ranked_objects(tmp_path, photo, hub):
    calls, model = hub
    service = _service(tmp_path, profile="sd15", trusted_hub_repos=["ultralytics/yolov5"])
    prior = service.extract(photo, _source(service, photo), "objects.yolov5", {"size": 320})
    assert calls == [("ultralytics/yolov5", "yolov5s", {"trust_repo": True, "verbose": False})]
    assert model.sizes == [320]
    assert [o.label for o in prior.objects] == ["person", "dog"]
    assert [o.score for o in prior.objects] == pytest.approx([0.88, 0.6])
    person, dog = (tuple(o.box.model_dump().values()) for o in prior.objects)
    assert person == pytest.approx((0.1, 0.2, 0.4, 0.9))
    assert dog == pytest.approx((0.45, 0.1, 0.5, 0.3))
    only_dogs = service.extract(photo, _source(service, photo), "yolo", {"labels": ["Dog"]})
    assert [o.label for o in only_dogs.objects] == ["dog"]


def test_yolov5_offline_without_a_local_copy_says_how_to_get_one(tmp_path, photo, hub):
    service = _service(tmp_path, profile="sd15", offline=True,
                       trusted_hub_repos=["ultralytics/yolov5"])  # fmt: skip
    with pytest.raises(ModelUnavailable, match=r"ultralytics/yolov5.*torch.hub's cache at"):
        service.extract(photo, _source(service, photo), "yolo")
    assert hub[0] == []


def test_yolov5_has_no_tiny_model(tmp_path, photo, hub):
    service = _service(tmp_path, profile="tiny", trusted_hub_repos=["ultralytics/yolov5"])
    with pytest.raises(ModelUnavailable, match=r"objects\.owlv2"):
        service.extract(photo, _source(service, photo), "yolo")


def test_florence2_grounding_reads_known_answers_into_labelled_boxes(service, photo, monkeypatch):
    """Known model answers (Florence-2's <loc_i> bins) through the real processor's
    post-processing: each query's boxes come back labelled with it, normalised to bin centres."""
    from image_interpreter.extract.extractors.florence2 import Florence2

    answers = {
        "<OPEN_VOCABULARY_DETECTION>a rocket": "a rocket<loc_100><loc_200><loc_300><loc_400>",
        "<OPEN_VOCABULARY_DETECTION>a flag": "a flag<loc_500><loc_100><loc_600><loc_300>"
        "a flag<loc_0><loc_900><loc_50><loc_999>",
    }
    monkeypatch.setattr(
        Florence2, "generate", lambda self, image, prompt, **_: f"</s><s>{answers[prompt]}</s>"
    )
    params = {"queries": ["a rocket", "a flag"], "max_new_tokens": 12, "num_beams": 1}
    prior = service.extract(photo, _source(service, photo), "objects.florence2", params)
    found = sorted((o.label, tuple(o.box.model_dump().values())) for o in prior.objects)
    assert [label for label, _ in found] == ["a flag", "a flag", "a rocket"]
    assert found[0][1] == pytest.approx((0.0005, 0.9005, 0.0505, 0.9995))
    assert found[1][1] == pytest.approx((0.5005, 0.1005, 0.6005, 0.3005))
    assert found[2][1] == pytest.approx((0.1005, 0.2005, 0.3005, 0.4005))
    _check_ranked(prior.objects, ["a rocket", "a flag"])
