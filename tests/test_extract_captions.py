"""Captions, region captions and questions about one object, on the tiny profile: random-weight
Florence-2 and BLIP write gibberish, so these check what a user relies on around the words (kinds,
boxes, limits, merging, caching, errors); Bedrock runs against botocore's Stubber (no network)."""

import io

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber
from PIL import Image
from skimage import data

from image_interpreter.errors import ExtractionError, ModelUnavailable
from image_interpreter.extract import ExtractionService, find_extractor
from image_interpreter.extract.extractors.bedrock import CAPTION_PROMPT, image_bytes
from image_interpreter.extract.extractors.captions import answer_question
from image_interpreter.extract.extractors.florence2 import florence2, labelled_boxes, loc_tokens
from image_interpreter.images import encode_png
from image_interpreter.priors.schema import Box, CaptionPrior, ImageRef, PriorSet, Tag
from image_interpreter.settings import load_settings

FAST = {"max_new_tokens": 8, "num_beams": 1}
HER = Box(x0=0.3, y0=0.1, x1=0.8, y1=1.0)
FLAG = Box(x0=0.0, y0=0.0, x1=0.25, y1=0.5)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny-models")  # built once for the whole file


@pytest.fixture(scope="module")
def photo():
    return Image.fromarray(data.astronaut()).resize((128, 128))


@pytest.fixture
def service(tmp_path, tiny_dir):
    return ExtractionService(load_settings(profile="tiny", data_dir=tmp_path, tiny_dir=tiny_dir))


def _source(service, photo) -> ImageRef:
    sha = service.artifacts.put(encode_png(photo))
    return ImageRef(sha256=sha, width=photo.width, height=photo.height)


def _token_counts(monkeypatch, model) -> list[int]:
    """How many tokens each generate() call returned (the decoder's start token included)."""
    counts: list[int] = []
    generate = model.generate

    def counting(*args, **kwargs):
        ids = generate(*args, **kwargs)
        counts.append(ids.shape[-1])
        return ids

    monkeypatch.setattr(model, "generate", counting)
    return counts


def test_asking_for_a_caption_gets_florence2_words_once(service, photo):
    assert find_extractor("caption").name == "caption.florence2"
    priors = PriorSet(source=_source(service, photo))
    first = service.extract_into(priors, photo, ["caption"], {"caption": FAST})
    caption = first.caption
    assert isinstance(caption.text, str) and isinstance(caption.detailed, str)
    assert "<loc_" not in caption.text and caption.regions == []
    assert caption.provenance.extractor == "caption.florence2"
    assert caption.provenance.model_id == "tiny/florence2"
    again = service.extract_into(priors, photo, ["caption"], {"caption": FAST})
    assert service.model_runs == 1 and again == first


@pytest.mark.parametrize(
    "name, model",
    [("caption", "florence"), ("blip", "blip"), ("ask", "blip")],
)
def test_answers_stop_at_the_token_limit(service, photo, monkeypatch, name, model):
    extractor = service.instance(name)
    extractor.ensure_loaded()
    counts = _token_counts(monkeypatch, getattr(extractor, model).model)
    params = {"max_new_tokens": 3}
    params |= {"question": "what is this?"} if name == "ask" else {"num_beams": 1}
    service.extract(photo, _source(service, photo), name, params)
    assert counts and max(counts) <= 3 + 1


@pytest.mark.parametrize("name", ["caption.florence2", "caption.blip"])
def test_regions_the_user_points_at_get_their_own_captions(service, photo, name):
    prior = service.extract(photo, _source(service, photo), name, {"boxes": [HER, FLAG], **FAST})
    assert [region.box for region in prior.regions] == [HER, FLAG]
    assert all(isinstance(region.text, str) for region in prior.regions)


def test_florence2_finds_regions_by_itself(service, photo):
    prior = service.extract(photo, _source(service, photo), "caption", {"regions": True, **FAST})
    for region in prior.regions:  # random weights may find nothing; what it finds is in frame
        assert 0 <= region.box.x0 <= region.box.x1 <= 1 and 0 <= region.box.y0 <= region.box.y1 <= 1


def test_florence2_locations_read_and_write_as_normalised_boxes(service):
    assert loc_tokens(Box(x0=0.1, y0=0.2, x1=0.3, y1=1.0)) == "<loc_100><loc_200><loc_300><loc_999>"
    florence = florence2(service.settings)
    rocket = "a rocket<loc_100><loc_200><loc_300><loc_999>"
    flag = "a flag<loc_500><loc_0><loc_400><loc_100>"  # corners swapped: still one box
    found = labelled_boxes(florence.parse(f"</s><s>{rocket}{flag}</s>", "<DENSE_REGION_CAPTION>"))
    assert [label for label, _ in found] == ["a rocket", "a flag"]
    boxes = [tuple(box.model_dump().values()) for _, box in found]  # bin centres, normalised
    assert boxes[0] == pytest.approx((0.1005, 0.2005, 0.3005, 0.9995))
    assert boxes[1] == pytest.approx((0.4005, 0.0005, 0.5005, 0.1005))


def test_a_new_caption_keeps_the_tags_and_the_users_style(service, photo):
    existing = CaptionPrior(text="old words", tags=[Tag(label="rocket", score=0.9)],
                            style=["watercolour"], negative="blurry")  # fmt: skip
    priors = PriorSet(source=_source(service, photo), caption=existing)
    caption = service.extract_into(priors, photo, ["blip"], {"blip": FAST}).caption
    assert caption.provenance.extractor == "caption.blip" and isinstance(caption.text, str)
    assert caption.tags == existing.tags and caption.style == ["watercolour"]
    assert caption.negative == "blurry"


def test_asking_what_she_holds_answers_in_words_and_joins_the_caption(service, photo):
    source = _source(service, photo)
    answer = answer_question(service, photo, source, "what is she holding?", HER)
    assert isinstance(answer, str)
    assert answer_question(service, photo, source, "  what is she holding?", HER) == answer
    assert service.model_runs == 1  # the same question again is a cache read
    existing = CaptionPrior(text="an astronaut", tags=[Tag(label="space suit")])
    asked = {"ask": {"question": "what is she holding?", "box": HER}}
    caption = service.extract_into(
        PriorSet(source=source, caption=existing), photo, ["ask"], asked
    ).caption
    assert caption.text == "an astronaut" and caption.tags == existing.tags
    assert [(r.box, r.text) for r in caption.regions] == [(HER, answer)]
    direct = service.instance("ask").ask(photo, "what colour is the sky?")
    assert isinstance(direct, str)
    with pytest.raises(ExtractionError, match="Cannot ask"):
        service.instance("ask").ask(photo, "   ")


@pytest.mark.parametrize(
    "name, model",
    [
        ("caption", "florence-community/Florence-2-base"),
        ("caption.blip", "Salesforce/blip-image-captioning-base"),
        ("caption.query", "Salesforce/blip-vqa-base"),
    ],
)
def test_without_the_real_model_the_error_names_it_and_the_way_out(tmp_path, photo, name, model):
    settings = load_settings(profile="sd15", data_dir=tmp_path, offline=True,
                             hf_cache_dir=tmp_path / "hf")  # fmt: skip
    service = ExtractionService(settings)
    params = {"question": "what is she holding?"} if name == "caption.query" else {}
    with pytest.raises(ModelUnavailable) as raised:
        service.extract(photo, _source(service, photo), name, params)
    message = str(raised.value)
    assert model in message and str(tmp_path / "hf") in message and "tiny" in message


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("caption", {"max_new_tokens": 0}, "max_new_tokens"),
        ("caption", {"boxes": [{"x0": 0.6, "y0": 0, "x1": 0.2, "y1": 1}]}, "x0 <= x1"),
        ("blip", {"detailed": True}, "detailed"),
        ("ask", {}, "question"),
        ("ask", {"question": "   "}, "question"),
        ("bedrock", {"temperature": 3}, "temperature"),
    ],
)
def test_wrong_parameters_are_refused_before_any_work(service, photo, name, params, message):
    with pytest.raises(ExtractionError, match=message):
        service.extract(photo, _source(service, photo), name, params)
    assert service.model_runs == 0


# --- Amazon Bedrock ------------------------------------------------------------------------------

NOVA = "us.amazon.nova-lite-v1:0"


@pytest.fixture
def bedrock(tmp_path, monkeypatch):
    """A service whose Bedrock client is stubbed: every call must be one the test expects."""
    settings = load_settings(profile="tiny", data_dir=tmp_path, models={"caption.bedrock": NOVA})
    service = ExtractionService(settings)
    client = boto3.client("bedrock-runtime", region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    monkeypatch.setattr(service.instance("bedrock"), "new_client", lambda: client)
    with Stubber(client) as stubber:
        yield service, stubber
        stubber.assert_no_pending_responses()


def _reply(text):
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1200, "outputTokens": 14, "totalTokens": 1214},
        "metrics": {"latencyMs": 420},
    }


def test_bedrock_is_sent_the_photo_and_its_caption_is_kept(bedrock, photo):
    service, stubber = bedrock
    sent = image_bytes(photo, 1024)
    request = {
        "modelId": NOVA,
        "messages": [{"role": "user", "content": [
            {"image": {"format": "jpeg", "source": {"bytes": sent}}},
            {"text": CAPTION_PROMPT},
        ]}],
        "inferenceConfig": {"maxTokens": 300, "temperature": 0.2},
    }  # fmt: skip
    stubber.add_response("converse", _reply(" An astronaut in a white suit\nholding a helmet. "),
                         request)  # fmt: skip
    source = _source(service, photo)
    caption = service.extract(photo, source, "bedrock")
    assert caption.text == "An astronaut in a white suit holding a helmet."
    assert caption.provenance.model_id == NOVA
    picture = Image.open(io.BytesIO(sent))
    assert picture.format == "JPEG" and picture.size == photo.size
    difference = np.abs(np.asarray(picture, float) - np.asarray(photo, float)).mean()
    assert difference < 8  # the photo itself, not some other picture
    service.extract(photo, source, "bedrock")  # cached: no second request
    assert service.model_runs == 1


@pytest.mark.parametrize(
    "code, status, fix",
    [
        ("AccessDeniedException", 403, "Model access"),
        ("ThrottlingException", 429, "try again"),
        ("ValidationException", 400, "inference profile"),
    ],
)
def test_bedrock_refusals_say_what_to_do(bedrock, photo, code, status, fix):
    service, stubber = bedrock
    stubber.add_client_error("converse", service_error_code=code, service_message="no",
                             http_status_code=status)  # fmt: skip
    with pytest.raises(ExtractionError, match=rf"{code}.*{fix}"):
        service.extract(photo, _source(service, photo), "bedrock")
    assert service.model_runs == 0 and not list(service.cache_dir.rglob("*.json"))


def test_bedrock_without_a_region_says_how_to_set_one(tmp_path, photo, monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    service = ExtractionService(load_settings(profile="tiny", data_dir=tmp_path))
    with pytest.raises(ExtractionError, match="AWS_REGION"):
        service.extract(photo, _source(service, photo), "bedrock")


def test_florence2_captions_and_region_captions_from_known_answers(service, photo, monkeypatch):
    """Known model answers through the real processor's post-processing: the caption's words,
    regions Florence-2 finds (labelled boxes), and the words for a region the user points at."""
    from image_interpreter.extract.extractors.florence2 import Florence2

    answers = {
        "<CAPTION>": "an astronaut with a flag",
        "<DETAILED_CAPTION>": "a woman in a white suit holds a flag<loc_5>",
        "<DENSE_REGION_CAPTION>": "a woman<loc_100><loc_100><loc_500><loc_900>"
        "a flag<loc_600><loc_0><loc_900><loc_300>",
        "<REGION_TO_DESCRIPTION>" + loc_tokens(FLAG): "a striped flag",
    }
    monkeypatch.setattr(
        Florence2, "generate", lambda self, image, prompt, **_: f"</s><s>{answers[prompt]}</s>"
    )
    params = {"detailed": True, "regions": True, "boxes": [FLAG], **FAST}
    caption = service.extract(photo, _source(service, photo), "caption.florence2", params)
    assert caption.text == "an astronaut with a flag"
    assert caption.detailed == "a woman in a white suit holds a flag"  # stray <loc_i> dropped
    texts = [region.text for region in caption.regions]
    assert texts == ["a woman", "a flag", "a striped flag"]
    woman, flag, _ = (tuple(r.box.model_dump().values()) for r in caption.regions)
    assert woman == pytest.approx((0.1005, 0.1005, 0.5005, 0.9005))
    assert flag == pytest.approx((0.6005, 0.0005, 0.9005, 0.3005))
    assert caption.regions[2].box == FLAG
