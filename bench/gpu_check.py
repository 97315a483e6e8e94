"""What real weights on a real GPU meet first, checked in one run (about 5 minutes on one GPU).

    sd15 / sdxl   full-size random-weight SD 1.5 and SDXL (built from the published
                  architecture numbers, saved, loaded through the project's own loading code)
                  with 2 ControlNets, float16 and bfloat16: pixels finite and not black
    oom           a memory cap (torch.cuda.set_per_process_memory_fraction) under which 4
                  candidates do not fit: the batch halves, all 4 come back, the next request
                  starts at the size that fitted
    offload       a cap under which one image only fits with model CPU offload: the fallback
                  turns it on for real; afterwards restore() puts every module back
    upscale       the x4 upscaler in float16: the VAE decodes in float32 (force_upcast), then
                  goes back to float16
    extract       every extractor with a tiny model, on the device

Each line: PASS/FAIL/SKIP, the check, seconds, peak device memory, and a note. On CUDA the
report is also written to bench/results/<date>-<card>.txt (commit it). `--dry` runs the same
checks on the tiny models in bfloat16 on the CPU (the memory cap is a UNet hook there, and
offload has nowhere to go), which is what CI runs.

Run: uv run python bench/gpu_check.py [--dry] [--only sd15,oom,...] [--size PX] [--steps N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.generate import (
    Components,
    GenerationConfig,
    GenerationRequest,
    Generator,
    clear_shared_components,
)
from image_interpreter.images import encode_png
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.schema import (
    ArtifactRef,
    CaptionPrior,
    DepthPrior,
    ImageRef,
    PeoplePrior,
    PriorSet,
)
from image_interpreter.settings import Settings, load_settings

CHECKS = ("sd15", "sdxl", "oom", "offload", "upscale", "extract")
ROLES = ("controlnet.pose", "controlnet.depth")
# Every extractor with a tiny model, with the parameters it needs.
EXTRACTORS: dict[str, dict[str, Any]] = {
    "caption.blip": {},
    "caption.florence2": {},
    "caption.query": {"question": "what is in the picture?"},
    "depth.depth_anything": {},
    "depth.midas": {},
    "depth.zoe": {},
    "edges.canny": {},
    "edges.hed": {},
    "edges.lineart": {},
    "objects.florence2": {"queries": ["person"]},
    "objects.owlv2": {"queries": ["person"]},
    "objects.sam": {},
    "objects.sam_prompted": {"points": [(0.5, 0.5)]},
    "palette.median_cut": {},
    "pose.openpose": {},
    "segmentation.fcn": {},
    "segmentation.upernet": {},
    "tags.densenet": {},
    "tags.squeezenet": {},
}


@dataclass
class Report:
    cuda: bool
    lines: list[str] = field(default_factory=list)
    failed: int = 0

    def run(self, name: str, check: Callable[[], str | None]) -> None:
        """Run one check; it returns a note, raises on failure, or returns 'SKIP: why'."""
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        try:
            note = check() or ""
            status = "SKIP" if note.startswith("SKIP") else "PASS"
            note = note.removeprefix("SKIP: ")
        except Exception as exc:  # a failed check is reported, the others still run
            status, note = "FAIL", f"{type(exc).__name__}: {exc}".replace("\n", " ")[:400]
            traceback.print_exc(file=sys.stderr)
            self.failed += 1
        seconds = time.perf_counter() - start
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:6.2f} GiB" if self.cuda else "   -"
        line = f"{status:4}  {name:<34} {seconds:7.1f} s  peak {peak}  {note}"
        self.lines.append(line)
        print(line, flush=True)
        free()


def free() -> None:
    clear_shared_components()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --- inputs --------------------------------------------------------------------------------------


def make_priors(store: ArtifactStore, size: int, candidates: int, steps: int) -> PriorSet:
    """A caption, one person (pose ControlNet) and a depth ramp (depth ControlNet)."""
    import io

    from PIL import Image

    y, x = np.mgrid[0:size, 0:size]
    source = Image.fromarray((np.stack([x, y, x + y], -1) * 255 // (2 * size)).astype(np.uint8))
    depth = np.tile(np.linspace(0, 65535, size).round().astype(np.uint16), (size, 1))
    buffer = io.BytesIO()
    Image.fromarray(depth).save(buffer, format="PNG")
    return PriorSet(
        source=ImageRef(sha256=store.put(encode_png(source)), width=size, height=size),
        caption=CaptionPrior(text="a woman dancing in a sunlit studio", style=["photograph"]),
        people=PeoplePrior(people=[example_person()], weight=0.9, end=0.8),
        depth=DepthPrior(map=ArtifactRef(sha256=store.put(buffer.getvalue())), weight=0.6),
        generation={
            "width": size, "height": size, "steps": steps, "candidates": candidates, "seed": 5,
        },
    )  # fmt: skip


def check_pixels(images: list[Any]) -> str:
    """Finite, not black, not one flat colour."""
    for image in images:
        pixels = np.asarray(image.convert("RGB")).astype(float)
        if not np.isfinite(pixels).all() or pixels.mean() < 2 or pixels.std() < 1:
            raise AssertionError(
                f"black or flat picture (mean {pixels.mean():.1f}, std {pixels.std():.1f})"
            )
    return f"{len(images)} x {images[0].size[0]}x{images[0].size[1]} ok"


# --- full-size random models (CUDA) --------------------------------------------------------------


def _tokenizers(folder: Path) -> tuple[Any, Any]:
    from image_interpreter.models.tiny import tiny_clip_tokenizer

    first, second = tiny_clip_tokenizer(), tiny_clip_tokenizer()
    second.pad_token = "!"  # SDXL's second tokenizer pads with "!"
    return first, second


def _clip_text(hidden: int, layers: int, heads: int, projection: int | None = None) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=49408, hidden_size=hidden, intermediate_size=4 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=77,
        hidden_act="quick_gelu" if projection is None else "gelu",
        projection_dim=projection or hidden,
    )  # fmt: skip
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def _vae(**changes: Any) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
        layers_per_block=2, latent_channels=4, sample_size=512, **changes,
    )  # fmt: skip


def build_full(folder: Path, xl: bool, device: torch.device) -> dict[str, str]:
    """Random-weight SD 1.5 or SDXL base and two ControlNets from its UNet, built on `device`
    (fast) and saved in float16; returns the role overrides naming the folders."""
    from diffusers import (
        ControlNetModel,
        EulerDiscreteScheduler,
        PNDMScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(0)
    tokenizer, tokenizer_2 = _tokenizers(folder)
    with torch.device(device):
        if xl:
            unet = UNet2DConditionModel(
                sample_size=128, in_channels=4, out_channels=4,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                block_out_channels=(320, 640, 1280), layers_per_block=2,
                transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20),
                cross_attention_dim=2048, use_linear_projection=True,
                addition_embed_type="text_time", addition_time_embed_dim=256,
                projection_class_embeddings_input_dim=2816,
            )  # fmt: skip
            pipe = StableDiffusionXLPipeline(
                vae=_vae(scaling_factor=0.13025, force_upcast=True),
                text_encoder=_clip_text(768, 12, 12),
                text_encoder_2=_clip_text(1280, 32, 20, projection=1280),
                tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=unet,
                scheduler=EulerDiscreteScheduler(
                    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                    steps_offset=1, timestep_spacing="leading",
                ),
                force_zeros_for_empty_prompt=True, add_watermarker=False,
            )  # fmt: skip
        else:
            unet = UNet2DConditionModel(
                sample_size=64, in_channels=4, out_channels=4,
                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                cross_attention_dim=768, attention_head_dim=8,
            )  # fmt: skip
            pipe = StableDiffusionPipeline(
                vae=_vae(), text_encoder=_clip_text(768, 12, 12), tokenizer=tokenizer, unet=unet,
                scheduler=PNDMScheduler(
                    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                    skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False,
                ),
                safety_checker=None, feature_extractor=None, requires_safety_checker=False,
            )  # fmt: skip
        nets = [ControlNetModel.from_unet(unet) for _ in ROLES]
    name = "sdxl" if xl else "sd15"
    pipe.to(torch.float16)
    pipe.save_pretrained(folder / name)
    models = {"sd.base": str(folder / name)}
    for role, net in zip(ROLES, nets, strict=True):
        # A trained ControlNet's zero convolutions are not zero: wake them so the control
        # images change the pixels (as in the tiny models).
        with torch.no_grad():
            for conv in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
                torch.nn.init.normal_(conv.weight, std=0.02)
        net.to(torch.float16).save_pretrained(folder / f"{name}-{role}")
        models[role] = str(folder / f"{name}-{role}")
    del pipe, nets, unet
    free()
    return models


# --- checks --------------------------------------------------------------------------------------


@dataclass
class Setup:
    dry: bool
    device: torch.device
    folder: Path
    size: int
    xl_size: int
    steps: int
    built: dict[str, dict[str, str]] = field(default_factory=dict)

    def models(self, xl: bool) -> dict[str, str]:
        """The role overrides for SD 1.5 or SDXL: full-size random folders, or tiny models."""
        if self.dry:
            if not xl:
                return {}
            from image_interpreter.generate.sdxl_tiny import TINY_SDXL_MODELS

            return dict(TINY_SDXL_MODELS)
        key = "sdxl" if xl else "sd15"
        if key not in self.built:
            self.built[key] = build_full(self.folder / "models", xl, self.device)
        return self.built[key]

    def settings(self, dtype: str, xl: bool = False, **generation: Any) -> Settings:
        return load_settings(
            profile="tiny" if self.dry else "sd15",
            device="cpu" if self.dry else str(self.device),
            dtype=dtype,
            data_dir=self.folder / "data",
            tiny_dir=self.folder / "tiny-models",
            models=self.models(xl),
            offline=True,
            generation=GenerationConfig(**generation),
        )


def check_generation(setup: Setup, xl: bool, dtype: str) -> str:
    settings = setup.settings(dtype, xl)
    store = ArtifactStore(settings.artifacts_dir)
    size = setup.xl_size if xl else setup.size
    priors = make_priors(store, size, candidates=2, steps=setup.steps)
    candidates = Generator(settings).generate(
        GenerationRequest(priors=priors), read_artifact=store.get
    )
    if [c.recipe.dtype for c in candidates] != [dtype] * 2:
        raise AssertionError(f"drawn in {candidates[0].recipe.dtype}, not {dtype}")
    if len(candidates[0].recipe.controls) != 2:
        raise AssertionError("not drawn with 2 ControlNets")
    return check_pixels([c.image for c in candidates])


class UNetCap:
    """The dry run's memory cap: the UNet runs out of memory on latent batches above `limit`,
    or on any batch while it is not offloaded (with `offload_only`)."""

    def __init__(self, unet: torch.nn.Module, limit: int = 0, offload_only: bool = False):
        self.limit, self.offload_only = limit, offload_only
        self.handle = unet.register_forward_pre_hook(self)

    def __call__(self, unet: torch.nn.Module, args: tuple) -> None:
        if self.offload_only and not hasattr(unet, "_hf_hook"):
            raise torch.OutOfMemoryError("out of memory (dry run's cap: offload needed)")
        if self.limit and args[0].shape[0] > self.limit:
            raise torch.OutOfMemoryError("out of memory (dry run's cap)")


def _resident_and_peak(generator: Generator, request: GenerationRequest, store) -> tuple[int, int]:
    """Bytes the weights take on the device, and the peak of drawing `request` (CUDA). A first
    call loads everything (and warms the kernels); the second is measured."""
    generator.generate(request, read_artifact=store.get)
    free_cache()
    resident = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    generator.generate(request, read_artifact=store.get)
    torch.cuda.synchronize()
    return resident, torch.cuda.max_memory_allocated()


def free_cache() -> None:
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()


def _size(module: torch.nn.Module | None) -> int:
    if module is None:
        return 0
    return sum(p.numel() * p.element_size() for p in module.parameters())


def _cap(total_bytes: int) -> None:
    limit = torch.cuda.get_device_properties(0).total_memory
    free_cache()
    torch.cuda.set_per_process_memory_fraction(min(1.0, total_bytes / limit))


def check_oom(setup: Setup) -> str:
    """4 candidates under a cap between what 1 and 4 need: the batch halves (once or twice),
    all 4 are drawn, and the next request starts at the size that fitted."""
    settings = setup.settings("float16" if not setup.dry else "bfloat16")
    store = ArtifactStore(settings.artifacts_dir)
    steps = 1 if setup.dry else setup.steps  # bfloat16 on a CPU is slow; one step shows it
    priors = make_priors(store, setup.size, candidates=4, steps=steps)
    generator = Generator(settings, components=Components(settings))
    one = GenerationRequest(priors=priors, candidates=1)
    request = GenerationRequest(priors=priors, candidates=4)
    cap = None
    try:
        if setup.dry:
            cap = UNetCap(generator.components.base.unet, limit=4)  # 2 images with CFG
        else:  # between what 1 and 4 images need: 4 cannot fit, 1 must
            _, peak_one = _resident_and_peak(generator, one, store)
            torch.cuda.reset_peak_memory_stats()
            generator.generate(request, read_artifact=store.get)
            peak_four = torch.cuda.max_memory_allocated()
            if peak_four <= peak_one:
                raise AssertionError("4 images took no more memory than 1: nothing to cap")
            _cap((peak_one + peak_four) // 2)
        first = generator.generate(request, read_artifact=store.get)
        batches = [c.recipe.batch for c in first]
        if len(first) != 4 or max(batches) >= 4:
            raise AssertionError(f"batches {batches}: the cap did not bite or candidates lost")
        again = generator.generate(request, read_artifact=store.get)
        if [c.recipe.batch for c in again] != batches:
            raise AssertionError("the next request did not start at the size that fitted")
        check_pixels([c.image for c in first])
        return f"batches {batches}, remembered"
    finally:
        if cap is not None:
            cap.handle.remove()
        if not setup.dry:
            torch.cuda.set_per_process_memory_fraction(1.0)


def check_offload(setup: Setup) -> str:
    """One SDXL image under a cap that the weights and the work exceed together, but the UNet,
    the ControlNets and the work alone do not: the fallback turns model CPU offload on (the text
    encoders and the VAE wait on the CPU). Then restore() puts every module back, with no hook
    left. (SDXL: its text encoders leave a wide margin between the two.)"""
    if setup.dry:
        return "SKIP: no accelerator to offload from (the tests run accelerate's hooks on CPU)"
    settings = setup.settings("float16", xl=True)
    store = ArtifactStore(settings.artifacts_dir)
    priors = make_priors(store, setup.xl_size, candidates=1, steps=setup.steps)
    components = Components(settings)
    generator = Generator(settings, components=components)
    request = GenerationRequest(priors=priors, candidates=1)
    try:
        _, peak = _resident_and_peak(generator, request, store)
        before = components.device_map()
        base = components.base
        waiting = _size(base.text_encoder) + _size(base.text_encoder_2) + _size(base.vae)
        _cap(peak - waiting // 2)
        (candidate,) = generator.generate(request, read_artifact=store.get)
        if not candidate.recipe.cpu_offload:
            raise AssertionError(
                f"drawn without offload: the cap ({(peak - waiting // 2) / 2**30:.1f} GiB) did"
                " not bite"
            )
        torch.cuda.set_per_process_memory_fraction(1.0)
        components.restore()  # a no-op if it could already, under the cap
        after = components.device_map()
        if after != before:
            moved = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
            raise AssertionError(f"restore() left modules elsewhere: {moved}")
        modules = [base.unet, base.vae, base.text_encoder, base.text_encoder_2]
        modules += list(components.loaded_controlnets.values())
        if any(hasattr(m, "_hf_hook") for module in modules for m in module.modules()):
            raise AssertionError("offload hooks left after restore()")
        return check_pixels([candidate.image]) + ", offloaded, restored"
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)


def check_upscale(setup: Setup) -> str:
    """The x4 upscaler in float16: its VAE decodes in float32, then is float16 again."""
    from PIL import Image

    from image_interpreter.generate.upscale import Upscaler

    dtype = "bfloat16" if setup.dry else "float16"
    settings = load_settings(
        profile="tiny", device="cpu" if setup.dry else str(setup.device), dtype=dtype,
        data_dir=setup.folder / "data", tiny_dir=setup.folder / "tiny-models",
    )  # fmt: skip
    upscaler = Upscaler(settings)
    vae = upscaler.sd_x4().vae
    seen: list[torch.dtype] = []
    handle = vae.decoder.register_forward_pre_hook(lambda m, args: seen.append(args[0].dtype))
    try:
        small = Image.fromarray(
            (np.random.default_rng(0).random((32, 32, 3)) * 255).astype("uint8")
        )
        image = upscaler.upscale(small, model="sd_x4", steps=2)
    finally:
        handle.remove()
    wanted = torch.float32 if dtype == "float16" else torch.bfloat16
    if set(seen) != {wanted}:
        raise AssertionError(f"the VAE decoded in {seen}, not {wanted}")
    if next(vae.parameters()).dtype != getattr(torch, dtype):
        raise AssertionError("the VAE was not put back in its dtype")
    return check_pixels([image]) + f", VAE decode in {str(wanted).removeprefix('torch.')}"


def check_extractor(setup: Setup, name: str) -> str:
    from PIL import Image

    from image_interpreter.extract.service import ExtractionService

    settings = load_settings(
        profile="tiny", device="cpu" if setup.dry else str(setup.device),
        dtype="bfloat16" if setup.dry else "float16", data_dir=setup.folder / "data",
        tiny_dir=setup.folder / "tiny-models",
    )  # fmt: skip
    service = ExtractionService(settings)
    y, x = np.mgrid[0:96, 0:96]
    picture = Image.fromarray((np.stack([x, y, x + y], -1) * 255 // 192).astype(np.uint8))
    ref = ImageRef(sha256=service.artifacts.put(encode_png(picture)), width=96, height=96)
    prior = service.extract(picture, ref, name, EXTRACTORS[name])
    return f"{prior.kind} prior"


def card_name() -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", torch.cuda.get_device_name(0)).strip("-").lower()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry", action="store_true", help="tiny models, bfloat16, on the CPU")
    parser.add_argument("--only", default=",".join(CHECKS), help=f"some of {','.join(CHECKS)}")
    parser.add_argument("--extractors", default="", help="comma-separated names (default: all)")
    parser.add_argument("--size", type=int, default=None, help="SD 1.5 size (512; dry 64)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (4; dry 2)")
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.dry
    if not cuda and not args.dry:
        print("No CUDA device: run with --dry (tiny models, bfloat16, CPU).", file=sys.stderr)
        return 2
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(only) - set(CHECKS))
    if unknown:
        parser.error(f"unknown checks {unknown}; choose from {', '.join(CHECKS)}")
    if args.dry:
        torch.set_num_threads(min(4, torch.get_num_threads()))
    report = Report(cuda)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        setup = Setup(
            dry=args.dry, device=torch.device("cuda" if cuda else "cpu"), folder=Path(scratch),
            size=args.size or (64 if args.dry else 512), xl_size=64 if args.dry else 1024,
            steps=args.steps or (2 if args.dry else 4),
        )  # fmt: skip
        dtypes = ("bfloat16",) if args.dry else ("float16", "bfloat16")
        where = "tiny, CPU" if args.dry else f"full size, {torch.cuda.get_device_name(0)}"
        print(f"gpu_check ({where}), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
        for xl in (False, True):
            if ("sdxl" if xl else "sd15") in only:
                for dtype in dtypes:
                    label = f"{'sdxl' if xl else 'sd15'} + 2 ControlNets, {dtype}"
                    report.run(label, lambda xl=xl, dtype=dtype: check_generation(setup, xl, dtype))
        if "oom" in only:
            report.run("oom: batch halves, remembered", lambda: check_oom(setup))
        if "offload" in only:
            report.run("oom at 1 image: offload, restore", lambda: check_offload(setup))
        if "upscale" in only:
            report.run("upscale x4, VAE upcast", lambda: check_upscale(setup))
        if "extract" in only:
            names = [n for n in args.extractors.split(",") if n] or list(EXTRACTORS)
            for name in names:
                report.run(f"extract {name}", lambda name=name: check_extractor(setup, name))
    summary = f"{len(report.lines) - report.failed} of {len(report.lines)} passed or skipped"
    print(summary)
    if cuda:
        out = Path(__file__).parent / "results" / f"{dt.date.today()}-{card_name()}.txt"
        out.parent.mkdir(exist_ok=True)
        out.write_text("\n".join([f"gpu_check on {where}", *report.lines, summary]) + "\n")
        print(f"written to {out}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
