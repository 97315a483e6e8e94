"""The generator on a tiny SDXL (64x64, 2 steps): the XL pipelines from one shared base, two text
encoders with pooled embeddings and long prompts, ordinary and union ControlNets (alone, together
and mixed), every mode, batching, and seeds that redraw the same pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from diffusers import (
    ControlNetModel,
    ControlNetUnionModel,
    MultiControlNetModel,
    StableDiffusionXLControlNetPipeline,
    StableDiffusionXLControlNetUnionPipeline,
    StableDiffusionXLPipeline,
)
from diffusers.models import MultiControlNetUnionModel
from PIL import Image
from test_generate_support import SIZE, make_priors, tiny_settings

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.generate import GenerationRequest, Generator
from image_interpreter.generate.routing import union_mode
from image_interpreter.priors.render import render_controls

STEPS = 2
BASE = "tiny/sdxl-base"
PLAIN = "tiny/sdxl-controlnet"
UNION = "tiny/sdxl-controlnet-union"
# As the sdxl profile: own ControlNets for pose, depth and Canny, one union model for the rest.
MODELS = {
    "sd.base": BASE,
    "controlnet.pose": PLAIN,
    "controlnet.depth": PLAIN,
    "controlnet.canny": PLAIN,
    "controlnet.segmentation": UNION,
    "controlnet.lineart": UNION,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return tiny_settings(tmp_path_factory, models=MODELS)


@pytest.fixture(scope="module")
def store(settings):
    return ArtifactStore(settings.artifacts_dir)


@pytest.fixture(scope="module")
def priors(store):
    return make_priors(store)


@pytest.fixture(scope="module")
def union_priors(priors):
    """Segmentation enabled and line-art edges: both drawn by the union model."""
    segmentation = priors.segmentation.model_copy(update={"enabled": True, "weight": 0.7})
    edges = priors.edges.model_copy(update={"method": "lineart"})
    return priors.model_copy(update={"segmentation": segmentation, "edges": edges})


@pytest.fixture(scope="module")
def generator(settings):
    return Generator(settings)


def _pixels(candidates):
    return [np.asarray(c.image) for c in candidates]


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


class Calls:
    """Records the keyword arguments of calls to the given pipeline classes."""

    def __init__(self, monkeypatch, *classes):
        self.kwargs: list[dict] = []
        for cls in classes:
            original = cls.__call__

            def call(pipe, *args, _original=original, **kwargs):
                self.kwargs.append(kwargs)
                return _original(pipe, *args, **kwargs)

            monkeypatch.setattr(cls, "__call__", call)


# --- modes ----------------------------------------------------------------------------------


def test_combined_with_two_controlnets_in_one_batched_call(generator, priors, store, monkeypatch):
    calls = Calls(monkeypatch, StableDiffusionXLControlNetPipeline)
    candidates = generator.generate(
        GenerationRequest(priors=priors, kinds=["people", "depth"], candidates=3),
        read_artifact=store.get,
    )
    (kwargs,) = calls.kwargs  # N candidates, one call
    assert kwargs["num_images_per_prompt"] == 3
    assert [g.initial_seed() for g in kwargs["generator"]] == [11, 12, 13]
    assert kwargs["prompt_embeds"].shape == (1, 77, 64)  # both encoders' features, joined
    assert kwargs["pooled_prompt_embeds"].shape == (1, 32)
    assert not kwargs["negative_pooled_prompt_embeds"].any()  # empty negative: zeros, as SDXL
    assert kwargs["controlnet_conditioning_scale"] == [0.9, 0.6] and len(kwargs["image"]) == 2
    assert [c.seed for c in candidates] == [11, 12, 13]
    assert len({np.asarray(c.image).tobytes() for c in candidates}) == 3
    for candidate in candidates:
        recipe = candidate.recipe
        assert candidate.image.size == (SIZE, SIZE) and candidate.image.mode == "RGB"
        assert recipe.pipeline == "StableDiffusionXLControlNetPipeline"
        assert recipe.base_pipeline == "StableDiffusionXLPipeline"
        assert recipe.model_ids == {
            "sd.base": BASE, "controlnet.pose": PLAIN, "controlnet.depth": PLAIN,
        }  # fmt: skip
        assert [(u.kind, u.control_mode) for u in recipe.controls] == [
            ("people", None), ("depth", None),
        ]  # fmt: skip
        assert recipe.scheduler == "EulerDiscreteScheduler" and recipe.batch == 3


def test_same_pixels_as_the_bare_diffusers_call(generator, priors, store):
    """Our request is exactly a diffusers SDXL call: same embeddings (pooled included, the empty
    negative zeroed), controls, seeds, pixels."""
    ours = generator.generate(
        GenerationRequest(priors=priors, kinds=["people", "depth"]), read_artifact=store.get
    )
    pipe = generator.components.pipeline("text", ("controlnet.pose", "controlnet.depth"))
    controls = render_controls(priors, (SIZE, SIZE), store.get)
    bare = pipe(
        prompt=ours[0].recipe.prompt,
        image=[controls["people"], controls["depth"]],
        height=SIZE,
        width=SIZE,
        num_inference_steps=STEPS,
        guidance_scale=ours[0].recipe.guidance,  # the priors' 7.5, not SDXL's default 5
        num_images_per_prompt=2,
        generator=[torch.Generator().manual_seed(s) for s in (11, 12)],
        controlnet_conditioning_scale=[0.9, 0.6],
        control_guidance_start=[0.0, 0.1],
        control_guidance_end=[0.8, 1.0],
    ).images
    assert all(_same(a, b) for a, b in zip(_pixels(ours), bare, strict=True))


@pytest.mark.parametrize(
    ("mode", "pipeline", "strength"),
    [
        ("img2img", "StableDiffusionXLControlNetImg2ImgPipeline", 0.75),
        ("inpaint", "StableDiffusionXLControlNetInpaintPipeline", 1.0),
    ],
)
def test_img2img_and_inpaint(generator, priors, store, mode, pipeline, strength):
    candidates = generator.generate(
        GenerationRequest(priors=priors, mode=mode, kinds=["people", "edges"]),
        read_artifact=store.get,
    )
    assert [c.label for c in candidates] == [mode] * 2
    for c in candidates:
        assert c.image.size == (SIZE, SIZE)
        assert c.recipe.pipeline == pipeline and c.recipe.strength == strength
        assert c.recipe.base_pipeline == "StableDiffusionXLPipeline"
    if mode == "inpaint":
        assert candidates[0].recipe.inpaint.replaced == [0]
        source = np.asarray(Image.open(io.BytesIO(store.get(priors.source.sha256))))
        out = np.asarray(candidates[0].image)
        assert np.array_equal(out[30:34, 0:4], source[30:34, 0:4])  # kept far from the masks
        assert not np.array_equal(out[12:20, 12:20], source[12:20, 12:20])  # repainted


def test_plain_img2img_and_inpaint_without_controlnets(generator, priors, store):
    for mode, pipeline in [
        ("img2img", "StableDiffusionXLImg2ImgPipeline"),
        ("inpaint", "StableDiffusionXLInpaintPipeline"),
    ]:
        (candidate,) = generator.generate(
            GenerationRequest(priors=priors, mode=mode, kinds=[], candidates=1),
            read_artifact=store.get,
        )
        assert candidate.recipe.pipeline == pipeline and candidate.image.size == (SIZE, SIZE)


@pytest.mark.parametrize("mode", ["combined", "img2img", "inpaint"])
def test_same_seed_same_pixels_and_each_candidate_redraws(generator, priors, store, mode):
    request = GenerationRequest(priors=priors, mode=mode, kinds=["people", "depth"], seed=5)
    first = generator.generate(request, read_artifact=store.get)
    again = generator.generate(request, read_artifact=store.get)
    assert all(_same(a, b) for a, b in zip(_pixels(first), _pixels(again), strict=True))
    exact = generator.regenerate(first[1].recipe, priors, read_artifact=store.get, exact=True)
    assert exact.seed == 6 and _same(exact.image, first[1].image)


# --- union ControlNets --------------------------------------------------------------------------


def test_union_controls_run_in_their_mode_through_the_union_pipelines(
    generator, union_priors, store, monkeypatch
):
    calls = Calls(monkeypatch, StableDiffusionXLControlNetUnionPipeline)
    candidates = generator.generate(
        GenerationRequest(
            priors=union_priors, mode="per_prior", kinds=["segmentation", "edges"], candidates=1
        ),
        read_artifact=store.get,
    )
    assert [c.label for c in candidates] == ["text", "segmentation", "edges"]
    text, segmentation, edges = candidates
    assert text.recipe.pipeline == "StableDiffusionXLPipeline"
    for candidate, mode in ((segmentation, 5), (edges, 3)):  # xinsir's segment, lines
        assert candidate.recipe.pipeline == "StableDiffusionXLControlNetUnionPipeline"
        assert [u.control_mode for u in candidate.recipe.controls] == [mode]
        assert candidate.recipe.model_ids["sd.base"] == BASE
    assert [k["control_mode"] for k in calls.kwargs] == [5, 3]
    assert all("control_image" in k and "image" not in k for k in calls.kwargs)
    assert not _same(segmentation.image, edges.image)  # the mode and the picture matter

    combined = generator.generate(
        GenerationRequest(priors=union_priors, kinds=["segmentation", "edges"], candidates=1),
        read_artifact=store.get,
    )
    assert combined[0].recipe.pipeline == "StableDiffusionXLControlNetUnionPipeline"
    assert calls.kwargs[-1]["control_mode"] == [5, 3]
    assert calls.kwargs[-1]["controlnet_conditioning_scale"] == [0.7, 0.4]


def test_union_mode_per_prior_kind(priors):
    assert union_mode("people", priors.people) == 0
    assert union_mode("depth", priors.depth) == 1
    assert union_mode("segmentation", priors.segmentation) == 5
    for method, mode in [("canny", 3), ("lineart", 3), ("mlsd", 3), ("hed", 2), ("scribble", 2)]:
        assert union_mode("edges", priors.edges.model_copy(update={"method": method})) == mode


def test_a_union_model_beside_ordinary_controlnets_draws_as_the_union_pipeline(
    generator, union_priors, store
):
    """Mixed sets use the ordinary XL pipeline with the union model in its one mode; with the
    ordinary ControlNet weighted 0, the pixels are those of diffusers' own union pipeline."""
    mixed = generator.generate(
        GenerationRequest(priors=union_priors, kinds=["people", "segmentation"]),
        read_artifact=store.get,
    )
    assert mixed[0].recipe.pipeline == "StableDiffusionXLControlNetPipeline"
    assert [u.control_mode for u in mixed[0].recipe.controls] == [None, 5]
    off = union_priors.people.model_copy(update={"weight": 0.0})
    silent = union_priors.model_copy(update={"people": off})
    muted = generator.generate(
        GenerationRequest(priors=silent, kinds=["people", "segmentation"]), read_artifact=store.get
    )
    alone = generator.generate(
        GenerationRequest(priors=union_priors, kinds=["segmentation"]), read_artifact=store.get
    )
    assert alone[0].recipe.pipeline == "StableDiffusionXLControlNetUnionPipeline"
    assert all(_same(a, b) for a, b in zip(_pixels(muted), _pixels(alone), strict=True))
    assert not _same(mixed[0].image, alone[0].image)


# --- components ---------------------------------------------------------------------------------


def test_one_base_shared_by_every_variant_and_controlnet_set(generator):
    components = generator.components
    base = components.base
    assert isinstance(base, StableDiffusionXLPipeline) and components.is_xl
    sets = [
        ((), ()),
        (("controlnet.pose",), (None,)),
        (("controlnet.pose", "controlnet.depth"), (None, None)),
        (("controlnet.segmentation",), (5,)),
        (("controlnet.segmentation", "controlnet.lineart"), (5, 3)),
        (("controlnet.pose", "controlnet.lineart"), (None, 3)),
    ]
    variants = [
        components.pipeline(variant, roles, modes)
        for variant in ("text", "img2img", "inpaint")
        for roles, modes in sets
    ]
    for pipe in variants:
        assert pipe.unet is base.unet and pipe.vae is base.vae
        assert pipe.text_encoder is base.text_encoder
        assert pipe.text_encoder_2 is base.text_encoder_2
        assert pipe.tokenizer is base.tokenizer and pipe.tokenizer_2 is base.tokenizer_2
    union = components.controlnet("controlnet.segmentation")
    assert isinstance(union, ControlNetUnionModel)
    assert components.controlnet("controlnet.lineart") is union  # one model id, loaded once
    assert isinstance(components.controlnet("controlnet.pose"), ControlNetModel)
    assert components.controlnet("controlnet.pose") is not components.controlnet("controlnet.depth")
    both_union = components.pipeline("text", *sets[4]).controlnet
    assert isinstance(both_union, MultiControlNetUnionModel)
    assert list(both_union.nets) == [union, union]
    mixed = components.pipeline("text", *sets[5]).controlnet
    assert isinstance(mixed, MultiControlNetModel) and mixed.nets[1].union is union
    assert mixed.nets[1].mode == 3


# --- prompts ------------------------------------------------------------------------------------


def test_short_prompts_encode_as_the_pipeline_does(generator):
    base = generator.components.base
    ours = generator.encode_prompt("a woman in a park", "blurry")
    theirs = base.encode_prompt("a woman in a park", device="cpu", negative_prompt="blurry")
    assert ours.chunks == 1
    for mine, reference in zip(
        (ours.prompt_embeds, ours.negative_prompt_embeds, ours.pooled_prompt_embeds,
         ours.negative_pooled_prompt_embeds),
        theirs,
        strict=True,
    ):  # fmt: skip
        assert torch.equal(mine, reference)
    empty = generator.encode_prompt("a woman in a park", "")
    zeroed = base.encode_prompt("a woman in a park", device="cpu", negative_prompt=None)
    assert torch.equal(empty.negative_prompt_embeds, zeroed[1])
    assert torch.equal(empty.negative_pooled_prompt_embeds, zeroed[3])


def test_long_prompts_use_their_tail(generator, priors, store):
    encoder = generator.components.prompts
    words = " ".join(["park"] * 40)  # ~80 tokens with the tiny byte-level vocabulary
    one = generator.encode_prompt(words + " red", "grainy")
    two = generator.encode_prompt(words + " blue", "grainy")
    window = encoder.max_length
    assert one.chunks >= 2 and one.prompt_embeds.shape == (1, window * one.chunks, 64)
    assert one.negative_prompt_embeds.shape == one.prompt_embeds.shape  # padded to match
    assert torch.equal(one.prompt_embeds[:, :window], two.prompt_embeds[:, :window])
    assert not torch.equal(one.prompt_embeds[:, window:], two.prompt_embeds[:, window:])
    # The pooled embedding is the first window's: the same for both.
    assert torch.equal(one.pooled_prompt_embeds, two.pooled_prompt_embeds)

    misses = encoder.misses
    drawn = []
    for prompt in (words + " red", words + " blue", words + " red"):
        request = GenerationRequest(priors=priors, kinds=[], candidates=1, prompt=prompt)
        (candidate,) = generator.generate(request, read_artifact=store.get)
        assert candidate.recipe.prompt_chunks == one.chunks
        drawn.append(candidate.image)
    assert not _same(drawn[0], drawn[1])  # only the tail differs, and it changes the picture
    assert _same(drawn[0], drawn[2])
    assert encoder.misses == misses  # every embedding came from the cache


def test_interpolating_two_sdxl_candidates_moves_the_pooled_text_too(generator, priors, store):
    from image_interpreter.generate.interpolate import Endpoint, interpolate

    request = GenerationRequest(priors=priors, candidates=2, seed=5, steps=2)
    first, second = generator.generate(request, read_artifact=store.get)
    other = priors.model_copy(
        update={"caption": priors.caption.model_copy(update={"text": "a red bicycle at night"})}
    )
    result = interpolate(
        generator, Endpoint.from_recipe(first.recipe, priors),
        Endpoint.from_recipe(second.recipe, other), frames=3, read_artifact=store.get,
    )  # fmt: skip
    assert len(result.frames) == 3
    assert all(f.image.size == first.image.size for f in result.frames)
    middle = np.asarray(result.frames[1].image, dtype=np.int16)
    assert np.abs(middle - np.asarray(first.image, dtype=np.int16)).mean() > 0.5
