"""Image tags on the tiny profile: random-weight torchvision classifiers pick arbitrary ImageNet
classes, but they are real class names, scored, ranked and merged into the caption prior without
touching its words. torch.hub classifiers are opt-in; their hub loading is stood in for."""

import pytest
import torch
import torchvision
from PIL import Image
from skimage import data

from image_interpreter.errors import ExtractionError, ModelUnavailable
from image_interpreter.extract import ExtractionService, find_extractor
from image_interpreter.images import encode_png
from image_interpreter.priors.schema import Box, CaptionPrior, ImageRef, PriorSet, RegionCaption
from image_interpreter.settings import load_settings

IMAGENET = set(torchvision.models.SqueezeNet1_1_Weights.IMAGENET1K_V1.meta["categories"])
WSL = "facebookresearch/WSL-Images"
SNNMLP = "huawei-noah/Efficient-AI-Backbones"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="module")
def photo():
    return Image.fromarray(data.astronaut()).resize((128, 128))


@pytest.fixture(autouse=True)
def _torch_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # never the machine's own cache


def _service(tmp_path, **settings) -> ExtractionService:
    return ExtractionService(load_settings(data_dir=tmp_path, **settings))


@pytest.fixture
def service(tmp_path, tiny_dir):
    return _service(tmp_path, profile="tiny", tiny_dir=tiny_dir)


def _source(service, photo) -> ImageRef:
    sha = service.artifacts.put(encode_png(photo))
    return ImageRef(sha256=sha, width=photo.width, height=photo.height)


def _check_tags(tags, k):
    assert 1 <= len(tags) <= k
    assert {tag.label for tag in tags} <= IMAGENET
    scores = [tag.score for tag in tags]
    assert all(0 <= score <= 1 for score in scores) and scores == sorted(scores, reverse=True)


def test_tags_are_imagenet_classes_ranked_by_probability_and_cached(service, photo):
    assert find_extractor("tags").name == "tags.squeezenet"
    assert find_extractor("caption").name == "caption.florence2"  # tags are not captions
    priors = PriorSet(source=_source(service, photo))
    params = {"tags": {"k": 3, "min_score": 0.0}}
    first = service.extract_into(priors, photo, ["tags"], params)
    _check_tags(first.caption.tags, 3)
    assert len(first.caption.tags) == 3 and first.caption.text == ""
    assert first.caption.provenance.model_id == "tiny/squeezenet1_1"
    assert service.extract_into(priors, photo, ["tags"], params) == first
    assert service.model_runs == 1


def test_a_confident_cut_drops_the_unlikely_tags(service, photo):
    prior = service.extract(photo, _source(service, photo), "tags", {"k": 10, "min_score": 0.9})
    assert all(tag.score >= 0.9 for tag in prior.tags)  # random weights: likely none at all


def test_tags_join_an_existing_caption_without_changing_its_words(service, photo):
    region = RegionCaption(box=Box(x0=0.3, y0=0.1, x1=0.8, y1=1.0), text="an astronaut")
    existing = CaptionPrior(text="a woman in a space suit", regions=[region], style=["photo"])
    priors = PriorSet(source=_source(service, photo), caption=existing)
    params = {"tags": {"min_score": 0.0}, "densenet": {"k": 4, "min_score": 0.0}}
    caption = service.extract_into(priors, photo, ["tags", "densenet"], params).caption
    assert caption.text == existing.text and caption.regions == [region]
    assert caption.style == ["photo"]
    _check_tags(caption.tags, 5 + 4)
    assert len({tag.label for tag in caption.tags}) == len(caption.tags)  # one tag per class


@pytest.mark.parametrize("name, repo", [("tags.resnext_wsl", WSL), ("tags.snnmlp", SNNMLP)])
def test_torch_hub_classifiers_need_their_repository_trusted(service, photo, name, repo):
    with pytest.raises(ExtractionError, match=rf"'{repo}'.*trusted_hub_repos"):
        service.extract(photo, _source(service, photo), name)
    assert service.model_runs == 0


@pytest.mark.parametrize("name, repo", [("tags.resnext_wsl", WSL), ("tags.snnmlp", SNNMLP)])
def test_trusted_torch_hub_classifiers_run_their_tiny_stand_ins(tmp_path, tiny_dir, photo,
                                                                 name, repo):  # fmt: skip
    service = _service(tmp_path, profile="tiny", tiny_dir=tiny_dir, trusted_hub_repos=[repo])
    prior = service.extract(photo, _source(service, photo), name, {"min_score": 0.0})
    _check_tags(prior.tags, 5)


@pytest.mark.parametrize(
    "name, repo, entry, extra",
    [
        ("tags.resnext_wsl", WSL, "resnext101_32x8d_wsl", {}),
        ("tags.snnmlp", SNNMLP, "snnmlp_t", {"pretrained": True}),
    ],
)
def test_trusted_torch_hub_classifiers_load_through_torch_hub(
    tmp_path, photo, monkeypatch, name, repo, entry, extra
):
    calls = []

    def load(repo_or_dir, model, *args, **kwargs):
        calls.append((repo_or_dir, model, kwargs))
        return torchvision.models.squeezenet1_1()  # stands in for the hub's network

    monkeypatch.setattr(torch.hub, "load", load)
    service = _service(tmp_path, profile="sd15", trusted_hub_repos=[repo.upper()])
    prior = service.extract(photo, _source(service, photo), name, {"min_score": 0.0})
    assert calls == [(repo, entry, {"trust_repo": True, "verbose": False, **extra})]
    _check_tags(prior.tags, 5)


def test_without_the_real_weights_the_error_names_them_and_the_cache(tmp_path, photo):
    service = _service(tmp_path, profile="sd15", offline=True)
    with pytest.raises(ModelUnavailable) as raised:
        service.extract(photo, _source(service, photo), "tags")
    message = str(raised.value)
    assert "torchvision/SqueezeNet1_1_Weights.IMAGENET1K_V1" in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message and "tiny" in message


@pytest.mark.parametrize(
    "params, message",
    [({"k": 0}, "k"), ({"min_score": 1.5}, "min_score"), ({"top": 3}, "top")],
)
def test_wrong_parameters_are_refused_before_any_work(service, photo, params, message):
    with pytest.raises(ExtractionError, match=message):
        service.extract(photo, _source(service, photo), "tags", params)
    assert service.model_runs == 0
