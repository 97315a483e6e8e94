"""Benchmark: every registered extractor on the tiny profile — cold (model load + first run),
warm (model loaded, cache bypassed) and cached calls, side by side in one run.

Run: uv run python bench/extract.py [--repeat N] [--only NAME,...] [--size PX]
Prints medians in milliseconds. On a GPU machine set IMAGE_INTERPRETER_DEVICE=cuda; with real
weights cached, add --profile sd15 to measure the real models.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image
from skimage import data

from image_interpreter.errors import ImageInterpreterError
from image_interpreter.extract import ExtractionService, load_extractors
from image_interpreter.images import encode_png
from image_interpreter.priors import ImageRef
from image_interpreter.settings import load_settings

# Extractors that need packages or remote code not available by default; skipped with a reason.
NEEDS_EXTRAS = {
    "pose.dwpose": "needs OpenMMLab (mmpose, mmdet, mmcv)",
    "pose.mediapipe": "needs the mediapipe extra and its .task files",
    "objects.yolov5": "needs trusted torch.hub code (ultralytics/yolov5)",
    "caption.bedrock": "calls Amazon Bedrock (network)",
    "tags.resnext_wsl": "needs trusted torch.hub code",
    "tags.snnmlp": "needs trusted torch.hub code",
}
PARAMS = {
    "caption.query": {"question": "what is in the picture?"},
    "objects.owlv2": {"queries": ["a person", "a flag"]},
    "objects.florence2": {"queries": ["a person"]},
    "objects.sam_prompted": {"box": [0.2, 0.1, 0.8, 0.9]},
    "objects.sam": {"points_per_side": 4},
}


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--profile", default="tiny")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(profile=args.profile, data_dir=Path(tmp))
        service = ExtractionService(settings)
        photo = Image.fromarray(data.astronaut()).resize((args.size, args.size))
        source = ImageRef(sha256=service.artifacts.put(encode_png(photo)), width=args.size,
                          height=args.size)  # fmt: skip
        names = sorted(load_extractors())
        if args.only:
            names = [n for n in names if n in args.only.split(",")]
        print(f"profile {args.profile}, {args.size}x{args.size} photo, median of {args.repeat}")
        print(f"{'extractor':<24} {'cold':>10} {'warm':>10} {'cached':>10}  note")
        for name in names:
            if name in NEEDS_EXTRAS and args.profile == "tiny":
                print(f"{name:<24} {'-':>10} {'-':>10} {'-':>10}  skipped: {NEEDS_EXTRAS[name]}")
                continue
            params = PARAMS.get(name, {})
            try:
                start = time.perf_counter()
                service.extract(photo, source, name, params)
                cold = time.perf_counter() - start
                extractor = service.instance(name)
                warm = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    with extractor.run_lock:
                        extractor.extract(photo, service.params_for(extractor, params),
                                          _context(service))  # fmt: skip
                    warm.append(time.perf_counter() - start)
                cached = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    service.extract(photo, source, name, params)
                    cached.append(time.perf_counter() - start)
            except ImageInterpreterError as exc:
                print(f"{name:<24} {'-':>10} {'-':>10} {'-':>10}  failed: {exc}")
                continue
            ratio = median_ms(warm) / median_ms(cached)
            print(f"{name:<24} {cold * 1e3:>8.1f}ms {median_ms(warm):>8.1f}ms"
                  f" {median_ms(cached):>8.2f}ms  warm/cached x{ratio:.0f}")  # fmt: skip


def _context(service: ExtractionService):
    from image_interpreter.extract.base import ExtractContext

    return ExtractContext(put_artifact=service.artifacts.put)


if __name__ == "__main__":
    main()
