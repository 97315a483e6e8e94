"""Benchmark: our Generator.generate() against the bare diffusers pipeline call, side by side.

    overhead  generate(request) vs the diffusers pipeline called directly on the same modules,
              control images, prompt and per-image seeds (the pixels are checked to be the
              same); target ratio <= 1.05
    batching  4 candidates in one generate() call vs 4 calls of one candidate

Always on the tiny profile on the CPU (random-weight miniature models, no download). With CUDA,
also on the full-size SD 1.5 architecture with random weights (built from its configs, saved to
a temporary folder and loaded through the same code as a real model): 512x512, 20 steps,
2 ControlNets, 4 candidates, bf16, seconds per request and peak GPU memory, ours against the
bare call on the same modules and against plain diffusers defaults (float32 from_pretrained).

Run: uv run python bench/generate.py [--repeat N] [--threads T] [--size S] [--steps K]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.generate import GenerationRequest, Generator, clear_shared_components
from image_interpreter.images import encode_png
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.render import RenderCache, render_controls
from image_interpreter.priors.schema import (
    ArtifactRef,
    CaptionPrior,
    DepthPrior,
    ImageRef,
    PeoplePrior,
    PriorSet,
)
from image_interpreter.settings import Settings, load_settings

TARGET = 1.05
KINDS = ("people", "depth")
ROLES = ("controlnet.pose", "controlnet.depth")


def make_priors(store: ArtifactStore, size: int) -> PriorSet:
    """A caption, one person (pose ControlNet) and a depth ramp (depth ControlNet)."""
    import io

    from PIL import Image

    y, x = np.mgrid[0:size, 0:size]
    source = Image.fromarray(np.stack([x, y, x + y], -1).astype(np.uint8) * 3)
    depth = np.tile(np.linspace(0, 65535, size).round().astype(np.uint16), (size, 1))
    buffer = io.BytesIO()
    Image.fromarray(depth).save(buffer, format="PNG")
    return PriorSet(
        source=ImageRef(sha256=store.put(encode_png(source)), width=size, height=size),
        caption=CaptionPrior(text="a woman dancing in a sunlit studio", style=["photograph"]),
        people=PeoplePrior(people=[example_person()], weight=0.9, end=0.8),
        depth=DepthPrior(map=ArtifactRef(sha256=store.put(buffer.getvalue())), weight=0.6),
    )


def timed(fn: Callable[[], Any], sync: bool) -> float:
    if sync:
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if sync:
        torch.cuda.synchronize()
    return time.perf_counter() - start


class Case:
    """One model set: our generate() and the bare pipeline call on the same inputs."""

    def __init__(self, settings: Settings, store: ArtifactStore, size: int, steps: int, n: int):
        self.generator = Generator(settings)
        self.store = store
        self.cache = RenderCache()
        priors = make_priors(store, size)
        self.request = GenerationRequest(
            priors=priors, candidates=n, seed=0, steps=steps, width=size, height=size
        )
        self.sync = self.generator.components.device.type == "cuda"
        # The bare call: a ControlNet pipeline on the very same modules.
        components = self.generator.components
        self.pipe = components.pipeline("text", ROLES)
        self.controls = render_controls(priors, (size, size), store.get, kinds=KINDS)
        self.n = n

    def ours(self, **update: Any) -> list:
        request = self.request.model_copy(update=update)
        return self.generator.generate(
            request, read_artifact=self.store.get, render_cache=self.cache
        )

    def bare_kwargs(self, pipe: Any = None) -> dict[str, Any]:
        plan = self.request
        return {
            "prompt": "a woman dancing in a sunlit studio, photograph",
            "negative_prompt": "",
            "image": [self.controls[kind] for kind in KINDS],
            "height": plan.height,
            "width": plan.width,
            "num_inference_steps": plan.steps,
            "guidance_scale": 7.5,
            "num_images_per_prompt": self.n,
            "generator": [torch.Generator("cpu").manual_seed(i) for i in range(self.n)],
            "controlnet_conditioning_scale": [0.9, 0.6],
            "control_guidance_start": [0.0, 0.0],
            "control_guidance_end": [0.8, 1.0],
        }

    def bare(self, pipe: Any = None) -> list:
        pipe = pipe or self.pipe
        return pipe(**self.bare_kwargs()).images

    def compare(self, repeat: int) -> dict[str, float]:
        ours_images = [np.asarray(c.image) for c in self.ours()]  # warm up both
        bare_images = [np.asarray(i) for i in self.bare()]
        same = all(np.array_equal(a, b) for a, b in zip(ours_images, bare_images, strict=True))
        ours_s, bare_s, batched_s, one_by_one_s = [], [], [], []
        for _ in range(repeat):  # interleaved, so drift on a busy machine hits both alike
            ours_s.append(timed(self.ours, self.sync))
            bare_s.append(timed(self.bare, self.sync))
        for _ in range(repeat):
            batched_s.append(timed(self.ours, self.sync))
            one_by_one_s.append(
                timed(lambda: [self.ours(candidates=1, seed=i) for i in range(self.n)], self.sync)
            )
        return {
            "same_pixels": float(same),
            "ours": statistics.median(ours_s),
            "bare": statistics.median(bare_s),
            "batched": statistics.median(batched_s),
            "sequential": statistics.median(one_by_one_s),
        }


def report(title: str, r: dict[str, float], n: int) -> None:
    ratio = r["ours"] / r["bare"]
    verdict = "ok" if ratio <= TARGET else f"ABOVE the {TARGET} target"
    print(title)
    print(f"  same pixels as the bare call:      {'yes' if r['same_pixels'] else 'NO'}")
    print(f"  bare diffusers pipeline call:      {r['bare']:8.3f} s per request")
    print(f"  our generate():                    {r['ours']:8.3f} s per request")
    print(f"  overhead ratio ours / bare:        {ratio:8.3f}  ({verdict})")
    print(f"  {n} candidates in one call:          {r['batched']:8.3f} s")
    print(f"  {n} calls of one candidate:          {r['sequential']:8.3f} s")
    print(f"  batched speed-up:                  {r['sequential'] / r['batched']:8.2f}x")


def tiny(args: argparse.Namespace, folder: Path) -> None:
    settings = load_settings(profile="tiny", device="cpu", data_dir=folder / "tiny")
    store = ArtifactStore(settings.artifacts_dir)
    case = Case(settings, store, args.size, args.steps, 4)
    result = case.compare(args.repeat)
    report(
        f"tiny profile, CPU ({torch.get_num_threads()} threads), {args.size}x{args.size},"
        f" {args.steps} steps, 2 ControlNets, 4 candidates, medians of {args.repeat}:",
        result,
        4,
    )
    ranking(case, settings, store, result["batched"])


def ranking(case: Case, settings: Settings, store: ArtifactStore, gen_s: float) -> None:
    """What ranking adds to a request: CLIP score plus the enabled priors (pose, depth)
    extracted again from every candidate."""
    from image_interpreter.extract import ExtractionService
    from image_interpreter.rank import rank

    service = ExtractionService(settings, store)

    def run(seed: int) -> float:
        images = [c.image for c in case.ours(seed=seed)]
        return timed(
            lambda: rank(images, case.request.priors, settings=settings, service=service,
                         read_artifact=store.get, put_artifact=store.put),
            case.sync,
        )  # fmt: skip

    first = run(100)  # loads CLIP and the extractors' models
    fresh = statistics.median(run(200 + i) for i in range(3))  # new pictures, models loaded
    print("ranking 4 new candidates (CLIP + pose and depth extracted again):")
    print(f"  first call (loads the models):     {first:8.3f} s")
    print(f"  models loaded, new candidates:     {fresh:8.3f} s")
    print(f"  ranking / generating them:         {fresh / gen_s:8.2f}x")


# --- full-size SD 1.5 architecture, random weights (CUDA only) ---------------------------------


def build_sd15(folder: Path, tokenizer_from: Path) -> tuple[Path, list[Path]]:
    """Random-weight SD 1.5 (UNet, VAE, CLIP ViT-L/14 text encoder) and two ControlNets, from
    the published architecture numbers; saved in bf16. The tokenizer is the tiny one (only
    token ids matter for timing)."""
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
            projection_dim=768,
        )
    )  # fmt: skip
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
        steps_offset=1, set_alpha_to_one=False,
    )  # fmt: skip
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_from / "tokenizer")
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.to(torch.bfloat16)
    base = folder / "sd15-random"
    pipe.save_pretrained(base)
    nets = []
    for i in range(2):
        net = ControlNetModel.from_unet(unet).to(torch.bfloat16)
        nets.append(folder / f"controlnet-random-{i}")
        net.save_pretrained(nets[-1])
    return base, nets


def gpu(args: argparse.Namespace, folder: Path) -> None:
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    from image_interpreter.models import ensure_tiny

    tiny_settings = load_settings(profile="tiny", data_dir=folder / "tiny")
    print("building random-weight SD 1.5 + 2 ControlNets (full size) ...", flush=True)
    base, nets = build_sd15(folder, ensure_tiny("tiny/sd-base", tiny_settings))
    settings = load_settings(
        profile="sd15", device="cuda", dtype="bfloat16", data_dir=folder / "sd15",
        models={"sd.base": str(base), ROLES[0]: str(nets[0]), ROLES[1]: str(nets[1])},
    )  # fmt: skip
    store = ArtifactStore(settings.artifacts_dir)
    size, steps, n = 512, 20, 4

    torch.cuda.reset_peak_memory_stats()
    case = Case(settings, store, size, steps, n)
    case.generator.components.controlnet(ROLES[0])
    case.generator.components.controlnet(ROLES[1])
    resident = torch.cuda.memory_allocated()
    result = case.compare(args.repeat)
    ours_peak = torch.cuda.max_memory_allocated()
    report(
        f"full-size SD 1.5 (random weights), CUDA bf16, {size}x{size}, {steps} steps,"
        f" 2 ControlNets, {n} candidates, medians of {args.repeat}:",
        result,
        n,
    )
    print(f"  weights resident: {resident / 2**30:.2f} GiB, peak: {ours_peak / 2**30:.2f} GiB")
    kwargs = case.bare_kwargs()
    del case
    clear_shared_components()
    gc.collect()
    torch.cuda.empty_cache()

    torch.cuda.reset_peak_memory_stats()
    plain = StableDiffusionControlNetPipeline.from_pretrained(
        base,
        controlnet=[ControlNetModel.from_pretrained(p, torch_dtype=torch.float32) for p in nets],
        torch_dtype=torch.float32,
    ).to("cuda")
    plain.set_progress_bar_config(disable=True)
    plain(**kwargs)
    samples = [timed(lambda: plain(**kwargs), True) for _ in range(args.repeat)]
    plain_peak = torch.cuda.max_memory_allocated()
    plain_s = statistics.median(samples)
    print("plain diffusers defaults (float32 from_pretrained, no settings changed):")
    print(f"  {plain_s:8.3f} s per request, peak {plain_peak / 2**30:.2f} GiB")
    print(f"  ours (bf16, channels-last, shared base) vs plain: {plain_s / result['ours']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--size", type=int, default=64, help="tiny: image side in pixels")
    parser.add_argument("--steps", type=int, default=4, help="tiny: denoising steps")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as scratch:
        folder = Path(scratch)
        tiny(args, folder)
        print()
        if torch.cuda.is_available():
            gpu(args, folder)
        else:
            print(
                "No CUDA GPU found: the full-size SD 1.5 part (512x512, 20 steps, bf16) is skipped."
            )


if __name__ == "__main__":
    main()
