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


def test_chat_about_a_photo_with_its_pose(tmp_path, pose_file):
    photo = tmp_path / "park.png"
    Image.new("RGB", (512, 768), "gray").save(photo)
    lines = "raise the left arm\nmake her smile\nundo\nmake it more flibbery\nquit\n"
    result = runner.invoke(app, ["chat", str(photo), "--pose", str(pose_file)], input=lines)
    assert result.exit_code == 0, result.output
    assert "Raised person 1's left arm." in result.output
    assert "Undid the last change (now at version 2)." in result.output
    assert "did not understand" in result.output
    skeleton = tmp_path / "park.skeleton.png"
    assert skeleton.is_file() and str(skeleton) in result.output
    session_id = re.search(r"Session (\S+)", result.output).group(1)
    store = SessionStore.from_settings(load_settings())
    try:
        session = store.open(session_id)
        turns = session.turns()
        assert [t.role for t in turns[:2]] == ["user", "assistant"]
        assert "interpret" in turns[0].timings and "interpret" in turns[1].timings
        assert turns[1].tool_calls[0]["op"] == "pose_preset"
        assert session.current.version == 2
    finally:
        store.close()

    again = runner.invoke(app, ["chat", str(photo), "--session", session_id], input="redo\n")
    assert again.exit_code == 0, again.output  # the end of input ends the chat too
    assert "now at version 3" in again.output
