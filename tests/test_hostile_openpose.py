"""A broken or hostile OpenPose file is refused with one message that names the field: in the
library, in a conversation (the upload's turn is written with its reply or not at all) and on
the command line (one line, no traceback, exit status 1); `validate` on a binary file too."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from image_interpreter.cli.main import app
from image_interpreter.errors import PriorsError
from image_interpreter.images import encode_png
from image_interpreter.interfaces import conversation as conversation_module
from image_interpreter.interfaces.conversation import ChatConfig, Conversations
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.openpose import export_openpose, import_openpose
from image_interpreter.priors.schema import MAX_PEOPLE
from image_interpreter.settings import load_settings


def _pose(**changes) -> dict:
    document = export_openpose([example_person()], 100, 100)
    document.update(changes)
    return document


def _with_extra(extra) -> bytes:
    document = _pose()
    document["people"][0]["image_interpreter_extra"] = extra
    return json.dumps(document).encode()


HOSTILE = [
    # what the outside review sent, and the field the refusal must name
    (json.dumps(_pose(canvas_width=0.5)).encode(), "canvas_width"),
    (json.dumps(_pose(canvas_width=0)).encode(), "canvas_width"),
    (json.dumps(_pose(canvas_height=float("inf"))).encode(), "canvas_height"),  # Infinity
    (json.dumps(_pose(canvas_width=float("nan"))).encode(), "canvas_width"),  # NaN
    (json.dumps(_pose(canvas_width=True)).encode(), "canvas_width"),
    (_with_extra("not an object"), "image_interpreter_extra"),
    (_with_extra({"keypoints_2d": [1, 2, 3]}), "keypoints_2d"),
    (_with_extra({"keypoints_2d": {"left_big_toe": [1, "x", 1]}}), "left_big_toe"),
    (_with_extra({"gestures": {"left": 5}}), "gestures.left"),
    (_with_extra({"zero_points": "body.nose"}), "zero_points"),
    (_with_extra({"label": ["a", "list"]}), "label"),
    (_with_extra({"box": "everywhere"}), "box"),
    (
        b'{"canvas_width": 10, "canvas_height": 10, "people": [{"pose_keypoints_2d": '
        b"[1, NaN, 1]}]}",
        "pose_keypoints_2d[1]",
    ),
    (b"\xff\xd8\xff\xe0 a JPEG, not JSON \x00\x01", "not UTF-8"),
    (b"[" * 100_000, "nested too deeply"),
    (json.dumps(_pose(people=[{}] * (MAX_PEOPLE + 1))).encode(), f"at most {MAX_PEOPLE}"),
]


@pytest.mark.parametrize(("data", "named"), HOSTILE)
def test_a_hostile_file_is_refused_naming_the_field(data, named):
    with pytest.raises(PriorsError, match="JSON") as caught:
        import_openpose(data)
    assert named in str(caught.value)


def test_other_tools_extra_fields_are_ignored_and_ours_round_trip():
    document = _pose(version=1.3, software={"name": "some editor"})
    document["people"][0]["person_id"] = [-1]
    back = import_openpose(json.dumps(document)).people[0]
    assert set(back.body) == set(example_person().body)


# --- in a conversation ---------------------------------------------------------------------------


@pytest.fixture
def chat(tmp_path):
    conversations = Conversations(
        load_settings(profile="tiny", data_dir=tmp_path), config=ChatConfig(extract="palette")
    )
    session = conversations.start("pose upload")
    conversations.add_photo(session, encode_png(Image.new("RGB", (64, 64), "teal")), "teal.png")
    yield conversations, session
    conversations.close()


@pytest.mark.parametrize(("data", "named"), HOSTILE[:8] + HOSTILE[-3:])
def test_a_hostile_upload_gets_an_answer_and_changes_nothing(chat, data, named):
    conversations, session = chat
    before = session.current.version
    turns = len(session.turns())
    reply = conversations.import_pose(session, data, "pose.json")
    assert reply.error and named in reply.text and reply.text.startswith("Nothing changed")
    assert session.current.version == before
    added = session.turns()[turns:]
    assert [t.role for t in added] == ["user", "assistant"]
    assert added[1].text == reply.text


def test_an_upload_that_fails_unexpectedly_leaves_no_unanswered_turn(chat, monkeypatch):
    conversations, session = chat
    turns = len(session.turns())

    def broken(data):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(conversation_module, "import_openpose", broken)
    with pytest.raises(RuntimeError):
        conversations.import_pose(session, json.dumps(_pose()).encode(), "pose.json")
    assert len(session.turns()) == turns


def test_a_good_upload_writes_its_turn_with_the_reply(chat):
    conversations, session = chat
    turns = len(session.turns())
    reply = conversations.import_pose(session, json.dumps(_pose()).encode(), "pose.json")
    assert reply.error is None and "Imported 1 person" in reply.text
    assert [t.role for t in session.turns()[turns:]] == ["user", "assistant"]


# --- on the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "named"), [HOSTILE[0], HOSTILE[5], HOSTILE[13]])
def test_edit_refuses_a_hostile_pose_file_in_one_line(tmp_path, data, named):
    path = tmp_path / "pose.json"
    path.write_bytes(data)
    result = CliRunner().invoke(
        app, ["edit", str(path), "raise the left arm", "--out", str(tmp_path / "out.json")]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, PriorsError) and named in str(result.exception)
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    ("command", "data"),
    [
        (["validate"], b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"),  # a binary file
        (["edit", "{path}", "raise the left arm", "--out", "{out}"], HOSTILE[0][0]),
    ],
)
def test_the_console_prints_one_clean_line_and_exits_1(tmp_path, command, data):
    path = tmp_path / "pose.json"
    path.write_bytes(data)
    args = [a.format(path=path, out=tmp_path / "out.json") for a in command]
    if args == ["validate"]:
        args.append(str(path))
    done = subprocess.run(
        [sys.executable, "-m", "image_interpreter.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stdout == ""
    said = " ".join(done.stderr.split())  # one message (rich wraps it at the console's width)
    assert said.startswith("Error: ") and said.count("Error") == 1, done.stderr
    assert "not UTF-8" in said or "canvas_width" in said
