"""Cross-session batching in one process: N sessions' compatible requests drawn one call each
(`Generator.generate`) and together (`Generator.generate_many`), on the tiny profile.

Prints the time of each, the throughput ratio, and the pixel identity check: the largest
difference between a batched candidate and the same candidate drawn alone (batch-size rounding),
and whether `regenerate(exact=True)` redraws every batched candidate bit for bit.

    uv run python bench/cross_session_batching.py --sessions 4 --steps 4 --size 128
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_generate_support import make_priors

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.generate import GenerationRequest, Generator
from image_interpreter.priors.schema import CaptionPrior
from image_interpreter.settings import load_settings

CAPTIONS = ["a woman in a park", "an old man on a beach", "a dog in the snow", "a red car"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=1, help="per session")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(tempfile.mkdtemp(prefix="batching-bench-"))
    settings = load_settings(profile="tiny", device="cpu", data_dir=folder)
    store = ArtifactStore(settings.artifacts_dir)
    base = make_priors(store, size=args.size, steps=args.steps)
    requests = [
        GenerationRequest(
            priors=base.model_copy(
                update={"caption": CaptionPrior(text=CAPTIONS[i % len(CAPTIONS)] + f" {i}")}
            ),
            candidates=args.candidates,
            seed=100 * i,
        )
        for i in range(args.sessions)
    ]
    generator = Generator(settings)
    generator.generate(requests[0], read_artifact=store.get)  # load the models
    alone_s, together_s = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        alone = [generator.generate(r, read_artifact=store.get) for r in requests]
        alone_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        together = generator.generate_many(requests, read_artifact=store.get)
        together_s.append(time.perf_counter() - start)
    images = args.sessions * args.candidates
    best_alone, best_together = min(alone_s), min(together_s)
    print(f"{args.sessions} sessions x {args.candidates} candidates, {args.size}px, {args.steps}"
          f" steps, {args.threads} thread(s), best of {args.repeats}")  # fmt: skip
    print(f"one call each : {best_alone:.2f} s  ({60 * images / best_alone:.1f} images/min)")
    print(f"one call      : {best_together:.2f} s  ({60 * images / best_together:.1f} images/min)")
    print(f"throughput ratio: {best_alone / best_together:.2f}x")
    diffs, exact = [], True
    for request, batched, single in zip(requests, together, alone, strict=True):
        for a, b in zip(batched, single, strict=True):
            diff = np.abs(np.asarray(a.image).astype(int) - np.asarray(b.image).astype(int))
            diffs.append((int(diff.max()), float((diff > 0).mean())))
            again = generator.regenerate(
                a.recipe, request.priors, read_artifact=store.get, exact=True
            )
            exact &= np.array_equal(np.asarray(again.image), np.asarray(a.image))
    print(
        f"batched vs alone: max level difference {max(d for d, _ in diffs)}, at most"
        f" {100 * max(f for _, f in diffs):.3f}% of values differ"
    )
    print(f"exact redraw from each batched recipe identical: {exact}")


if __name__ == "__main__":
    main()
