"""Cross-session batching (`Generator.generate_many`) on the tiny models: two sessions' compatible
requests are drawn in one pipeline call, each candidate with its own seed, the pixels it has when
drawn alone (up to the batch-size rounding CPU kernels have) and a recipe that redraws it exactly;
requests that cannot share a call are drawn one call each, and one session's error or
cancellation leaves the other's candidates."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline
from test_generate_support import make_priors, png, tiny_settings

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.generate import (
    GenerationCancelled,
    GenerationError,
    GenerationRequest,
    Generator,
)
from image_interpreter.generate.batching import compatibility_key
from image_interpreter.priors.schema import ArtifactRef, CaptionPrior

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return tiny_settings(tmp_path_factory)


@pytest.fixture(scope="module")
def store(settings):
    return ArtifactStore(settings.artifacts_dir)


@pytest.fixture(scope="module")
def generator(settings):
    return Generator(settings)


@pytest.fixture(scope="module")
def first(store):
    """One session's picture: a woman in a park."""
    return make_priors(store)


@pytest.fixture(scope="module")
def second(store, first):
    """Another session's: another caption and another depth map, same weights and size."""
    size = first.source.width
    depth = np.tile(np.linspace(65535, 0, size).round().astype(np.uint16)[:, None], (1, size))
    other_depth = first.depth.model_copy(update={"map": ArtifactRef(sha256=store.put(png(depth)))})
    return first.model_copy(
        update={"caption": CaptionPrior(text="an old man on a beach"), "depth": other_depth}
    )


class PipelineCalls:
    """Counts the images of every text-to-image pipeline call."""

    def __init__(self, monkeypatch):
        self.images: list[int] = []
        for cls in (StableDiffusionPipeline, StableDiffusionControlNetPipeline):
            original = cls.__call__

            def call(pipe, *args, _original=original, **kwargs):
                self.images.append(len(kwargs["generator"]))
                return _original(pipe, *args, **kwargs)

            monkeypatch.setattr(cls, "__call__", call)


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def _rounding_apart(a, b) -> bool:
    """Equal but for float rounding: kernels are not bit-for-bit invariant to the batch size."""
    diff = np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int))
    return diff.max() <= 2 and (diff > 0).mean() < 0.005


def test_two_sessions_compatible_requests_share_one_call_and_keep_their_candidates(
    generator, first, second, store, monkeypatch
):
    requests = [
        GenerationRequest(priors=first, candidates=2, seed=11),
        GenerationRequest(priors=second, candidates=1, seed=40),
    ]
    alone = [generator.generate(r, read_artifact=store.get) for r in requests]
    calls, heard = PipelineCalls(monkeypatch), []
    together = generator.generate_many(
        requests, read_artifact=store.get, on_call=lambda ids, images: heard.append((ids, images))
    )
    assert calls.images == [3] and heard == [([0, 1], 3)]
    for batched, single in zip(together, alone, strict=True):
        assert [c.seed for c in batched] == [c.seed for c in single]
        assert [c.label for c in batched] == [c.label for c in single]
        for a, b in zip(batched, single, strict=True):
            assert _rounding_apart(a.image, b.image)
            call_shape = {"batch": 0, "batch_first": 0}
            assert a.recipe.model_copy(update=call_shape) == b.recipe.model_copy(update=call_shape)
            assert a.recipe.batch == 3 and a.recipe.batch_first == 0
    # Each session's rows are its own: the second's candidate is not the first's.
    assert not _rounding_apart(together[1][0].image, together[0][0].image)
    # A recipe redraws its candidate alone (rounding apart) and exactly in the same call shape.
    candidate = together[1][0]
    again = generator.regenerate(candidate.recipe, second, read_artifact=store.get, exact=True)
    assert _same(again.image, candidate.image)


def test_requests_that_cannot_share_a_call_are_drawn_one_call_each(
    generator, first, second, store, monkeypatch
):
    other_steps = GenerationRequest(priors=second, candidates=1, seed=3, steps=3)
    img2img = GenerationRequest(priors=second, candidates=1, seed=3, mode="img2img")
    base = GenerationRequest(priors=first, candidates=1, seed=3)
    key = compatibility_key(generator, base, store.get)
    assert key is not None and compatibility_key(generator, other_steps, store.get) != key
    assert compatibility_key(generator, img2img, store.get) is None
    calls = PipelineCalls(monkeypatch)
    drawn = generator.generate_many([base, other_steps], read_artifact=store.get)
    assert calls.images == [1, 1] and [len(d) for d in drawn] == [1, 1]


def test_one_sessions_bad_request_or_cancel_leaves_the_others_candidates(
    generator, first, second, store
):
    bad = GenerationRequest(priors=first.model_copy(update={"depth": None}), kinds=["depth"])
    good = GenerationRequest(priors=second, candidates=1, seed=5)
    cancelled = GenerationRequest(priors=first, candidates=1, seed=6)

    def stop(step, total, preview):
        raise GenerationCancelled("the user pressed stop")

    steps = []
    drawn = generator.generate_many(
        [bad, good, cancelled],
        read_artifact=store.get,
        progress=[None, lambda step, total, preview: steps.append((step, total)), stop],
    )
    assert isinstance(drawn[0], GenerationError) and "depth" in str(drawn[0])
    assert isinstance(drawn[2], GenerationCancelled)
    alone = generator.generate(good, read_artifact=store.get)
    assert _rounding_apart(drawn[1][0].image, alone[0].image)
    assert steps[-1] == (2, 2)
