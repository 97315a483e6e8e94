"""Benchmark: prior guidance during sampling, against the same seeds unguided.

    tiny   (always, CPU) for each prior kind and the joint loss, guided alone at increasing
           weights: that prior's loss on the final image (the guidance loss itself), the
           ranker's consistency score for the kind (re-extracted through the extractors), on
           every seed; whether the guided loss is below the unguided one on every seed; and the
           time of a guided request over the unguided one (drawn interleaved, same seeds).
    cuda   (only with CUDA) full-size SD 1.5 + 2 ControlNets (pose, depth) with random weights
           (same cost as real ones), 512x512, 20 steps, 4 candidates, bf16; guidance on depth
           and pose every other step (Depth Anything V2 Small and OpenPose body networks at full
           size, random; TAESD-sized decoder) against unguided: seconds and peak GPU memory.
           Goal: <= 1.6x the unguided time, <= 12 GB peak.

Run: uv run python bench/guidance.py [--seeds 1 2 3] [--weights 0 1 2 4] [--steps 6]
     [--kinds depth people ...] [--threads T] [--no-cuda]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.generate import GenerationRequest, Generator, clear_shared_components
from image_interpreter.generate.guidance import prepare_guidance
from image_interpreter.images import encode_png
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.render.ade20k import ade20k_index
from image_interpreter.priors.schema import (
    ArtifactRef,
    Box,
    CaptionPrior,
    DepthPrior,
    DetectedObject,
    EdgesPrior,
    GenerationSettings,
    Guide,
    ImageRef,
    ObjectsPrior,
    PeoplePrior,
    PriorSet,
    SegmentationPrior,
)
from image_interpreter.settings import Settings, load_settings

KINDS = ("depth", "people", "segmentation", "objects", "edges", "caption", "joint")
PART = {"people": "people", "depth": "depth", "segmentation": "segmentation",
        "objects": "objects", "edges": "edges", "joint": "depth"}  # fmt: skip


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def make_priors(store: ArtifactStore, size: int, steps: int) -> PriorSet:
    """Every kind with a loss: a caption, one person, a depth ramp, a horizon line, a person/sky
    segmentation, a kept tree and a removed car."""
    y, x = np.mgrid[0:size, 0:size]
    source = Image.fromarray((np.stack([x, y, x + y], -1) * (200 // size)).astype(np.uint8))
    depth = np.tile(np.linspace(0, 65535, size).round().astype(np.uint16)[:, None], (1, size))
    edges = np.zeros((size, size), np.uint8)
    edges[size // 2, 4:-4] = 255
    edges[4:-4, size // 3] = 255
    seg = np.full((size, size), ade20k_index("sky"), np.uint8)
    seg[size // 2 :, :] = ade20k_index("grass")
    seg[size // 4 :, size // 3 : 2 * size // 3] = ade20k_index("person")
    tree = np.zeros((size, size), np.uint8)
    tree[: size // 2, : size // 4] = 255
    car = np.zeros((size, size), np.uint8)
    car[3 * size // 4 :, 3 * size // 4 :] = 255

    def ref(data: bytes) -> ArtifactRef:
        return ArtifactRef(sha256=store.put(data))

    return PriorSet(
        source=ImageRef(sha256=store.put(encode_png(source)), width=size, height=size),
        caption=CaptionPrior(text="a woman standing on grass under a blue sky"),
        people=PeoplePrior(people=[example_person()], weight=0.9),
        depth=DepthPrior(map=ref(_png(depth)), weight=0.6),
        edges=EdgesPrior(map=ref(_png(edges)), method="canny", weight=0.4),
        segmentation=SegmentationPrior(map=ref(_png(seg)), weight=0.5),
        objects=ObjectsPrior(
            objects=[
                DetectedObject(label="tree", box=Box(x0=0, y0=0, x1=0.25, y1=0.5),
                               mask=ref(_png(tree))),
                DetectedObject(label="car", box=Box(x0=0.75, y0=0.75, x1=1, y1=1),
                               mask=ref(_png(car)), action="remove"),
            ]
        ),
        generation=GenerationSettings(width=size, height=size, steps=steps, candidates=1),
    )  # fmt: skip


def with_guide(priors: PriorSet, kind: str, guide: Guide) -> PriorSet:
    if kind == "joint":
        generation = priors.generation.model_copy(update={"joint_guide": guide})
        return priors.model_copy(update={"generation": generation})
    return priors.model_copy(
        update={kind: getattr(priors, kind).model_copy(update={"guide": guide})}
    )


def image_loss(loss: Any, image: Image.Image) -> float:
    pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)
    with torch.no_grad():
        return float(loss(pixels.permute(2, 0, 1)[None]))


def consistency(kind: str, image: Image.Image, priors: PriorSet, store, service) -> float | None:
    from image_interpreter.rank.consistency import prior_consistency

    part = PART.get(kind)
    if part is None:
        return None
    ref = ImageRef(sha256=store.put(encode_png(image)), width=image.width, height=image.height)
    found = prior_consistency(image, ref, priors, service, kinds=[part])
    return found[part].score if part in found else None


def tiny(args: argparse.Namespace, folder: Path) -> list[str]:
    from image_interpreter.extract.service import ExtractionService

    settings = load_settings(profile="tiny", device="cpu", data_dir=folder / "tiny")
    store = ArtifactStore(settings.artifacts_dir)
    service = ExtractionService(settings, store)
    generator = Generator(settings)
    components = generator.components
    priors = make_priors(store, args.size, args.steps)
    rows = [
        "| prior | weight | loss per seed | ranker consistency (mean) | s per request"
        " | guided/unguided time |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    every_seed = {}

    def draw(p: PriorSet, seed: int) -> tuple[Image.Image, float]:
        request = GenerationRequest(priors=p, seed=seed, candidates=1)
        began = time.perf_counter()
        image = generator.generate(request, read_artifact=store.get)[0].image
        return image, time.perf_counter() - began

    draw(priors, args.seeds[0])  # warm-up: loads the generator's models
    plain = {seed: draw(priors, seed) for seed in args.seeds}
    for kind in args.kinds:
        try:
            probe = with_guide(priors, kind, Guide(weight=1.0))
            guidance = prepare_guidance(
                probe, (args.size, args.size), store.get, priors.caption.text,
                settings=settings, base_vae=components.base.vae, device=components.device,
                dtype=components.dtype,
            )  # fmt: skip
            (term,) = guidance.terms
            draw(probe, args.seeds[0])  # warm the networks up before timing
        except Exception as exc:  # one kind's missing library must not hide the others
            rows.append(f"| {kind} | - | failed: {type(exc).__name__}: {str(exc)[:80]} | | | |")
            continue
        base_losses = [image_loss(term.loss, plain[s][0]) for s in args.seeds]
        base_time = statistics.mean(plain[s][1] for s in args.seeds)
        lower_everywhere = True
        for weight in args.weights:
            ratio = 1.0
            if weight == 0:
                losses, seconds, images = base_losses, base_time, [plain[s][0] for s in args.seeds]
            else:
                p = with_guide(priors, kind, Guide(weight=weight))
                drawn, unguided = [], []
                for s in args.seeds:  # interleaved, so a busy machine slows both alike
                    drawn.append(draw(p, s))
                    unguided.append(draw(priors, s)[1])
                images = [image for image, _ in drawn]
                losses = [image_loss(term.loss, image) for image in images]
                seconds = statistics.mean(t for _, t in drawn)
                ratio = sum(t for _, t in drawn) / sum(unguided)
                lower_everywhere &= all(g < b for g, b in zip(losses, base_losses, strict=True))
            scores = [consistency(kind, im, priors, store, service) for im in images]
            shown = [s for s in scores if s is not None]
            score = f"{statistics.mean(shown):.3f}" if shown else "-"
            rows.append(
                f"| {kind} | {weight:g} | {' '.join(f'{v:.4g}' for v in losses)} | {score}"
                f" | {seconds:.2f} | {ratio:.2f}x |"
            )
            print(rows[-1], flush=True)
        every_seed[kind] = lower_everywhere
    print(f"tiny profile, CPU, {args.size}x{args.size}, {args.steps} steps, seeds {args.seeds}:")
    print("\n".join(rows))
    for kind, lower in every_seed.items():
        print(f"  {kind}: guided loss below unguided on every seed and weight: {lower}")
    return rows


# --- full-size, random weights (CUDA only) ------------------------------------------------------


def _bench_generate() -> Any:
    """bench/generate.py, for its full-size SD 1.5 builder."""
    path = Path(__file__).with_name("generate.py")
    spec = importlib.util.spec_from_file_location("bench_generate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_guidance_models(folder: Path) -> dict[str, Path]:
    """Depth Anything V2 Small and TAESD at full size, random weights, saved like the hub's."""
    from diffusers import AutoencoderTiny
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                            image_size=518, patch_size=14, out_indices=[3, 6, 9, 12],
                            reshape_hidden_states=False)  # fmt: skip
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=384,
                                 neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64,
                                 head_hidden_size=32, depth_estimation_type="relative")  # fmt: skip
    depth = folder / "depth-anything-v2-small-random"
    DepthAnythingForDepthEstimation(config).save_pretrained(depth)
    DPTImageProcessor(size={"height": 518, "width": 518}, keep_aspect_ratio=True,
                      ensure_multiple_of=14, image_mean=[0.485, 0.456, 0.406],
                      image_std=[0.229, 0.224, 0.225]).save_pretrained(depth)  # fmt: skip
    taesd = folder / "taesd-random"
    AutoencoderTiny().save_pretrained(taesd)
    return {"extract.depth.depth_anything": depth, "guidance.decoder": taesd}


def cuda(args: argparse.Namespace, folder: Path) -> None:
    from image_interpreter.models import ensure_tiny

    bench = _bench_generate()
    tiny_settings = load_settings(profile="tiny", data_dir=folder / "tiny-cuda")
    print("building random-weight SD 1.5 + 2 ControlNets + guidance networks ...", flush=True)
    base, nets = bench.build_sd15(folder, ensure_tiny("tiny/sd-base", tiny_settings))
    models = {
        "sd.base": str(base),
        "controlnet.pose": str(nets[0]),
        "controlnet.depth": str(nets[1]),
        "extract.pose.openpose": "tiny/openpose",  # the full-size networks, random weights
    }
    models |= {role: str(path) for role, path in build_guidance_models(folder).items()}
    size, steps, n = 512, 20, 4
    for decoder in ("tiny", "vae"):
        settings: Settings = load_settings(
            profile="sd15", device="cuda", dtype="bfloat16", data_dir=folder / f"sd15-{decoder}",
            tiny_dir=folder / "tiny-cuda" / "tiny-models", models=models,
            generation={"guidance_decoder": decoder},
        )  # fmt: skip
        store = ArtifactStore(settings.artifacts_dir)
        generator = Generator(settings)
        plain = bench.make_priors(store, size)
        every_other = Guide(weight=1.0, every=2)
        guided = with_guide(with_guide(plain, "depth", every_other), "people", every_other)
        results = {}
        for label, priors in (("unguided", plain), ("guided", guided)):
            request = GenerationRequest(priors=priors, candidates=n, seed=0, steps=steps,
                                        width=size, height=size)  # fmt: skip
            generator.generate(request, read_artifact=store.get)  # warm-up: loads, cudnn
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            samples = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                generator.generate(request, read_artifact=store.get)
                torch.cuda.synchronize()
                samples.append(time.perf_counter() - began)
            results[label] = (statistics.median(samples), torch.cuda.max_memory_allocated())
        (plain_s, plain_peak), (guided_s, guided_peak) = results["unguided"], results["guided"]
        print(
            f"full-size SD 1.5 + 2 ControlNets (random weights), CUDA bf16, {size}x{size},"
            f" {steps} steps, {n} candidates, depth + pose guidance every other step,"
            f" decoder '{decoder}', median of {args.repeat}:"
        )
        print(f"  unguided {plain_s:7.2f} s, peak {plain_peak / 2**30:5.2f} GiB")
        print(f"  guided   {guided_s:7.2f} s, peak {guided_peak / 2**30:5.2f} GiB"
              f"  ({guided_s / plain_s:.2f}x the time; goal <= 1.6x, <= 12 GB)")  # fmt: skip
        del generator
        clear_shared_components()
        gc.collect()
        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--weights", type=float, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--size", type=int, default=64, help="tiny: image side in pixels")
    parser.add_argument("--steps", type=int, default=6, help="tiny: denoising steps")
    parser.add_argument("--repeat", type=int, default=3, help="cuda: timed requests")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-tiny", action="store_true", help="only the CUDA part")
    parser.add_argument("--no-cuda", action="store_true", help="only the tiny part")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-guidance-") as scratch:
        folder = Path(scratch)
        if not args.no_tiny:
            tiny(args, folder)
            print()
        if args.no_cuda:
            return
        if torch.cuda.is_available():
            cuda(args, folder)
        else:
            print("No CUDA GPU found: the full-size part (SD 1.5, 512x512, 20 steps) is skipped.")


if __name__ == "__main__":
    main()
