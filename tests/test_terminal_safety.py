"""The command line cannot be stalled or hijacked by what it reads: a FIFO (or device) named as a
photo or priors file is refused at once instead of blocking, and session titles, photo names and
file names holding escape sequences reach the terminal as visible text, never as controls."""

from __future__ import annotations

import os
import threading

import pytest
from PIL import Image
from typer.testing import CliRunner

from image_interpreter.cli import app
from image_interpreter.cli.common import console, terminal_safe
from image_interpreter.errors import ImageRejected, PriorsError
from image_interpreter.images import load_image_file, read_image_file

runner = CliRunner()
EVIL = "beach\x1b]0;owned\x07\x1b[2J\x9b31m\rtrip"  # set the window title, clear, C1 CSI, CR


def _finishes(call):
    """(result, error) of `call`, run in a thread: a call that blocks (the old open() of a FIFO)
    fails the test instead of hanging it."""
    outcome: list = []

    def run():
        try:
            outcome.append((call(), None))
        except BaseException as exc:
            outcome.append((None, exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "reading a FIFO blocked"
    return outcome[0]


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "photo.png"
    os.mkfifo(path)
    return path


def test_a_fifo_named_as_a_photo_is_refused_without_blocking(fifo):
    _, error = _finishes(lambda: load_image_file(fifo))
    assert isinstance(error, ImageRejected) and "FIFO" in str(error)
    _, error = _finishes(lambda: read_image_file(fifo))
    assert isinstance(error, ImageRejected)


def test_a_device_or_folder_is_refused(tmp_path):
    with pytest.raises(ImageRejected, match="a device"):
        read_image_file("/dev/zero")
    with pytest.raises(ImageRejected, match="a folder"):
        read_image_file(tmp_path)


@pytest.mark.parametrize(
    "command",
    [
        ["validate", "{fifo}"],
        ["edit", "{fifo}", "raise the left arm", "--out", "{out}"],
        ["session", "new", "{fifo}"],
    ],
)
def test_cli_commands_refuse_a_fifo_without_blocking(fifo, tmp_path, command):
    args = [a.format(fifo=fifo, out=tmp_path / "out.json") for a in command]
    invoked, error = _finishes(lambda: runner.invoke(app, args))
    assert error is None
    assert invoked.exit_code != 0
    assert isinstance(invoked.exception, (ImageRejected, PriorsError))
    assert "FIFO" in str(invoked.exception)


def test_terminal_safe_keeps_text_and_drops_controls():
    assert terminal_safe(EVIL) == "beach]0;owned[2J31mtrip"
    assert terminal_safe("line one\n\tindented · ünïcode ✓") == "line one\n\tindented · ünïcode ✓"


def test_session_titles_and_photo_names_reach_the_terminal_as_text(tmp_path, monkeypatch):
    monkeypatch.setattr(console, "width", 200)
    photo = tmp_path / f"{EVIL}.png"
    Image.new("RGB", (32, 24), "teal").save(photo)
    made = runner.invoke(app, ["session", "new", str(photo), "--title", EVIL])
    assert made.exit_code == 0, made.output
    session_id = made.output.split("Session ")[-1].split()[0]
    listed = runner.invoke(app, ["session", "list"])
    shown = runner.invoke(app, ["session", "show", session_id])
    for output in (made.output, listed.output, shown.output):
        assert "beach]0;owned[2J31mtrip" in output
        assert not any(ch in output for ch in "\x1b\x07\x9b\r")
