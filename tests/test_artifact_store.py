"""Artifacts are stored once, whole, and never silently wrong."""

import os

import pytest

from image_interpreter.artifacts import ArtifactStore, sha256_of
from image_interpreter.errors import ArtifactError


def test_identical_content_is_stored_once(tmp_path):
    store = ArtifactStore(tmp_path)
    a = store.put(b"depth map bytes")
    b = store.put(b"depth map bytes")
    assert a == b == sha256_of(b"depth map bytes")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1
    assert store.get(a) == b"depth map bytes"


def test_no_temporary_files_are_left_behind(tmp_path):
    store = ArtifactStore(tmp_path)
    for i in range(20):
        store.put(f"mask {i}".encode())
    leftovers = [p.name for p in tmp_path.rglob(".tmp-*")]
    assert leftovers == []


def test_a_file_damaged_on_disk_is_reported_not_returned(tmp_path):
    store = ArtifactStore(tmp_path)
    sha = store.put(b"original content")
    store.path_for(sha).write_bytes(b"originaL content")
    with pytest.raises(ArtifactError, match="corrupt"):
        store.get(sha)


def test_storing_again_repairs_a_damaged_file(tmp_path):
    store = ArtifactStore(tmp_path)
    sha = store.put(b"original content")
    store.path_for(sha).write_bytes(b"garbage")
    assert store.put(b"original content") == sha
    assert store.get(sha) == b"original content"


def test_missing_artifact_says_what_to_do(tmp_path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(ArtifactError, match="extract or generate it again"):
        store.get("0" * 64)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABC", "0" * 63, "g" * 64, ""])
def test_only_hashes_name_artifacts(tmp_path, bad):
    store = ArtifactStore(tmp_path)
    with pytest.raises(ArtifactError, match="not an artifact id"):
        store.get(bad)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path)

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        store.put(b"will not fit")
    monkeypatch.undo()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert not store.has(sha256_of(b"will not fit"))
