"""Files a user asked for (priors, pictures, candidates, exports, artifacts) get the mode the umask
gives any new file (0644 under the usual 022), not the 0600 of a temporary file; a stricter
umask is respected too."""

from __future__ import annotations

import os
import stat

import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.cli import app
from image_interpreter.durable import replacing, write_atomic
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

runner = CliRunner()


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o077])
def umask(request):
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


def test_atomic_writes_get_the_umasks_mode(tmp_path, umask):
    write_atomic(tmp_path / "priors.json", b"{}")
    with replacing(tmp_path / "skeleton.png") as tmp:  # a library writes the temporary file
        Image.new("RGB", (8, 8)).save(tmp)
    for name in ("priors.json", "skeleton.png"):
        assert _mode(tmp_path / name) == 0o666 & ~umask


def test_artifacts_get_the_umasks_mode(tmp_path, umask):
    store = ArtifactStore(tmp_path / "artifacts")
    sha = store.put(b"a depth map")
    assert _mode(store.path_for(sha)) == 0o666 & ~umask


def test_extracted_priors_and_pictures_are_readable_like_other_files(tmp_path, umask):
    photo = tmp_path / "photo.png"
    Image.fromarray(data.astronaut()).resize((64, 64)).save(photo)
    out = tmp_path / "priors"
    result = runner.invoke(
        app, ["--data-dir", str(tmp_path / "data"), "extract", str(photo), "--kinds",
              "edges,palette", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = sorted(out.iterdir())
    assert {p.name for p in written} >= {"priors.json", "edges.png", "palette.png"}
    assert {_mode(p) for p in written} == {0o666 & ~umask}


def test_a_session_export_is_a_folder_with_the_umasks_modes(tmp_path, umask):
    settings = load_settings(data_dir=tmp_path / "data")
    with SessionStore.from_settings(settings) as store:
        session = store.create("modes")
        session.put_artifact(b"some bytes")
        folder = store.export(session.id, tmp_path / "export")
    assert _mode(folder) == 0o777 & ~umask
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and {_mode(p) for p in files} == {0o666 & ~umask}
