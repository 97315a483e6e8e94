"""Prior guidance during sampling, on the tiny models (64 px, 3 steps): every loss reaches the
latent, guiding lowers the guided prior's loss against the same seed unguided, weight 0 changes
nothing, a guided candidate is redrawn exactly from its recipe, and out of memory in a guided
step falls back to fewer guided steps, saying so."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_generate_support import make_priors, tiny_settings

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.generate import GenerationRequest, Generator
from image_interpreter.generate.guidance import Term, clean_latent, prepare_guidance
from image_interpreter.priors.schema import Guide, PriorSet

STEPS = 3
KINDS = ("depth", "people", "segmentation", "objects", "edges", "caption", "joint")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return tiny_settings(tmp_path_factory)


@pytest.fixture(scope="module")
def store(settings):
    return ArtifactStore(settings.artifacts_dir)


@pytest.fixture(scope="module")
def priors(store):
    return make_priors(store, candidates=1, steps=STEPS)


@pytest.fixture(scope="module")
def generator(settings):
    return Generator(settings)


def guided(priors: PriorSet, kind: str, weight: float, **guide) -> PriorSet:
    """`priors` with `kind` (or the joint loss) guiding at `weight`, the prior enabled."""
    chosen = Guide(weight=weight, **guide)
    if kind == "joint":
        generation = priors.generation.model_copy(update={"joint_guide": chosen})
        return priors.model_copy(update={"generation": generation})
    prior = getattr(priors, kind).model_copy(update={"guide": chosen, "enabled": True})
    return priors.model_copy(update={kind: prior})


def terms_for(generator: Generator, priors: PriorSet, store) -> tuple[list[Term], object]:
    components = generator.components
    guidance = prepare_guidance(
        priors, (64, 64), store.get, "a woman in a park", settings=generator.settings,
        base_vae=components.base.vae, device=components.device, dtype=components.dtype,
    )  # fmt: skip
    assert guidance is not None
    return guidance.terms, guidance.decoder


def draw(generator: Generator, priors: PriorSet, store, seed: int = 5, **kwargs):
    request = GenerationRequest(priors=priors, seed=seed, candidates=1, steps=STEPS)
    return generator.generate(request, read_artifact=store.get, **kwargs)[0]


def image_loss(term: Term, image) -> float:
    pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
    with torch.no_grad():
        return float(term.loss(pixels.permute(2, 0, 1)[None]))


@pytest.mark.parametrize("kind", KINDS)
def test_each_loss_sends_a_gradient_back_to_the_latent(generator, priors, store, kind):
    (term,), decoder = terms_for(generator, guided(priors, kind, 1.0), store)
    latent = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    latent.requires_grad_(True)
    loss = term.loss(decoder(latent))
    loss.sum().backward()
    assert loss.shape == (1,) and torch.isfinite(loss).all()
    assert latent.grad is not None and torch.isfinite(latent.grad).all()
    assert latent.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_guidance_lowers_its_priors_loss_against_the_same_seed_unguided(
    generator, priors, store, kind
):
    steered = guided(priors, kind, 4.0)
    (term,), _ = terms_for(generator, steered, store)
    plain = draw(generator, priors, store)
    notes: list[str] = []
    pulled = draw(generator, steered, store, notes=notes.append)
    assert image_loss(term, pulled.image) < image_loss(term, plain.image)
    assert sum("guided by" in note for note in notes) == STEPS
    assert pulled.recipe.prior_guidance.guided_steps == list(range(STEPS))


def test_weight_zero_or_no_step_in_range_gives_the_unguided_pixels(generator, priors, store):
    plain = draw(generator, priors, store)
    off = draw(generator, guided(priors, "depth", 0.0), store)
    outside = draw(generator, guided(priors, "edges", 3.0, start=0.9, end=0.95), store)
    assert np.array_equal(np.asarray(off.image), np.asarray(plain.image))
    assert off.recipe == plain.recipe and off.recipe.prior_guidance is None
    assert np.array_equal(np.asarray(outside.image), np.asarray(plain.image))
    assert outside.recipe.prior_guidance.guided_steps == []


def test_every_and_range_choose_the_guided_steps(generator, priors, store):
    request = GenerationRequest(
        priors=guided(priors, "edges", 2.0, start=0.2, every=2), seed=3, candidates=1, steps=6
    )
    drawn = generator.generate(request, read_artifact=store.get)[0]
    assert drawn.recipe.prior_guidance.guided_steps == [2, 4]


def test_a_guided_candidate_is_redrawn_exactly_from_its_recipe(generator, priors, store):
    steered = guided(guided(priors, "depth", 2.0), "edges", 1.0)
    request = GenerationRequest(priors=steered, seed=9, candidates=2, steps=STEPS)
    first, second = generator.generate(request, read_artifact=store.get)
    recipe = type(second.recipe).model_validate_json(second.recipe.model_dump_json())
    again = generator.regenerate(recipe, steered, read_artifact=store.get, exact=True)
    assert np.array_equal(np.asarray(again.image), np.asarray(second.image))
    kinds = [t.kind for t in recipe.prior_guidance.terms]
    assert kinds == ["depth", "edges"] and recipe.model_ids["extract.depth.depth_anything"]
    alone = generator.regenerate(first.recipe, steered, read_artifact=store.get)
    diff = np.abs(np.asarray(alone.image).astype(int) - np.asarray(first.image).astype(int))
    assert diff.max() <= 2  # drawn alone: the same guidance, batch-size rounding only


def test_out_of_memory_in_a_guided_step_guides_fewer_steps_and_says_so(
    generator, priors, store, monkeypatch
):
    from image_interpreter.generate.guidance import edges

    real = edges.EdgesLoss.__call__
    failures = iter([True])

    def sometimes_out_of_memory(self, images):
        if next(failures, False):
            raise torch.OutOfMemoryError("CUDA out of memory (test)")
        return real(self, images)

    monkeypatch.setattr(edges.EdgesLoss, "__call__", sometimes_out_of_memory)
    steered = guided(priors, "edges", 2.0)
    notes: list[str] = []
    request = GenerationRequest(priors=steered, seed=4, candidates=1, steps=5)
    drawn = generator.generate(request, read_artifact=store.get, notes=notes.append)[0]
    used = drawn.recipe.prior_guidance
    assert used.guided_steps == [2, 4]  # step 0 failed; then every second step
    assert "out of memory at step 1" in used.fallback
    assert any("every 2" in note for note in notes)
    monkeypatch.setattr(edges.EdgesLoss, "__call__", real)
    again = generator.regenerate(drawn.recipe, steered, read_artifact=store.get, exact=True)
    assert np.array_equal(np.asarray(again.image), np.asarray(drawn.image))


def test_the_clean_latent_is_read_for_ddim_and_euler_schedulers():
    from diffusers import DDIMScheduler, EulerDiscreteScheduler

    x0 = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    ddim = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    ddim.set_timesteps(10)
    t = ddim.timesteps[3]
    sample = ddim.add_noise(x0, noise, t[None])
    got, slope = clean_latent(ddim, noise, t, sample)
    assert torch.allclose(got, x0, atol=1e-4) and slope < 0
    euler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012
    )
    euler.set_timesteps(10)
    t = euler.timesteps[3]
    sample = euler.add_noise(x0, noise, t[None])
    got, slope = clean_latent(euler, noise, t, sample)
    assert torch.allclose(got, x0, atol=1e-4) and slope < 0


def test_a_bad_guide_is_refused_and_older_priors_keep_their_hash(priors):
    with pytest.raises(ValueError, match="before start"):
        Guide(weight=1.0, start=0.8, end=0.2)
    with pytest.raises(ValueError):
        Guide(weight=-1.0)
    assert "guide" not in priors.to_json()
    assert "guide" in guided(priors, "depth", 1.0).to_json()


def test_a_step_whose_gradient_is_not_finite_runs_unguided(generator, priors, store, monkeypatch):
    from image_interpreter.generate.guidance import edges

    monkeypatch.setattr(edges.EdgesLoss, "__call__", lambda self, images: images.sum() * np.nan)
    notes: list[str] = []
    drawn = draw(generator, guided(priors, "edges", 2.0), store, notes=notes.append)
    plain = draw(generator, priors, store)
    assert np.array_equal(np.asarray(drawn.image), np.asarray(plain.image))
    assert drawn.recipe.prior_guidance.guided_steps == []
    assert sum("not guided (the guidance gradient is not finite)" in n for n in notes) == STEPS
