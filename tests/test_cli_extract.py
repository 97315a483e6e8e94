"""`image-interpreter extract`: priors from a photo as files a user can open."""

import json

import pytest
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from image_interpreter.cli import app
from image_interpreter.priors import PriorSet

runner = CliRunner()


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "astronaut.jpg"
    Image.fromarray(data.astronaut()).resize((128, 128)).save(path)
    return path


def test_extract_writes_priors_json_and_a_picture_per_prior(photo, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["extract", str(photo), "--kinds", "edges,palette", "--out", str(out),
              "--param", "edges.low=50", "--param", "palette.colors=3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    priors = PriorSet.from_json((out / "priors.json").read_text())
    assert priors.source.name == "astronaut.jpg" and priors.source.width == 128
    assert priors.edges.provenance.parameters["low"] == 50
    assert len(priors.palette.colors) == 3
    assert Image.open(out / "edges.png").size == (128, 128)
    assert Image.open(out / "palette.png").width == 128


def test_unknown_kind_or_parameter_writes_nothing(photo, tmp_path):
    out = tmp_path / "out"
    for args in (["--kinds", "wings"], ["--kinds", "edges", "--param", "edges.lo=3"],
                 ["--kinds", "edges", "--param", "depth.x=1"]):  # fmt: skip
        result = runner.invoke(app, ["extract", str(photo), "--out", str(out), *args])
        assert result.exit_code != 0
        assert not out.exists()


def test_a_bad_photo_is_refused_with_its_name(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    result = runner.invoke(app, ["extract", str(fake), "--kinds", "edges", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "notes.png" in str(result.exception)


def test_list_shows_one_line_per_extractor_grouped_by_kind():
    result = runner.invoke(app, ["extract", "--list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    kinds = [line for line in lines if line and not line.startswith(" ")][1:]  # after the intro
    assert kinds == sorted(kinds) and {"depth", "edges", "people", "palette"} <= set(kinds)
    edges = lines[lines.index("edges") + 1 :]
    edges = edges[: next(i for i, line in enumerate(edges) if not line.startswith(" "))]
    assert edges[0].split()[:2] == ["*", "edges.canny"]  # the default first, marked
    assert {line.split()[0] for line in edges[1:]} >= {"edges.hed", "edges.lineart"}
    assert all("white" in line for line in edges)  # each with its description, on its line
    assert sum("edges.canny" in line for line in lines) == 1


def test_people_come_out_as_openpose_json_too(photo, tmp_path, monkeypatch):
    """The OpenPose file is written whenever people were extracted (here: a pose imported into
    the priors by a stand-in extractor, since pose models are another test's business)."""
    from image_interpreter.extract.base import _REGISTRY, Extractor
    from image_interpreter.priors.examples import example_person
    from image_interpreter.priors.schema import PeoplePrior

    class KnownPose(Extractor):
        name = "test.known_pose"
        kind = "people"

        def extract(self, image, params, ctx):
            return PeoplePrior(people=[example_person()])

    monkeypatch.setitem(_REGISTRY, KnownPose.name, KnownPose)
    out = tmp_path / "out"
    result = runner.invoke(app, ["extract", str(photo), "--kinds", "test.known_pose",
                                 "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    pose = json.loads((out / "openpose.json").read_text())
    assert pose["canvas_width"] == 128 and len(pose["people"][0]["pose_keypoints_2d"]) == 54
    assert Image.open(out / "people.png").size == (128, 128)
