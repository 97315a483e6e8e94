"""`image-interpreter --help` must not import the heavy libraries: the subcommands import them
when they run (measured with bench/cli_startup.py; this test checks the behaviour, not time)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "diffusers", "transformers", "sqlalchemy", "numpy", "PIL", "pydantic_settings")


def imported_modules(*args: str) -> set[str]:
    """Every module imported by `python -X importtime -m image_interpreter.cli ARGS`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "image_interpreter.cli", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage:" in result.stdout
    return {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


@pytest.mark.parametrize(
    "args", [("--help",), ("generate", "--help"), ("session", "--help"), ("extract", "--help")]
)
def test_help_imports_no_heavy_library(args: tuple[str, ...]) -> None:
    modules = imported_modules(*args)
    assert "image_interpreter.cli.main" in modules  # the parse found the CLI's imports
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, f"{' '.join(args)} imported {heavy[:10]}"
