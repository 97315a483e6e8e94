"""bench/gpu_check.py in its dry mode (tiny models, bfloat16, CPU): the script CI can run that
a GPU machine runs at full size. Every check it runs passes or says why it is skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "bench" / "gpu_check.py"


def test_the_gpu_check_runs_dry_and_every_line_passes(tmp_path):
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry", "--only", "oom,offload,upscale,extract",
         "--extractors", "edges.canny,tags.squeezenet"],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
    )  # fmt: skip
    lines = [line for line in run.stdout.splitlines() if line[:4] in ("PASS", "FAIL", "SKIP")]
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    names = [line[6:40].strip() for line in lines]
    assert names == [
        "oom: batch halves, remembered",
        "oom at 1 image: offload, restore",
        "upscale x4, VAE upcast",
        "extract edges.canny",
        "extract tags.squeezenet",
    ]
    assert [line[:4] for line in lines] == ["PASS", "SKIP", "PASS", "PASS", "PASS"]
    assert "batches [2, 2, 2, 2]" in lines[0]


def test_without_cuda_it_asks_for_the_dry_run():
    import torch

    if torch.cuda.is_available():
        return  # a GPU machine runs the real thing
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 2 and "--dry" in run.stderr
