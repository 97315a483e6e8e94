"""Sessions from the command line: start from a photo, list, show, move to another machine."""

import re

import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from image_interpreter.cli import app
from image_interpreter.cli.main import console

runner = CliRunner()
SESSION_ID = re.compile(r"Session (\S{32})")


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=90)
    return path


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setattr(console, "width", 200)


def _new(photo, *extra):
    result = runner.invoke(app, ["session", "new", str(photo), *extra])
    assert result.exit_code == 0, result.output
    return SESSION_ID.search(result.output).group(1), result.output


def test_new_session_from_a_photo_then_list_and_show(photo):
    session_id, output = _new(photo, "--title", "moon walk")
    assert "img1 (512x512)" in output
    listed = runner.invoke(app, ["session", "list"])
    assert session_id in listed.output and "moon walk" in listed.output
    shown = runner.invoke(app, ["session", "show", session_id])
    assert shown.exit_code == 0
    assert "img1: astronaut.jpg 512x512" in shown.output
    assert "v1 started from astronaut.jpg" in shown.output and "current" in shown.output


def test_a_refused_photo_leaves_no_session_behind(tmp_path):
    fake = tmp_path / "holiday.png"
    fake.write_text("this is a text file", encoding="utf-8")
    result = runner.invoke(app, ["session", "new", str(fake)])
    assert result.exit_code != 0
    assert "holiday.png" in str(result.exception)
    assert "No sessions yet" in runner.invoke(app, ["session", "list"]).output


def test_export_and_import_through_a_folder(photo, tmp_path):
    session_id, _ = _new(photo)
    folder = tmp_path / "backup"
    exported = runner.invoke(app, ["session", "export", session_id, str(folder)])
    assert exported.exit_code == 0, exported.output
    assert (folder / "session.json").is_file()
    imported = runner.invoke(app, ["session", "import", str(folder)])
    assert imported.exit_code == 0, imported.output
    new_id = re.search(r"Imported as session (\S+)", imported.output).group(1)
    assert new_id != session_id
    shown = runner.invoke(app, ["session", "show", new_id])
    assert "img1: astronaut.jpg 512x512" in shown.output


def test_delete_asks_unless_told_not_to(photo):
    session_id, _ = _new(photo)
    kept = runner.invoke(app, ["session", "delete", session_id], input="n\n")
    assert kept.exit_code != 0
    assert session_id in runner.invoke(app, ["session", "list"]).output
    gone = runner.invoke(app, ["session", "delete", session_id, "--yes"])
    assert gone.exit_code == 0
    assert session_id not in runner.invoke(app, ["session", "list"]).output


def test_unknown_session_is_one_clear_line():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "image_interpreter.cli", "session", "show", "nope"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "No session 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
