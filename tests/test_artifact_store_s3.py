"""Artifacts on S3-compatible storage, against a real S3 server on loopback: the same keys and
checks as the local folder, sessions shared by two stores (as two app processes would share them),
and a store that cannot reach S3 fails clearly and writes nothing."""

from __future__ import annotations

import boto3
import pytest
from PIL import Image
from s3_server import CREDENTIALS, closed_port, s3_server

from image_interpreter.artifacts import S3ArtifactStore, open_artifact_store, sha256_of
from image_interpreter.errors import ArtifactError
from image_interpreter.images import encode_png
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

BUCKET = "editor"


@pytest.fixture
def endpoint(monkeypatch):
    """A server with an empty `editor` bucket (moto keeps one state per process: emptied here)."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with s3_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", url)
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield url
        for key in objects():
            client.delete_object(Bucket=BUCKET, Key=key)
        client.delete_bucket(Bucket=BUCKET)


def objects(prefix: str = "") -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_put_get_round_trip_under_the_local_stores_key_layout(endpoint):
    store = S3ArtifactStore(f"s3://{BUCKET}/team/artifacts")
    sha = store.put(b"a depth map")
    assert sha == sha256_of(b"a depth map")
    assert store.get(sha) == b"a depth map"
    assert store.has(sha) and not store.has(sha256_of(b"never stored"))
    assert objects() == [f"team/artifacts/{sha[:2]}/{sha}"]
    assert store.location(sha) == f"s3://{BUCKET}/team/artifacts/{sha[:2]}/{sha}"


def test_identical_content_is_stored_once(endpoint):
    store = S3ArtifactStore(f"s3://{BUCKET}")
    first = store.put(b"mask")
    client = boto3.client("s3")
    before = client.head_object(Bucket=BUCKET, Key=store.key_for(first))["LastModified"]
    assert store.put(b"mask") == first
    assert objects() == [store.key_for(first)]
    assert client.head_object(Bucket=BUCKET, Key=store.key_for(first))["LastModified"] == before


def test_an_object_damaged_in_storage_is_reported_and_repaired_by_storing_again(endpoint):
    store = S3ArtifactStore(f"s3://{BUCKET}/p")
    sha = store.put(b"original content")
    boto3.client("s3").put_object(Bucket=BUCKET, Key=store.key_for(sha), Body=b"garbage")
    with pytest.raises(ArtifactError, match="corrupt"):
        store.get(sha)
    assert store.put(b"original content") == sha
    assert store.get(sha) == b"original content"


def test_missing_artifacts_and_bad_ids_are_clear_errors(endpoint):
    store = S3ArtifactStore(f"s3://{BUCKET}")
    with pytest.raises(ArtifactError, match="missing"):
        store.get(sha256_of(b"nothing"))
    with pytest.raises(ArtifactError, match="not an artifact id"):
        store.get("../../etc/passwd")
    with pytest.raises(ArtifactError, match="not an S3 location"):
        S3ArtifactStore("http://bucket/prefix")


def test_a_missing_bucket_names_the_bucket(endpoint):
    store = S3ArtifactStore("s3://no-such-bucket/p")
    with pytest.raises(ArtifactError, match=r"no-such-bucket.*bucket exists"):
        store.put(b"x")


def test_settings_choose_s3_and_a_session_continues_in_a_second_store(
    endpoint, tmp_path, monkeypatch
):
    monkeypatch.setenv("IMAGE_INTERPRETER_ARTIFACTS_URL", f"s3://{BUCKET}/shared")
    monkeypatch.setenv("IMAGE_INTERPRETER_DATABASE_URL", f"sqlite:///{tmp_path / 'team.db'}")
    settings = load_settings()
    assert isinstance(open_artifact_store(settings), S3ArtifactStore)

    photo = encode_png(Image.new("RGB", (24, 16), (200, 40, 40)))
    with SessionStore.from_settings(settings) as first:
        session = first.create("shared")
        image = session.add_image(photo, name="red.png")
    assert objects("shared/") == [f"shared/{image.ref.sha256[:2]}/{image.ref.sha256}"]
    with SessionStore.from_settings(load_settings()) as second:
        again = second.open(session.id)
        assert again.read_artifact(image.ref.sha256) == first.artifacts.get(image.ref.sha256)
        assert [i.handle for i in again.images()] == ["img1"]


def test_s3_down_is_a_clear_error_and_leaves_the_session_as_it_was(endpoint, tmp_path):
    database = f"sqlite:///{tmp_path / 'sessions.db'}"
    with SessionStore(database, S3ArtifactStore(f"s3://{BUCKET}")) as up:
        session = up.create("before the outage")
        up_image = session.add_image(encode_png(Image.new("RGB", (16, 16), (0, 0, 255))))

    dead = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{closed_port()}")
    with SessionStore(database, S3ArtifactStore(f"s3://{BUCKET}", client=dead)) as down:
        same = down.open(session.id)
        with pytest.raises(ArtifactError, match=r"cannot be reached.*nothing was saved"):
            same.add_image(encode_png(Image.new("RGB", (16, 16), (0, 255, 0))))
        assert [i.handle for i in same.images()] == [up_image.handle]
        assert same.artifacts() == [up_image.ref.sha256]
