"""How long `image-interpreter --help` takes to start, and which imports cost the most.

    uv run python bench/cli_startup.py            # wall time of --help (best of 3) + top imports

Runs `python -X importtime -m image_interpreter.cli --help` and sums the cumulative import time
of each top-level module, so a command module that imports torch or the agent eagerly shows up.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def wall_seconds(runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "image_interpreter.cli", "--help"],
                       capture_output=True, check=True)  # fmt: skip
        best = min(best, time.perf_counter() - start)
    return best


def top_imports(count: int) -> list[tuple[float, str]]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "image_interpreter.cli", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line[12:]:
            continue
        _, cumulative, name = (part.strip() for part in line[12:].split("|"))
        if cumulative.isdigit() and name.startswith("image_interpreter"):
            rows.append((int(cumulative) / 1e6, name))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    print(f"image-interpreter --help: {wall_seconds(args.runs):.2f} s (best of {args.runs})")
    print("heaviest image_interpreter imports (cumulative seconds):")
    for seconds, name in top_imports(args.top):
        print(f"  {seconds:6.2f}  {name}")


if __name__ == "__main__":
    main()
