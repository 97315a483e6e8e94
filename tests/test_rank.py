"""Ranking candidates: the weighted arithmetic on constructed scores, then end to end on the tiny
profile: CLIP scores of real pictures, and priors extracted again through ExtractionService."""

import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data

from image_interpreter.extract import ExtractionService, Extractor
from image_interpreter.extract import base as extract_base
from image_interpreter.images import encode_png, load_image
from image_interpreter.priors.schema import CaptionPrior, DepthPrior, PriorSet
from image_interpreter.rank import (
    Candidate,
    CandidateScore,
    RankWeights,
    clip_cosines,
    clipscore,
    combine,
    load_clip,
    order,
    rank,
)
from image_interpreter.rank.clip import prompt_pieces
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

# --- arithmetic ----------------------------------------------------------------------------------


def test_only_the_parts_measured_count_and_their_weights_are_renormalised():
    score = combine({"clip": 0.8, "pose": 0.5, "depth": None})  # clip 0.5, pose 0.2 of the default
    assert score.weights == pytest.approx({"clip": 5 / 7, "pose": 2 / 7})
    assert score.total == pytest.approx((0.5 * 0.8 + 0.2 * 0.5) / 0.7)
    assert score.parts == {"clip": 0.8, "pose": 0.5}


def test_a_weight_of_zero_leaves_a_part_out():
    weights = RankWeights(clip=1.0, pose=0.0, edges=3.0)
    score = combine({"clip": 0.2, "pose": 1.0, "edges": 0.6}, weights)
    assert score.total == pytest.approx((1.0 * 0.2 + 3.0 * 0.6) / 4.0)
    assert set(score.parts) == {"clip", "edges"}
    assert combine({}, weights).total == 0.0


def test_weights_are_checked_and_parts_must_be_known():
    with pytest.raises(ValueError):
        RankWeights(clip=-1)
    with pytest.raises(ValueError, match="unknown score parts"):
        combine({"beauty": 1.0})


def test_best_total_first_and_ties_keep_their_order():
    totals = [combine({"clip": value}) for value in (0.2, 0.9, 0.5, 0.9)]
    assert order(totals) == [1, 3, 2, 0]


def test_a_score_survives_a_trip_through_a_session_record():
    score = combine({"clip": 0.7, "edges": 0.4}, details={"clip.cosine": 0.28, "pose.pck": 0.5})
    flat = score.flat()
    assert flat["total"] == score.total and flat["weight.clip"] == score.weights["clip"]
    assert CandidateScore.from_flat(flat) == score


def test_clipscore_scales_a_cosine_into_zero_to_one():
    assert clipscore(-0.3) == 0.0
    assert clipscore(0.2) == pytest.approx(0.5)
    assert clipscore(0.45) == 1.0


# --- end to end on tiny --------------------------------------------------------------------------


@pytest.fixture
def tiny(tmp_path):
    settings = load_settings(data_dir=tmp_path, profile="tiny", device="cpu")
    store = SessionStore.from_settings(settings)
    yield settings, store, ExtractionService(settings, store.artifacts)
    store.close()


def _photo_session(store, picture):
    session = store.create()
    image = session.add_image(encode_png(picture), "photo.png")
    priors = session.commit(PriorSet(source=image.ref))
    return session, priors, load_image(session.read_artifact(image.ref.sha256))


def test_clip_scores_real_pictures_in_one_batch_on_tiny(tiny):
    settings, _, _ = tiny
    pictures = [Image.fromarray(a) for a in (data.astronaut(), data.coffee(), data.chelsea())]
    priors = PriorSet(
        source={"sha256": "0" * 64, "width": 512, "height": 512},
        caption=CaptionPrior(text="a photo of a cat on a table"),
    )
    ranked = rank(pictures, priors, weights=RankWeights(clip=1.0), settings=settings, batch_size=2)
    assert sorted(r.index for r in ranked) == [0, 1, 2]
    assert [r.place for r in ranked] == [1, 2, 3]
    totals = [r.score.total for r in ranked]
    assert totals == sorted(totals, reverse=True)
    clip = load_clip(settings)
    for r in ranked:
        alone = clip_cosines(clip, [pictures[r.index]], "a photo of a cat on a table")[0]
        assert r.score.details["clip.cosine"] == pytest.approx(alone, abs=1e-5)  # batching
        assert r.score.parts == {"clip": pytest.approx(clipscore(alone), abs=1e-5)}
        assert r.score.total == r.score.parts["clip"]


def test_a_prompt_longer_than_clips_window_is_split_not_cut(tiny):
    settings, _, _ = tiny
    clip = load_clip(settings)
    prompt = "an astronaut in a white suit beside a flag, " * 20
    pieces = prompt_pieces(clip.tokenizer, prompt)
    window = clip.tokenizer.context_length
    assert len(pieces) > 1 and " ".join(pieces) == " ".join(prompt.split())
    assert all(len(clip.tokenizer.encode(piece)) <= window - 2 for piece in pieces)
    (cosine,) = clip_cosines(clip, [Image.fromarray(data.astronaut())], prompt)
    assert -1.0 <= cosine <= 1.0


def test_a_candidate_identical_to_the_source_has_edges_f1_one(tiny):
    _, store, service = tiny
    session, priors, photo = _photo_session(store, Image.fromarray(data.astronaut()))
    target = service.extract_into(priors, photo, ["edges"], put_artifact=session.put_artifact)
    blank = Image.new("RGB", photo.size, "black")
    ranked = rank(
        [Candidate(blank, seed=1), Candidate(photo, seed=2)],
        target,
        weights=RankWeights(clip=0.0),  # no caption, no CLIP: structure alone
        service=service,
        read_artifact=session.read_artifact,
        put_artifact=session.put_artifact,
    )
    best, worst = ranked
    assert (best.index, best.seed) == (1, 2)
    assert best.score.parts == {"edges": 1.0} and best.score.total == 1.0
    assert worst.score.parts == {"edges": 0.0}
    # the same picture has the same hash, so its edges came from the cache: one run for the blank
    assert best.sha256 == target.source.sha256
    assert service.model_runs == 2


def test_clip_and_priors_combine_into_a_total_with_its_parts(tiny):
    _, store, service = tiny
    session, priors, photo = _photo_session(store, Image.fromarray(data.astronaut()))
    target = service.extract_into(priors, photo, ["edges"], put_artifact=session.put_artifact)
    target = target.model_copy(update={"caption": CaptionPrior(text="an astronaut")})
    (only,) = rank([photo], target, service=service, read_artifact=session.read_artifact)
    assert set(only.score.parts) == {"clip", "edges"}
    expected = (0.5 * only.score.parts["clip"] + 0.05 * 1.0) / 0.55
    assert only.score.total == pytest.approx(expected)


class GreyDepth(Extractor):
    """A model-free depth 'estimator': brightness is nearness. Enough to test that ranking
    extracts again with the target's own extractor and measures depth up to scale and shift."""

    name = "depth.test_grey"
    kind = "depth"
    description = "test only"

    def extract(self, image, params, ctx):
        grey = np.asarray(image.convert("L"), dtype=np.uint16) * 257
        return DepthPrior(map=ctx.put_png(grey))


def test_depth_is_extracted_again_by_the_targets_extractor_up_to_scale_and_shift(tiny, monkeypatch):
    _, store, service = tiny
    monkeypatch.setitem(extract_base._REGISTRY, GreyDepth.name, GreyDepth)
    _, priors, photo = _photo_session(store, Image.fromarray(data.camera()).convert("RGB"))
    target = service.extract_into(priors, photo, [GreyDepth.name])
    assert target.depth.provenance.extractor == GreyDepth.name
    dimmer = Image.fromarray((np.asarray(photo) // 2 + 40).astype(np.uint8))
    inverted = ImageOps.invert(photo)
    ranked = rank([inverted, dimmer], target, weights=RankWeights(clip=0.0), service=service)
    assert ranked[0].index == 1
    assert ranked[0].score.parts["depth"] == pytest.approx(1.0, abs=0.01)
    assert ranked[1].score.parts["depth"] == 0.0


def test_the_clip_score_is_open_clips_own_cosine(tiny):
    """Checked against open_clip called directly on the same weights (not through our code):
    its preprocessing, its image and text towers, normalised, dot product."""
    import open_clip
    import torch

    from image_interpreter.models import resolve

    settings, _, _ = tiny
    pictures = [Image.fromarray(a).resize((96, 96)) for a in (data.astronaut(), data.coffee())]
    prompt = "a photo of a cup of coffee"
    priors = PriorSet(
        source={"sha256": "0" * 64, "width": 96, "height": 96}, caption=CaptionPrior(text=prompt)
    )
    ranked = rank(pictures, priors, weights=RankWeights(clip=1.0), settings=settings)
    name = f"local-dir:{resolve('clip', settings)}"
    model, _, preprocess = open_clip.create_model_and_transforms(name, require_pretrained=True)
    tokenizer = open_clip.get_tokenizer(name)
    with torch.no_grad():
        images = model.encode_image(torch.stack([preprocess(p) for p in pictures]))
        text = model.encode_text(tokenizer([prompt]))
    images = images / images.norm(dim=-1, keepdim=True)
    text = text / text.norm(dim=-1, keepdim=True)
    expected = (images @ text.T).squeeze(1).tolist()
    for r in ranked:
        assert r.score.details["clip.cosine"] == pytest.approx(expected[r.index], abs=1e-4)
        assert r.score.parts["clip"] == pytest.approx(min(1.0, 2.5 * max(expected[r.index], 0)))
