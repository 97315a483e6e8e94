"""The built-in interpreter, as a user talks to it: a corpus of phrasings with the actions
expected, then who 'her' is, how much 'a bit' is, several commands at once, and what it says
when it does not understand."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from image_interpreter.agent.interpreter import ACTION_ADAPTER, Interpretation, interpret
from image_interpreter.errors import EditError
from image_interpreter.priors.edits import EditBase, apply_all
from image_interpreter.priors.examples import example_priorset
from image_interpreter.priors.schema import (
    Box,
    ImageRef,
    Keypoint,
    PeoplePrior,
    Person,
    PriorSet,
)

CORPUS = yaml.safe_load(
    (Path(__file__).parent / "data" / "interpreter_corpus.yaml").read_text("utf-8")
)


def scene(people: Any) -> PriorSet:
    """People facing the camera: a count (spread left to right), labels (left to right), or
    [{label, x}] to put them in a given order."""
    if isinstance(people, int):
        people = [{"label": None, "x": (i + 0.5) / people} for i in range(people)]
    elif people and isinstance(people[0], str):
        people = [{"label": label, "x": (i + 0.5) / len(people)} for i, label in enumerate(people)]
    persons = []
    for p in people:
        x = p["x"]
        body = {"neck": Keypoint(x=x, y=0.3), "left_shoulder": Keypoint(x=x + 0.04, y=0.31),
                "right_shoulder": Keypoint(x=x - 0.04, y=0.31)}  # fmt: skip
        box = Box(x0=max(0.0, x - 0.08), y0=0.1, x1=min(1.0, x + 0.08), y1=0.9)
        persons.append(Person(label=p["label"], box=box, body=body))
    source = ImageRef(sha256="0" * 64, width=1024, height=768)
    return PriorSet(source=source, people=PeoplePrior(people=persons))


def normal(value: Any) -> Any:
    """Floats rounded, so 0.1 + 0.2 compares as 0.3."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


def expected(actions: list[dict[str, Any]]) -> list[Any]:
    return [normal(ACTION_ADAPTER.validate_python(a).model_dump()) for a in actions]


def got(found: Interpretation) -> list[Any]:
    return [normal(a.model_dump()) for a in found.actions]


def read(entry: dict[str, Any]) -> Interpretation:
    priors = scene(entry["people"]) if "people" in entry else None
    return interpret(entry["text"], priors)


def test_the_corpus_is_read_right():
    wrong = []
    for entry in CORPUS:
        found = read(entry)
        if got(found) != expected(entry["actions"]):
            want, have = expected(entry["actions"]), got(found)
            wrong.append(f"  {entry['text']!r}\n    want {want}\n    got  {have} {found.unparsed}")
    right = len(CORPUS) - len(wrong)
    print(f"interpreter corpus: {right}/{len(CORPUS)} exact ({right / len(CORPUS):.1%})")
    print("\n".join(wrong))
    assert len(CORPUS) >= 150
    assert right / len(CORPUS) >= 0.95, "\n".join(wrong)


def test_every_corpus_message_it_reads_right_is_confident():
    unsure = [
        (e["text"], f.confidence)
        for e in CORPUS
        if got(f := read(e)) == expected(e["actions"]) and f.confidence < 0.8
    ]
    assert not unsure


def test_it_is_fast():
    texts = [e["text"] for e in CORPUS]
    for text in texts:
        interpret(text)
    start = time.perf_counter()
    for text in texts:
        interpret(text)
    per_message = (time.perf_counter() - start) / len(texts)
    assert per_message < 0.002, f"{per_message * 1e3:.2f} ms per message"


# --- who ------------------------------------------------------------------------------------


def test_the_woman_on_the_left_is_the_pictures_left_whatever_her_number():
    priors = scene([{"label": "the woman", "x": 0.8}, {"label": "the man", "x": 0.5},
                    {"label": "the woman", "x": 0.2}])  # fmt: skip
    found = interpret("raise the left arm of the woman on the left", priors)
    (action,) = found.actions
    assert (action.person, action.side) == (3, "left")  # her own left arm; the picture's left woman


def test_him_and_her_follow_the_conversation():
    priors = scene(["the woman", "the man", "the woman"])
    first = interpret("make person 3 smile", priors)
    then = interpret("now close her eyes", priors, history=[first])
    assert then.actions[0].person == 3
    assert then.confidence >= 0.8
    him = interpret("make him wave", priors, history=[first, then])
    assert him.actions[0].person == 2  # the only man, though person 3 was talked about


def test_a_pronoun_with_several_people_and_no_history_is_a_guess():
    found = interpret("raise her left arm", scene(["the woman", "the woman"]))
    assert found.actions[0].person == 1
    assert found.confidence < 0.8
    assert "person 2" in found.reply


def test_someone_who_is_not_there_gets_a_low_confidence_and_a_count():
    found = interpret("make person 3 smile", scene(1))
    assert found.confidence < 0.5
    assert "1 person" in found.reply


def test_an_ordinal_past_the_last_person_is_refused():
    found = interpret("remove the fourth person", scene(2))
    assert found.confidence < 0.5 and "2 people" in found.reply


def test_without_priors_people_are_numbered_as_said():
    assert interpret("make person 4 smile").actions[0].person == 4
    assert interpret("make him smile").actions[0].person == 1


# --- how much -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "degrees"),
    [("raise the left arm a bit", 15), ("raise the left arm by 30 degrees", 30),
     ("raise the left arm 45°", 45), ("raise the left arm a lot", 60),
     ("raise the left arm another ten degrees", 10)],
)  # fmt: skip
def test_how_far_an_arm_goes(text, degrees):
    (action,) = interpret(text).actions
    assert action.op == "rotate_limb" and math.isclose(action.degrees, degrees)


def test_raising_turns_the_way_the_person_faces():
    facing = scene(1)
    back = facing.people.people[0]
    body = {**back.body, "left_shoulder": back.body["right_shoulder"],
            "right_shoulder": back.body["left_shoulder"]}  # fmt: skip
    swapped = back.model_copy(update={"body": body})
    away = facing.model_copy(update={"people": PeoplePrior(people=[swapped])})
    assert interpret("raise the left arm a bit", facing).actions[0].degrees == 15
    assert interpret("raise the left arm a bit", away).actions[0].degrees == -15


@pytest.mark.parametrize(
    ("text", "weight"),
    [("make the depth stronger", 0.85), ("make the depth a lot stronger", 1.1),
     ("make the depth twice as strong", 1.2), ("depth weight to 0.3", 0.3),
     ("make the depth weaker", 0.35), ("depth at 150%", 1.5)],
)  # fmt: skip
def test_relative_weights_start_from_the_current_one(text, weight):
    priors = example_priorset()  # depth weight 0.6
    (action,) = interpret(text, priors).actions
    assert action.kind == "depth" and math.isclose(action.weight, weight)


def test_numbers_can_be_words():
    assert interpret("make five variations").actions[0].count == 5
    assert interpret("set the steps to twenty-five").actions[0].n == 25
    assert interpret("undo three times").actions[0].steps == 3


# --- several at once ------------------------------------------------------------------------


def test_and_splits_commands_but_not_words():
    two = interpret("raise the left arm and drop the depth map")
    assert [a.op for a in two.actions] == ["pose_preset", "set_enabled"]
    one = interpret("replace the dog with a cat and a bird")
    assert [a.op for a in one.actions] == ["replace_object"] and one.actions[
        0
    ].text == "a cat and a bird"
    assert len(two.understood) == 2 and two.confidence >= 0.8


def test_two_negatives_add_up():
    priors = example_priorset()
    caption = priors.caption.model_copy(update={"negative": "blurry"})
    priors = priors.model_copy(update={"caption": caption})
    found = interpret("no text and no people in the background", priors)
    assert found.actions[-1].text == "blurry, text, people in the background"


def test_the_sides_of_a_body_and_of_a_picture_are_different_things():
    found = interpret("move the left hand to the left")
    (action,) = found.actions
    assert action.joint == "left_wrist" and action.by.x < 0


# --- history --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "field", "value"),
    [("undo", "undo", "steps", 1), ("undo that", "undo", "steps", 1),
     ("go back", "undo", "steps", 1), ("undo the last 3 changes", "undo", "steps", 3),
     ("redo", "redo", "steps", 1), ("go back to version 3", "go_to_version", "version", 3),
     ("check out v7", "go_to_version", "version", 7)],
)  # fmt: skip
def test_history(text, op, field, value):
    (action,) = interpret(text).actions
    assert action.op == op and getattr(action, field) == value


# --- when it does not understand ------------------------------------------------------------


def test_nonsense_gets_a_low_confidence_and_examples():
    found = interpret("make it more flibbery")
    assert found.actions == [] and found.unparsed == ["make it more flibbery"]
    assert found.confidence < 0.3
    assert "flibbery" in found.reply and "raise her left arm" in found.reply


def test_half_understood_says_what_it_understood():
    found = interpret("raise the left arm and make it more flibbery")
    assert [a.op for a in found.actions] == ["pose_preset"]
    assert found.unparsed == ["make it more flibbery"]
    assert found.confidence < 0.8
    assert "raised person 1's left arm" in found.reply and "flibbery" in found.reply


def test_a_clear_command_is_confident_and_says_what_it_does():
    found = interpret("make the pose stronger", example_priorset())
    assert found.confidence >= 0.8 and not found.unparsed
    assert found.reply.startswith("Set the people prior's weight to 1.25")


def test_a_prior_the_picture_lacks_is_flagged():
    priors = example_priorset().model_copy(update={"depth": None})
    found = interpret("drop the depth map", priors)
    assert found.confidence < 0.5 and "no depth prior" in found.reply


def test_an_empty_message_asks_for_something():
    found = interpret("   ")
    assert found.actions == [] and found.confidence == 0 and "For example" in found.reply


def test_the_interpretation_round_trips_as_json():
    found = interpret(
        "raise her left arm a bit, replace the dog with a cat and make three variations"
    )
    again = Interpretation.model_validate_json(found.model_dump_json())
    assert again == found


def test_what_the_corpus_asks_for_applies_to_a_real_scene():
    """Read with a full example PriorSet, every edit of the corpus applies (objects aside:
    the example has an umbrella only)."""
    failed = []
    for entry in CORPUS:
        people = entry.get("people", 1)
        count = people if isinstance(people, int) else len(people)
        elsewhere = [a for a in entry["actions"] if a.get("target", {}).get("label") != "umbrella"]
        if count > 3 or any("object" in a["op"] or "target" in a for a in elsewhere):
            continue
        priors = example_priorset(people=count)
        found = interpret(entry["text"], priors)
        edits = [a for a in found.actions if isinstance(a, EditBase)]
        try:
            apply_all(edits, priors)
        except EditError as error:
            failed.append(f"{entry['text']!r}: {error}")
    assert not failed, "\n".join(failed)
