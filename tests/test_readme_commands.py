"""Every command in the README's shell blocks runs as written, on the `tiny` profile, in a fresh
folder prepared with the inputs it names (photo.jpg, priors.json, a session for SESSION_ID).

Servers are checked with `--help`; the few commands not run at all are listed in NOT_RUN with the
reason. A command that fails shows itself and its output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from image_interpreter.priors.examples import example_priorset

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Not run, and why. Matched against the start of a command as written in the README.
NOT_RUN = {
    "uv run pytest": "the test suite itself",
    "uv run ruff": "the linters over the whole checkout, a developer's step",
    "uv run python bench/": "benchmarks take minutes and measure speed, not behaviour",
    "uv run chainlit": "the web app is a server; tests/test_web.py drives it in a browser",
    "IMAGE_INTERPRETER_PROFILE=tiny uv run chainlit": "as above",
    "export ": "sets the variables of the command on the next line",
    "uv run image-interpreter dialogue run tests/dialogues/*.yaml": "every scripted dialogue, for"
    " minutes; tests/test_dialogues.py runs them all",
}
# Servers that would run until stopped: their --help must work.
SERVERS = (
    "image-interpreter slack",
    "image-interpreter mcp",
    "image-interpreter --profile tiny mcp",
    "python -m image_interpreter.interfaces.mcp_cli",
)
# Interactive: given this on standard input.
INPUT = {"image-interpreter chat": "what do you see?\nquit\n"}
TIMEOUT = 600  # seconds per command: building every tiny model takes the first one minutes


def readme_commands(text: str) -> list[str]:
    """The commands of the ```bash blocks: continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = _without_comment(line).strip()
            if line:
                commands.append(re.sub(r"\s+", " ", line))
    return commands


def _without_comment(line: str) -> str:
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def runnable(command: str) -> tuple[str, str | None] | None:
    """(shell command, standard input) to run for a README command; None if not run."""
    if any(command.startswith(prefix) for prefix in NOT_RUN):
        return None
    bare = command.removeprefix("uv run ")
    python = f"'{sys.executable}'"
    if bare.startswith(SERVERS):
        bare += " --help"  # options before it are parsed, and nothing starts
    stdin = next((text for prefix, text in INPUT.items() if bare.startswith(prefix)), None)
    if bare.startswith("image-interpreter"):
        bare = f"{python} -m image_interpreter.cli" + bare.removeprefix("image-interpreter")
    elif bare.startswith("python "):
        bare = python + bare.removeprefix("python")
    return bare, stdin


@pytest.fixture
def folder(tmp_path, tmp_path_factory):
    """photo.jpg, priors.json and one session, as a reader of the README would have them; the
    repository's tests/ and demo beside them for commands that name them."""
    Image.fromarray(data.astronaut()).resize((128, 128)).save(tmp_path / "photo.jpg")
    (tmp_path / "priors.json").write_text(example_priorset().to_json())
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    (tmp_path / "image_interpreter").symlink_to(ROOT / "image_interpreter")
    return tmp_path


def _env(folder: Path, tiny_models: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGE_INTERPRETER_")}
    return env | {
        "IMAGE_INTERPRETER_PROFILE": "tiny",
        "IMAGE_INTERPRETER_DATA_DIR": str(folder / "data"),
        "IMAGE_INTERPRETER_TINY_DIR": str(tiny_models),
        "IMAGE_INTERPRETER_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "120",
    }


def _run(shell: str, folder: Path, env: dict[str, str], stdin: str | None = None):
    return subprocess.run(["bash", "-c", shell], cwd=folder, env=env, input=stdin or "",
                          capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip


def test_the_readme_names_commands_and_the_test_runs_most_of_them():
    commands = readme_commands(README.read_text(encoding="utf-8"))
    run = [c for c in commands if runnable(c) is not None]
    # Benchmarks are listed for developers and left out as a kind; of the rest, most must run.
    kept_out = [c for c in commands if c not in run and not c.startswith("uv run python bench/")]
    assert len(run) >= 20 and len(kept_out) <= 10
    assert any(c.startswith("uv run image-interpreter extract photo.jpg") for c in run)


def test_every_readme_command_runs_as_written_on_tiny(folder, tmp_path_factory):
    env = _env(folder, tmp_path_factory.getbasetemp() / "tiny-models")
    made = _run(f"'{sys.executable}' -m image_interpreter.cli session new photo.jpg", folder, env)
    assert made.returncode == 0, made.stdout + made.stderr
    session_id = re.search(r"Session (\S+)", made.stdout).group(1)
    failures = []
    for command in readme_commands(README.read_text(encoding="utf-8")):
        plan = runnable(command)
        if plan is None:
            continue
        shell, stdin = plan
        result = _run(shell.replace("SESSION_ID", session_id), folder, env, stdin)
        if result.returncode != 0:
            failures.append(f"$ {command}\n{result.stdout[-1500:]}{result.stderr[-1500:]}")
    assert not failures, "\n\n".join(failures)
