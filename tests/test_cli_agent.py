"""The interpreter from the command line: read a command, edit a priors or OpenPose file, and
chat about a photo."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image
from typer.testing import CliRunner

from image_interpreter.cli import app
from image_interpreter.cli.main import console
from image_interpreter.priors.examples import example_person, example_priorset
from image_interpreter.priors.openpose import export_openpose
from image_interpreter.priors.schema import PriorSet
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setattr(console, "width", 200)


@pytest.fixture
def pose_file(tmp_path):
    path = tmp_path / "pose.json"
    path.write_text(json.dumps(export_openpose([example_person()], 512, 768)), encoding="utf-8")
    return path


@pytest.fixture
def priors_file(tmp_path):
    path = tmp_path / "priors.json"
    path.write_text(example_priorset().to_json(), encoding="utf-8")
    return path


def test_interpret_prints_the_actions_and_confidence():
    result = runner.invoke(app, ["interpret", "raise her left arm a bit and drop the depth map"])
    assert result.exit_code == 0, result.output
    assert 'rotate_limb(limb="left_upper_arm", degrees=15.0)' in result.output
    assert "confidence 1.00" in result.output


def test_interpret_as_json_checks_people_against_the_priors(pose_file):
    result = runner.invoke(
        app, ["interpret", "make person 3 smile", "--json", "--priors", str(pose_file)]
    )
    found = json.loads(result.output)
    assert found["actions"][0]["op"] == "set_expression"
    assert found["confidence"] < 0.5 and "1 person" in found["reply"]


def test_edit_a_priorset_file_and_render_the_skeleton(priors_file, tmp_path):
    out, png = tmp_path / "new.json", tmp_path / "new.png"
    text = "raise the left arm and drop the depth map"
    result = runner.invoke(
        app, ["edit", str(priors_file), text, "--out", str(out), "--render", str(png)]
    )
    assert result.exit_code == 0, result.output
    edited = PriorSet.from_json(out.read_text(encoding="utf-8"))
    assert edited.depth.enabled is False
    assert edited.people.people[0].body["left_wrist"].y < 0.52
    assert Image.open(png).size == (512, 768)
    assert "raised person 1's left arm" in result.output and f"Rendered {png}" in result.output
    assert "Not rendered: edges" in result.output  # its map is not in this data folder


def test_edit_an_openpose_file_writes_openpose_back(pose_file, tmp_path):
    out, png = tmp_path / "raised.json", tmp_path / "raised.png"
    text = "make a fist with the left hand and raise the left arm"
    args = ["--out", str(out), "--render", str(png), "--size", "256x384"]
    result = runner.invoke(app, ["edit", str(pose_file), text, *args])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["canvas_width"] == 512 and "pose_keypoints_2d" in written["people"][0]
    before = json.loads(pose_file.read_text(encoding="utf-8"))["people"][0]["pose_keypoints_2d"]
    after = written["people"][0]["pose_keypoints_2d"]
    assert after[7 * 3 + 1] < before[7 * 3 + 1]  # left wrist (OpenPose index 7) went up
    assert Image.open(png).size == (256, 384)


def test_edit_refuses_what_it_does_not_understand_and_writes_nothing(priors_file, tmp_path):
    out = tmp_path / "new.json"
    result = runner.invoke(
        app, ["edit", str(priors_file), "make it more flibbery", "--out", str(out)]
    )
    assert result.exit_code == 1 and "flibbery" in result.output
    assert not out.exists()


def test_edit_needs_a_json_out_and_a_session_for_undo(priors_file, tmp_path):
    result = runner.invoke(
        app, ["edit", str(priors_file), "raise the left arm", "--out", str(tmp_path / "x.txt")]
    )
    assert result.exit_code != 0 and ".json" in str(result.exception)
    result = runner.invoke(
        app, ["edit", str(priors_file), "undo", "--out", str(tmp_path / "x.json")]
    )
    assert result.exit_code != 0 and "chat" in str(result.exception)


def test_chat_about_a_photo_with_its_pose(tmp_path, pose_file, monkeypatch):
    monkeypatch.setenv("IMAGE_INTERPRETER_CHAT__EXTRACT", "")  # the extractors have their tests
    photo, pictures = tmp_path / "park.png", tmp_path / "pictures"
    Image.new("RGB", (512, 768), "gray").save(photo)
    lines = "raise the left arm\nmake her smile\nundo\nmake it more flibbery\nquit\n"
    args = ["chat", str(photo), "--pose", str(pose_file), "--out", str(pictures)]
    result = runner.invoke(app, args, input=lines)
    assert result.exit_code == 0, result.output
    assert "Imported 1 person from pose.json (version 2)." in result.output
    assert "Raised person 1's left arm." in result.output
    # undo says what it took back
    assert "Undid the last change — made person 1 smile (now at version 3)." in result.output
    assert "did not understand" in result.output
    # every picture is written and its path printed, named by what it shows
    skeleton = next(pictures.glob("*people-v3-on.png"))
    assert f"people · v3 · on: {skeleton}" in result.output
    drawn = Image.open(skeleton)
    assert drawn.height > drawn.width * 1.5  # the portrait photo, with the label band above
    session_id = re.search(r"Session (\S+)", result.output).group(1)
    store = SessionStore.from_settings(load_settings())
    try:
        session = store.open(session_id)
        turns = session.turns()
        said = [t.text for t in turns if t.role == "user"][-4:]
        assert said == ["raise the left arm", "make her smile", "undo", "make it more flibbery"]
        assert session.current.version == 3
    finally:
        store.close()

    again = runner.invoke(
        app, ["chat", "--session", session_id, "--out", str(pictures)], input="redo\n"
    )
    assert again.exit_code == 0, again.output  # the end of input ends the chat too
    assert "now at version 4" in again.output


def test_chat_needs_a_photo_the_demo_or_a_session():
    result = runner.invoke(app, ["chat"])
    assert result.exit_code != 0 and "--demo" in str(result.exception)
