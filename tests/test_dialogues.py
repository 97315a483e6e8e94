"""The scripted dialogues in tests/dialogues/*.yaml, each in the modes it asks for: the built-in
interpreter alone, and a scripted chat model emitting real tool-call messages through the same
agent loop. Models are the tiny profile's (random weights), shared by every dialogue; generation
is 64 px, 2 steps, 1-2 candidates. Below them, the runner's own behaviour: what a failing
expectation, an unused script or a malformed file look like."""

from __future__ import annotations

from pathlib import Path

import pytest

from image_interpreter.agent.dialogue import (
    Dialogue,
    DialogueError,
    Runtime,
    check_expression,
    load_dialogue,
    run_dialogue,
)
from image_interpreter.priors.examples import example_priorset
from image_interpreter.settings import load_settings
from image_interpreter.tools import TOOL_NAMES

HERE = Path(__file__).parent / "dialogues"
FILES = sorted(HERE.glob("*.yaml"))
CASES = [
    pytest.param(path, mode, id=f"{path.stem}-{mode}")
    for path in FILES
    for mode in load_dialogue(path).run_modes()
]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    settings = load_settings(
        profile="tiny",
        device="cpu",
        data_dir=tmp_path_factory.mktemp("dialogues"),
        tiny_dir=tmp_path_factory.getbasetemp() / "generate-tiny-models",
    )
    shared = Runtime.open(settings)
    yield shared
    shared.close()


@pytest.mark.parametrize(("path", "mode"), CASES)
def test_dialogue(path, mode, runtime):
    report = run_dialogue(load_dialogue(path), mode, runtime)
    assert report.passed, "\n".join(report.failures())


def test_the_dialogues_cover_every_tool_and_both_modes():
    called: set[str] = set()
    modes: set[str] = set()
    for path in FILES:
        dialogue = load_dialogue(path)
        modes.update(dialogue.run_modes())
        for turn in dialogue.turns:
            called.update(call.name for reply in turn.model for call in reply.tool_calls)
            called.update(
                line.split("Action:", 1)[1].split()[0]
                for reply in turn.model
                for line in reply.say.splitlines()
                if line.startswith("Action:")
            )
    assert len(FILES) >= 20
    assert modes == {"interpreter", "scripted"}
    assert set(TOOL_NAMES) <= called, set(TOOL_NAMES) - called


# --- the runner ------------------------------------------------------------------------------


def _write(folder: Path, text: str) -> Path:
    (folder / "scenes").mkdir(exist_ok=True)
    (folder / "scenes" / "woman.json").write_text((HERE / "scenes" / "woman.json").read_text())
    path = folder / "case.yaml"
    path.write_text(text)
    return path


def test_a_failed_expectation_says_what_happened_instead(tmp_path, runtime):
    path = _write(
        tmp_path,
        """
title: wrong on purpose
start: {priors: scenes/woman.json}
turns:
  - user: raise her left arm
    expect:
      tools: [set_prior]
      version: 5
      priors: ["people[0].body.left_wrist.y > 0.9"]
      reply: [balloon]
""",
    )
    report = run_dialogue(load_dialogue(path), "interpreter", runtime)
    text = "\n".join(report.failures())
    assert not report.passed
    assert "tools ['apply_edits'], expected ['set_prior']" in text
    assert "at version 2, expected 5" in text
    assert "people[0].body.left_wrist.y > 0.9” does not hold" in text
    assert "the reply lacks “balloon”" in text


def test_a_script_the_loop_did_not_use_fails_the_turn(tmp_path, runtime):
    path = _write(
        tmp_path,
        """
title: the interpreter answers, the script is left over
start: {priors: scenes/woman.json}
turns:
  - user: raise her left arm
    model:
      - say: I would have done it.
""",
    )
    report = run_dialogue(load_dialogue(path), "scripted", runtime)
    assert report.failures() == [
        "turn 1 “raise her left arm”: 1 scripted model replies were not used (path fast)"
    ]


def test_a_model_asked_more_than_scripted_fails_the_turn(tmp_path, runtime):
    path = _write(
        tmp_path,
        """
title: the script runs out
start: {priors: scenes/woman.json}
turns:
  - user: make it feel like a lazy Sunday
    model:
      - tool_calls: [{name: describe_priors}]
""",
    )
    report = run_dialogue(load_dialogue(path), "scripted", runtime)
    assert any("asked 1 more time(s) than scripted" in line for line in report.failures())


def test_a_malformed_file_is_refused_naming_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "title: x\nstart: {priors: a.json}\nturns:\n  - user: hi\n    expect: {tool: [x]}\n"
    )
    with pytest.raises(DialogueError, match=r"turns\.0\.expect\.tool: Extra inputs"):
        load_dialogue(path)
    path.write_text("title: x\nstart: {}\nturns: [{user: hi}]\n")
    with pytest.raises(DialogueError, match="needs a photo, a priors file, or both"):
        load_dialogue(path)


def test_modes_default_to_both_unless_a_turn_is_scripted():
    plain = Dialogue.model_validate(
        {"title": "t", "start": {"priors": "p.json"}, "turns": [{"user": "undo"}]}
    )
    scripted = Dialogue.model_validate(
        {"title": "t", "start": {"priors": "p.json"}, "turns": [{"user": "x", "model": [{}]}]}
    )
    assert plain.run_modes() == ["interpreter", "scripted"]
    assert scripted.run_modes() == ["scripted"]


@pytest.mark.parametrize(
    ("expression", "holds"),
    [
        ("people[0].body.nose.y < 0.2", True),
        ("people[0].body.left_wrist.y > people[0].body.left_elbow.y", True),
        ("len(people.people) == 2", True),
        ("caption.text contains umbrella", True),
        ("caption.time_of_day missing", True),
        ("people[1].label exists", True),
        ("people[2] exists", False),
        ("segmentation.enabled == false", True),
        ("generation.guidance == 7.5", True),
        ("depth.weight != 0.6", False),
        ("objects[0].label == umbrella", True),
    ],
)
def test_prior_checks_read_like_json_paths(expression, holds):
    assert (check_expression(example_priorset(2), expression) is None) is holds


def test_a_check_on_something_absent_says_so():
    problem = check_expression(example_priorset(1), "people[3].body.nose.y < 0.5")
    assert problem == "“people[3].body.nose.y < 0.5”: people[3].body.nose.y is not there"
    assert "cannot read the check" in check_expression(example_priorset(1), "people ~ 3")


def test_the_command_prints_a_table_and_fails_when_a_dialogue_fails(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from image_interpreter.cli import app
    from image_interpreter.cli.main import console

    monkeypatch.setattr(console, "width", 200)
    files = [str(HERE / "01_raise_arm_fast_path.yaml"), str(HERE / "09_unclear_asks_back.yaml")]
    result = CliRunner().invoke(app, ["--profile", "tiny", "dialogue", "run", *files])
    assert result.exit_code == 0, result.output
    assert "01_raise_arm_fast_path │ interpreter │   3/3 │ pass" in result.output
    assert "01_raise_arm_fast_path │ scripted    │   3/3 │ pass" in result.output
    assert "3 passed, 0 failed." in result.output
    broken = _write(
        tmp_path,
        "title: t\nstart: {priors: scenes/woman.json}\nturns:\n"
        "  - user: undo\n    expect: {version: 3}\n",
    )
    result = CliRunner().invoke(
        app, ["--profile", "tiny", "dialogue", "run", "--mode", "interpreter", str(broken)]
    )
    assert result.exit_code == 1
    assert "case [interpreter] turn 1 “undo”: at version 1, expected 3" in result.output


def test_a_photo_file_beside_the_dialogue_starts_it_with_the_priors_on_that_photo(
    tmp_path, runtime
):
    from PIL import Image

    Image.new("RGB", (120, 160), "orange").save(tmp_path / "photo.png")
    path = _write(
        tmp_path,
        """
title: a photo of my own
start: {photo: photo.png, size: 48, priors: scenes/woman.json, generation: {steps: 3}}
turns:
  - user: make it dusk
    expect:
      version: 2
      priors:
        - source.name == "photo.png"
        - source.width == 36
        - source.height == 48
        - generation.steps == 3
        - people[0].label == "the woman"
""",
    )
    report = run_dialogue(load_dialogue(path), "interpreter", runtime)
    assert report.passed, report.failures()


def test_the_scripted_model_answers_with_real_tool_call_messages():
    from langchain_core.messages import AIMessage, HumanMessage

    from image_interpreter.agent.scripted import (
        NOT_SCRIPTED,
        ScriptedBackend,
        ScriptedCall,
        ScriptedChatModel,
        ScriptedReply,
    )

    model = ScriptedChatModel()
    model.script([ScriptedReply(tool_calls=[ScriptedCall(name="undo", args={"steps": 2})])])
    reply = ScriptedBackend(model).chat([HumanMessage("undo twice")], [])
    assert isinstance(reply.message, AIMessage)
    assert reply.message.tool_calls == [
        {"name": "undo", "args": {"steps": 2}, "id": "call_1_0", "type": "tool_call"}
    ]
    assert reply.prompt_tokens > 0 and model.left == 0
    assert model.invoke("and again?").content == NOT_SCRIPTED and model.unscripted == 1
