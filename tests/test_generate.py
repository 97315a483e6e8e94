"""The generator on the tiny models (64x64, 2 steps): every mode end to end, batching, seeds and
recipes that redraw the same pixels, shared components, long prompts, ControlNet weights and step
ranges, out-of-memory fallback, progress with previews, cancellation, storing in a session."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from diffusers import (
    ControlNetModel,
    StableDiffusionControlNetInpaintPipeline,
    StableDiffusionControlNetPipeline,
    StableDiffusionPipeline,
)
from PIL import Image
from test_generate_support import SIZE, make_priors, tiny_settings

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.generate import (
    Components,
    GenerationCancelled,
    GenerationConfig,
    GenerationError,
    GenerationRequest,
    Generator,
    build_prompt,
    latent_preview,
    recipe_from_record,
    store_candidates,
)
from image_interpreter.images import encode_png
from image_interpreter.priors.render import render_controls
from image_interpreter.session import SessionStore

STEPS = 2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return tiny_settings(tmp_path_factory)


@pytest.fixture(scope="module")
def store(settings):
    return ArtifactStore(settings.artifacts_dir)


@pytest.fixture(scope="module")
def priors(store):
    return make_priors(store)


@pytest.fixture(scope="module")
def generator(settings):
    return Generator(settings)


def _pixels(candidates):
    return [np.asarray(c.image) for c in candidates]


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def _rounding_apart(a, b) -> bool:
    """Equal but for float rounding: kernels are not bit-for-bit invariant to the batch size,
    so an image drawn in a batch of 3 and alone differ by a level in a few values at most."""
    diff = np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int))
    return diff.max() <= 2 and (diff > 0).mean() < 0.005


def _all(check, first, second) -> bool:
    return all(check(a, b) for a, b in zip(first, second, strict=True))


class Calls:
    """Counts (and records the keyword arguments of) pipeline calls of the given classes."""

    def __init__(self, monkeypatch, *classes, before=None):
        self.kwargs: list[dict] = []
        for cls in classes:
            original = cls.__call__

            def call(pipe, *args, _original=original, **kwargs):
                self.kwargs.append(kwargs)
                if before is not None:
                    before(len(self.kwargs), kwargs)
                return _original(pipe, *args, **kwargs)

            monkeypatch.setattr(cls, "__call__", call)

    def __len__(self):
        return len(self.kwargs)


ALL_PIPELINES = (
    StableDiffusionPipeline,
    StableDiffusionControlNetPipeline,
    StableDiffusionControlNetInpaintPipeline,
)


# --- modes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "labels", "pipeline"),
    [
        ("combined", ["combined"] * 2, "StableDiffusionControlNetPipeline"),
        ("img2img", ["img2img"] * 2, "StableDiffusionControlNetImg2ImgPipeline"),
        ("inpaint", ["inpaint"] * 2, "StableDiffusionControlNetInpaintPipeline"),
    ],
)
def test_each_mode_draws_the_asked_candidates(generator, priors, store, mode, labels, pipeline):
    candidates = generator.generate(
        GenerationRequest(priors=priors, mode=mode), read_artifact=store.get
    )
    assert [c.label for c in candidates] == labels
    assert [c.seed for c in candidates] == [11, 12]
    assert [c.index for c in candidates] == [0, 1]
    for c in candidates:
        assert c.image.size == (SIZE, SIZE) and c.image.mode == "RGB"
        recipe = c.recipe
        assert recipe.pipeline == pipeline and recipe.mode == mode
        assert [u.kind for u in recipe.controls] == ["people", "depth", "edges"]
        assert recipe.source_sha256 == priors.source.sha256
        assert recipe.priors_version == priors.version and len(recipe.priors_sha256) == 64
        assert recipe.model_ids["sd.base"] == "tiny/sd-base"
        assert recipe.model_ids["controlnet.canny"] == "tiny/controlnet-canny"
        assert (recipe.width, recipe.height, recipe.steps) == (SIZE, SIZE, STEPS)
        assert recipe.scheduler == "DDIMScheduler" and recipe.scheduler_config
        assert recipe.dtype == "float32" and recipe.device == "cpu"
        assert recipe.diffusers_version and recipe.torch_version
    assert (
        candidates[0].recipe.strength == {"combined": None, "img2img": 0.75, "inpaint": 1.0}[mode]
    )


def test_per_prior_draws_a_set_per_enabled_control_prior_and_one_from_text(
    generator, priors, store, monkeypatch
):
    calls = Calls(monkeypatch, *ALL_PIPELINES)
    candidates = generator.generate(
        GenerationRequest(priors=priors, mode="per_prior"), read_artifact=store.get
    )
    assert [c.label for c in candidates] == [
        "text", "text", "people", "people", "depth", "depth", "edges", "edges",
    ]  # fmt: skip
    assert [c.seed for c in candidates] == [11, 12] * 4  # every set from the same noise
    assert [c.index for c in candidates] == list(range(8))
    assert len(calls) == 4
    assert candidates[0].recipe.pipeline == "StableDiffusionPipeline"
    assert [u.kind for u in candidates[2].recipe.controls] == ["people"]
    # Only the depth ControlNet differs between the depth set and the text set.
    text, depth = candidates[0], candidates[4]
    assert not np.array_equal(np.asarray(text.image), np.asarray(depth.image))


def test_inpainting_repaints_only_the_marked_objects(generator, priors, store):
    (candidate,) = generator.generate(
        GenerationRequest(priors=priors, mode="inpaint", candidates=1), read_artifact=store.get
    )
    recipe = candidate.recipe
    assert recipe.prompt == "a sleeping cat, a woman in a park, watercolor, at dusk"
    assert "bench" in recipe.negative_prompt and "dog" in recipe.negative_prompt
    assert recipe.inpaint.replaced == [0] and recipe.inpaint.removed == [1]
    source = np.asarray(Image.open(io.BytesIO(store.get(priors.source.sha256))))
    out = np.asarray(candidate.image)
    # Far from both masks the source is kept; inside them it is repainted.
    assert np.array_equal(out[30:34, 0:4], source[30:34, 0:4])
    assert not np.array_equal(out[12:20, 12:20], source[12:20, 12:20])
    assert not np.array_equal(out[44:52, 44:52], source[44:52, 44:52])


def test_inpainting_needs_a_marked_object(generator, priors, store):
    objects = priors.objects.model_copy(
        update={
            "objects": [o.model_copy(update={"action": "keep"}) for o in priors.objects.objects]
        }
    )
    with pytest.raises(GenerationError, match="marked to replace or remove"):
        generator.generate(
            GenerationRequest(
                priors=priors.model_copy(update={"objects": objects}), mode="inpaint"
            ),
            read_artifact=store.get,
        )


def test_text_only_and_unknown_kinds(generator, priors, store):
    (candidate,) = generator.generate(
        GenerationRequest(priors=priors, kinds=[], candidates=1), read_artifact=store.get
    )
    assert candidate.recipe.pipeline == "StableDiffusionPipeline" and not candidate.recipe.controls
    with pytest.raises(GenerationError, match="No enabled segmentation prior"):
        generator.generate(
            GenerationRequest(priors=priors, kinds=["segmentation"]), read_artifact=store.get
        )


def test_a_scheduler_can_be_chosen_by_name(generator, priors, store):
    request = GenerationRequest(
        priors=priors, candidates=1, kinds=[], scheduler="EulerDiscreteScheduler"
    )
    (euler,) = generator.generate(request, read_artifact=store.get)
    assert euler.recipe.scheduler == "EulerDiscreteScheduler"
    assert _same(
        generator.regenerate(euler.recipe, priors, read_artifact=store.get).image, euler.image
    )
    (default,) = generator.generate(
        request.model_copy(update={"scheduler": None}), read_artifact=store.get
    )
    assert default.recipe.scheduler == "DDIMScheduler"  # the model's own, not the last used
    with pytest.raises(GenerationError, match="not a diffusers scheduler"):
        generator.generate(
            request.model_copy(update={"scheduler": "Image"}), read_artifact=store.get
        )


@pytest.mark.parametrize(
    ("source", "asked", "size"),
    [
        ((128, 96), {}, (85 // 8 * 8, 64)),  # native 64 px long side; the short side >= 64
        ((96, 128), {}, (64, 85 // 8 * 8)),
        ((640, 480), {"width": 100}, (96, 72)),
        ((640, 480), {"height": 203}, (264, 200)),
        ((640, 480), {"width": 130, "height": 70}, (128, 64)),
    ],
)
def test_size_keeps_the_source_aspect_in_multiples_of_8(generator, priors, source, asked, size):
    ref = priors.source.model_copy(update={"width": source[0], "height": source[1]})
    settings = priors.generation.model_copy(update={"width": None, "height": None})
    changed = priors.model_copy(update={"source": ref, "generation": settings})
    assert generator.size_for(GenerationRequest(priors=changed, **asked)) == size


def test_prompt_comes_from_caption_style_and_time_of_day(priors):
    assert build_prompt(priors) == "a woman in a park, watercolor, at dusk"
    caption = priors.caption.model_copy(update={"time_of_day": "in the morning", "style": []})
    assert build_prompt(priors.model_copy(update={"caption": caption})) == (
        "a woman in a park, in the morning"
    )


# --- batching and reproducibility -------------------------------------------------------------


def test_candidates_come_from_one_batched_call(generator, priors, store, monkeypatch):
    calls = Calls(monkeypatch, *ALL_PIPELINES)
    candidates = generator.generate(
        GenerationRequest(priors=priors, candidates=4), read_artifact=store.get
    )
    assert len(calls) == 1 and calls.kwargs[0]["num_images_per_prompt"] == 4
    assert [g.initial_seed() for g in calls.kwargs[0]["generator"]] == [11, 12, 13, 14]
    assert [c.recipe.batch for c in candidates] == [4] * 4
    assert len({np.asarray(c.image).tobytes() for c in candidates}) == 4


def test_max_batch_splits_calls_without_changing_pixels(
    settings, generator, priors, store, monkeypatch
):
    whole = _pixels(
        generator.generate(GenerationRequest(priors=priors, candidates=3), read_artifact=store.get)
    )
    small = Generator(settings, GenerationConfig(max_batch=2), components=generator.components)
    calls = Calls(monkeypatch, *ALL_PIPELINES)
    split = small.generate(GenerationRequest(priors=priors, candidates=3), read_artifact=store.get)
    assert [k["num_images_per_prompt"] for k in calls.kwargs] == [2, 1]
    assert [c.recipe.batch_first for c in split] == [0, 0, 2]
    assert _all(_rounding_apart, whole, _pixels(split))


@pytest.mark.parametrize("mode", ["combined", "img2img", "inpaint"])
def test_same_seed_same_pixels_and_each_candidate_redraws_alone(generator, priors, store, mode):
    request = GenerationRequest(priors=priors, mode=mode, candidates=3, seed=5)
    first = generator.generate(request, read_artifact=store.get)
    again = generator.generate(request, read_artifact=store.get)
    assert _all(_same, _pixels(first), _pixels(again))
    alone = generator.regenerate(first[2].recipe, priors, read_artifact=store.get)
    assert alone.seed == 7 and alone.recipe.batch == 1 and alone.recipe.batch_first == 2
    assert _rounding_apart(alone.image, first[2].image)
    exact = generator.regenerate(first[1].recipe, priors, read_artifact=store.get, exact=True)
    assert exact.seed == 6 and exact.recipe.batch == 3
    assert _same(exact.image, first[1].image)


def test_a_per_prior_candidate_redraws_alone(generator, priors, store):
    candidates = generator.generate(
        GenerationRequest(priors=priors, mode="per_prior", kinds=["depth"]), read_artifact=store.get
    )
    depth = candidates[3]
    assert depth.label == "depth" and depth.seed == 12
    alone = generator.regenerate(depth.recipe, priors, read_artifact=store.get)
    assert alone.label == "depth" and alone.recipe.controls == depth.recipe.controls
    assert _rounding_apart(alone.image, depth.image)
    exact = generator.regenerate(depth.recipe, priors, read_artifact=store.get, exact=True)
    assert _same(exact.image, depth.image)


def test_regenerate_refuses_other_priors(generator, priors, store):
    (candidate,) = generator.generate(
        GenerationRequest(priors=priors, candidates=1, kinds=[]), read_artifact=store.get
    )
    edited = priors.model_copy(update={"version": 2})
    with pytest.raises(GenerationError, match="not the ones"):
        generator.regenerate(candidate.recipe, edited, read_artifact=store.get)


def test_same_pixels_as_the_bare_diffusers_call(generator, priors, store):
    """Our request is exactly a diffusers call: same embeddings, controls, seeds, pixels."""
    ours = generator.generate(GenerationRequest(priors=priors), read_artifact=store.get)
    pipe = generator.components.pipeline(
        "text", ("controlnet.pose", "controlnet.depth", "controlnet.canny")
    )
    controls = render_controls(priors, (SIZE, SIZE), store.get)
    bare = pipe(
        prompt=ours[0].recipe.prompt,
        image=[controls["people"], controls["depth"], controls["edges"]],
        height=SIZE,
        width=SIZE,
        num_inference_steps=STEPS,
        num_images_per_prompt=2,
        generator=[torch.Generator().manual_seed(s) for s in (11, 12)],
        controlnet_conditioning_scale=[0.9, 0.6, 0.4],
        control_guidance_start=[0.0, 0.1, 0.0],
        control_guidance_end=[0.8, 1.0, 0.5],
    ).images
    assert _all(_same, _pixels(ours), bare)


# --- components -------------------------------------------------------------------------------


def test_one_base_shared_by_every_variant_and_controlnet_set(generator, settings):
    components = generator.components
    assert Generator(settings).components is components
    base = components.base
    roles = ("controlnet.pose", "controlnet.depth", "controlnet.canny")
    variants = [
        components.pipeline(variant, roles[:count])
        for variant in ("text", "img2img", "inpaint")
        for count in range(len(roles) + 1)
    ]
    for pipe in variants:
        assert pipe.unet is base.unet
        assert pipe.vae is base.vae and pipe.text_encoder is base.text_encoder
        assert pipe.tokenizer is base.tokenizer
    nets = {id(components.controlnet(role)) for role in roles}
    assert len(nets) == 3  # one object per role, loaded once and kept
    assert components.controlnet("controlnet.pose") is components.controlnet("controlnet.pose")
    assert variants[3].controlnet.nets[0] is components.controlnet("controlnet.pose")
    assert all(isinstance(n, ControlNetModel) for n in components.loaded_controlnets.values())
    procs = {type(p).__name__ for p in base.unet.attn_processors.values()}
    assert procs == {"AttnProcessor2_0"}  # scaled-dot-product attention


def test_disabled_priors_load_no_controlnet(settings, priors, store):
    fresh = Components(settings)
    people = priors.people.model_copy(update={"enabled": False})
    edges = priors.edges.model_copy(update={"method": "lineart"})
    changed = priors.model_copy(update={"people": people, "edges": edges})
    candidates = Generator(settings, components=fresh).generate(
        GenerationRequest(priors=changed, mode="per_prior", candidates=1), read_artifact=store.get
    )
    assert [c.label for c in candidates] == ["text", "depth", "edges"]
    assert set(fresh.loaded_controlnets) == {"controlnet.depth", "controlnet.lineart"}


def test_weights_and_step_ranges_reach_the_pipeline(generator, priors, store, monkeypatch):
    calls = Calls(monkeypatch, *ALL_PIPELINES)
    generator.generate(GenerationRequest(priors=priors, candidates=1), read_artifact=store.get)
    generator.generate(
        GenerationRequest(priors=priors, candidates=1, mode="per_prior", kinds=["edges"]),
        read_artifact=store.get,
    )
    combined, _text, edges = calls.kwargs
    assert combined["controlnet_conditioning_scale"] == [0.9, 0.6, 0.4]
    assert combined["control_guidance_start"] == [0.0, 0.1, 0.0]
    assert combined["control_guidance_end"] == [0.8, 1.0, 0.5]
    assert len(combined["image"]) == 3
    assert edges["controlnet_conditioning_scale"] == 0.4
    assert (edges["control_guidance_start"], edges["control_guidance_end"]) == (0.0, 0.5)


# --- prompts ----------------------------------------------------------------------------------


def test_short_prompts_encode_as_the_pipeline_does(generator):
    base = generator.components.base
    ours = generator.encode_prompt("a woman in a park", "blurry")
    theirs, negative = base.encode_prompt("a woman in a park", "cpu", 1, True, "blurry")
    assert ours.chunks == 1
    assert torch.equal(ours.prompt_embeds, theirs)
    assert torch.equal(ours.negative_prompt_embeds, negative)


def test_long_prompts_keep_their_tail(generator):
    encoder = generator.components.prompts
    words = " ".join(["park"] * 40)  # ~80 tokens with the tiny byte-level vocabulary
    head = encoder.windows(words + " red")
    assert len(head) >= 2 and all(len(w) <= 75 for w in head)
    tokens = encoder.tokenizer.convert_ids_to_tokens(head[0])
    assert tokens[-1].endswith("</w>")  # cut between words
    one = generator.encode_prompt(words + " red", "")
    two = generator.encode_prompt(words + " blue", "")
    window = encoder.max_length
    assert one.chunks >= 2 and one.prompt_embeds.shape[1] == window * one.chunks
    assert one.negative_prompt_embeds.shape == one.prompt_embeds.shape  # padded to match
    assert torch.equal(one.prompt_embeds[:, :window], two.prompt_embeds[:, :window])
    assert not torch.equal(one.prompt_embeds[:, window:], two.prompt_embeds[:, window:])


def test_long_prompts_generate_and_text_embeddings_are_cached(generator, priors, store):
    encoder = generator.components.prompts
    caption = priors.caption.model_copy(update={"text": " ".join(["tree"] * 60)})
    long = priors.model_copy(update={"caption": caption})
    misses = encoder.misses
    request = GenerationRequest(priors=long, candidates=1, kinds=[], negative_prompt="grainy")
    (first,) = generator.generate(request, read_artifact=store.get)
    assert first.recipe.prompt_chunks >= 3
    assert encoder.misses == misses + 2  # the prompt and the negative
    generator.generate(request, read_artifact=store.get)
    assert encoder.misses == misses + 2


# --- memory -------------------------------------------------------------------------------------


class MemoryCap:
    """A UNet forward hook that runs out of memory inside the denoising loop: on the second
    step of a call whose latent batch (classifier-free guidance doubles it) is above `limit`,
    or, with `offloaded`, on any step while the UNet has no offload hook. Records each batch."""

    def __init__(self, unet, limit=None, until_offloaded=False):
        self.batches: list[int] = []
        self.hooked: list[bool] = []
        self.limit = limit
        self.until_offloaded = until_offloaded
        self._handle = unet.register_forward_pre_hook(self)

    def __call__(self, unet, args):
        size = args[0].shape[0]
        self.batches.append(size)
        self.hooked.append(hasattr(unet, "_hf_hook"))
        step_two = len(self.batches) > 1 and self.batches[-2] == size
        if self.limit is not None and size > self.limit and step_two:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.until_offloaded and not hasattr(unet, "_hf_hook"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def remove(self):
        self._handle.remove()


def _fresh(settings, **config):
    """A generator with components of its own (what fitted in memory is remembered there)."""
    chosen = GenerationConfig(**config)
    return Generator(settings, chosen, components=Components(settings, chosen))


def test_out_of_memory_inside_the_loop_halves_the_batch_keeps_everything_and_is_remembered(
    settings, priors, store
):
    request = GenerationRequest(priors=priors, candidates=4)
    expected = _pixels(_fresh(settings, max_batch=2).generate(request, read_artifact=store.get))
    generator = _fresh(settings)
    cap = MemoryCap(generator.components.base.unet, limit=4)
    try:
        candidates = generator.generate(request, read_artifact=store.get)
        first, cap.batches = cap.batches, []
        again = generator.generate(request, read_artifact=store.get)
    finally:
        cap.remove()
    # 4 images (8 latents): one step, out of memory on the second; then 2 + 2, two steps each
    assert first == [8, 8, 4, 4, 4, 4]
    assert [c.recipe.batch for c in candidates] == [2, 2, 2, 2]
    assert [c.seed for c in candidates] == [11, 12, 13, 14]
    assert _all(_same, expected, _pixels(candidates))  # nothing lost, nothing changed
    assert cap.batches == [4, 4, 4, 4]  # the next request starts at the size that fitted
    assert _all(_same, expected, _pixels(again))


def test_offload_after_out_of_memory_then_every_module_back_where_it_was(
    settings, priors, store, monkeypatch
):
    """accelerate's offload hooks for real (no CUDA here: the CPU stands in as the execution
    device); afterwards no hook is left and the device map is the one before."""
    monkeypatch.setattr(Components, "can_offload", property(lambda self: True))
    request = GenerationRequest(priors=priors, candidates=2)
    expected = _pixels(_fresh(settings).generate(request, read_artifact=store.get))
    generator = _fresh(settings)
    components = generator.components
    for role in ("controlnet.pose", "controlnet.depth", "controlnet.canny"):
        components.controlnet(role)
    before = components.device_map()
    cap = MemoryCap(components.base.unet, until_offloaded=True)
    try:
        candidates = generator.generate(request, read_artifact=store.get)
    finally:
        cap.remove()
    assert cap.batches[:2] == [4, 2]  # 2 images, then 1, then offload on
    assert cap.hooked[-1] and not cap.hooked[0]
    assert [c.recipe.cpu_offload for c in candidates] == [True, True]
    assert _all(_rounding_apart, expected, _pixels(candidates))
    assert components.device_map() == before
    modules = [components.base.unet, components.base.vae, components.base.text_encoder]
    modules += components.loaded_controlnets.values()
    assert not any(hasattr(m, "_hf_hook") for net in modules for m in net.modules())

    # No room on the device to bring them all back: they stay offloaded, restored later.
    components.offload(components.base)
    vae = components.base.vae
    moves, full = type(vae).to, [True]

    def move(module, *args, **kwargs):  # the VAE's move back finds the device full, once
        if module is vae and full[0]:
            full[0] = False
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 MiB")
        return moves(module, *args, **kwargs)

    monkeypatch.setattr(type(vae), "to", move)  # a class attribute: accelerate drops instance ones
    components.restore()
    assert not full[0]  # it did run out
    assert hasattr(components.base.unet, "_hf_hook")  # still offloaded, hooks in place
    components.restore()
    assert components.device_map() == before
    assert not any(hasattr(m, "_hf_hook") for net in modules for m in net.modules())


def test_out_of_memory_at_one_image_turns_offload_on_then_gives_up(
    settings, priors, store, monkeypatch
):
    generator = _fresh(settings)
    offloads = []
    monkeypatch.setattr(
        type(generator.components), "offload", lambda self, pipe: offloads.append(pipe) or True
    )

    def batches_fail(number, kwargs):
        if kwargs["num_images_per_prompt"] > 1 or (number == 2 and not offloads):
            raise RuntimeError("MPS backend out of memory")

    calls = Calls(monkeypatch, *ALL_PIPELINES, before=batches_fail)
    request = GenerationRequest(priors=priors, candidates=2)
    candidates = generator.generate(request, read_artifact=store.get)
    # 2 fails -> 1 fails -> offload on -> 1, 1
    assert [k["num_images_per_prompt"] for k in calls.kwargs] == [2, 1, 1, 1]
    assert [c.recipe.cpu_offload for c in candidates] == [True, True]

    def always_fail(number, kwargs):
        raise torch.OutOfMemoryError("out of memory")

    Calls(monkeypatch, *ALL_PIPELINES, before=always_fail)
    with pytest.raises(GenerationError, match="Out of memory") as failure:
        generator.generate(request, read_artifact=store.get)
    assert failure.value.request is request  # kept, to be run again


def test_other_errors_are_not_retried(generator, priors, store, monkeypatch):
    def broken(number, kwargs):
        raise RuntimeError("shapes do not match")

    calls = Calls(monkeypatch, *ALL_PIPELINES, before=broken)
    with pytest.raises(RuntimeError, match="shapes"):
        generator.generate(GenerationRequest(priors=priors), read_artifact=store.get)
    assert len(calls) == 1


def test_vae_slicing_and_tiling_follow_the_size(settings, generator):
    components = generator.components
    vae = components.base.vae
    try:
        components.configure_vae(4, 1024, 1024)
        assert vae.use_slicing and not vae.use_tiling
        components.configure_vae(1, 2048, 2048)
        assert vae.use_tiling and not vae.use_slicing
        components.configure_vae(2, 64, 64)
        assert not vae.use_tiling and not vae.use_slicing
    finally:
        components.configure_vae(1, 64, 64)


# --- progress and cancel -----------------------------------------------------------------------


def test_progress_reports_every_step_with_a_preview(generator, priors, store):
    seen = []
    generator.generate(
        GenerationRequest(priors=priors, mode="per_prior"),
        read_artifact=store.get,
        progress=lambda step, total, preview: seen.append((step, total, preview)),
    )
    assert [(s, t) for s, t, _ in seen] == [(i, 8) for i in range(1, 9)]  # 4 sets x 2 steps
    assert all(isinstance(p, Image.Image) and p.size == (32, 32) for _, _, p in seen)


def test_latent_preview_is_a_small_rgb_image():
    preview = latent_preview(torch.randn(2, 4, 16, 24))
    assert preview.mode == "RGB" and preview.size == (24, 16)
    assert latent_preview(torch.randn(1, 16, 8, 8)).size == (8, 8)


def test_a_progress_callback_cancels_between_steps(generator, priors, store, monkeypatch):
    calls = Calls(monkeypatch, *ALL_PIPELINES)
    steps = []

    def cancel(step, total, preview):
        steps.append(step)
        raise GenerationCancelled("stopped by the user")

    with pytest.raises(GenerationCancelled):
        generator.generate(
            GenerationRequest(priors=priors, mode="per_prior"), read_artifact=store.get,
            progress=cancel,
        )  # fmt: skip
    assert steps == [1] and len(calls) == 1  # no retry, no further set


# --- sessions -----------------------------------------------------------------------------------


def test_store_candidates_records_images_and_recipes(settings, generator, tmp_path):
    from test_generate_support import source_image

    with SessionStore(f"sqlite:///{tmp_path / 's.db'}", ArtifactStore(tmp_path / "a")) as sessions:
        session = sessions.create()
        image = session.add_image(encode_png(source_image()))

        class Put:
            put = staticmethod(session.put_artifact)

        priors = make_priors(Put()).model_copy(update={"source": image.ref})
        priors = session.commit(priors)
        candidates = generator.generate(
            GenerationRequest(priors=priors, mode="per_prior", kinds=["depth"]),
            read_artifact=session.read_artifact,
        )
        record = store_candidates(session, priors.version, candidates)
        assert [c.seed for c in record.candidates] == [11, 12, 11, 12]
        assert record.recipe["prompt"] == "a woman in a park, watercolor, at dusk"
        for i, candidate in enumerate(candidates):
            assert recipe_from_record(record, i) == candidate.recipe
            stored = Image.open(
                __import__("io").BytesIO(session.read_artifact(record.candidates[i].sha256))
            )
            assert np.array_equal(np.asarray(stored), np.asarray(candidate.image))
        again = generator.regenerate(
            recipe_from_record(session.generations()[0], 3), session.version(priors.version),
            read_artifact=session.read_artifact, exact=True,
        )  # fmt: skip
        assert _same(again.image, candidates[3].image)


def test_speed_settings_reach_the_models(settings, monkeypatch):
    from diffusers import UNet2DConditionModel

    compiled = []
    monkeypatch.setattr(UNet2DConditionModel, "compile", lambda self, **kw: compiled.append(self))
    config = GenerationConfig(compile_unet=True, channels_last=True, cpu_offload=True)
    components = Components(settings, config)
    unet = components.base.unet
    assert compiled == [unet]  # in place: the same object every variant shares
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert components.controlnet("controlnet.depth").conv_in.weight.is_contiguous(
        memory_format=torch.channels_last
    )
    assert components.offload(components.base) is False  # nothing to offload to on a CPU


def test_generation_config_comes_from_the_settings_when_they_have_one():
    from types import SimpleNamespace

    from image_interpreter.generate import config_for

    assert config_for(SimpleNamespace()) == GenerationConfig()
    assert config_for(SimpleNamespace(generation={"max_batch": 2})).max_batch == 2
