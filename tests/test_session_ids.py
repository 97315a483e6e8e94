"""Session ids are read by command lines: one that started with "-" would be taken for an option
(`session export -Abc... out/`), so none does, whatever the random source gives."""

from __future__ import annotations

import re
import secrets

from PIL import Image
from typer.testing import CliRunner

from image_interpreter.cli import app
from image_interpreter.session import new_session_id

runner = CliRunner()


def test_an_id_never_starts_with_a_dash_even_when_the_random_source_does(monkeypatch):
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: "-" * 32)
    monkeypatch.setattr(secrets, "choice", lambda seq: seq[0] if seq[0] != "-" else seq[-1])
    session_id = new_session_id()
    assert not session_id.startswith("-") and len(session_id) == 32


def test_ids_are_long_url_safe_unique_and_start_with_a_letter_or_digit():
    ids = [new_session_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{31}", i) for i in ids)


def test_session_export_takes_the_printed_id_as_its_argument(tmp_path, monkeypatch):
    """A leading '-' is what the random source would give about once in 64 sessions."""
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: "-" + "A" * 31)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), "white").save(photo)
    made = runner.invoke(app, ["--data-dir", str(tmp_path), "session", "new", str(photo)])
    assert made.exit_code == 0, made.output
    session_id = re.search(r"Session (\S+)", made.output).group(1)
    exported = runner.invoke(
        app, ["--data-dir", str(tmp_path), "session", "export", session_id, str(tmp_path / "out")]
    )
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "out").is_dir()
