"""The interpreter on bodies (issue 13): what it reads, what it refuses to guess, and what it
says when it does not understand. A clause about a body part is a pose or nothing; never a
caption, a style or an object."""

from __future__ import annotations

import pytest
from test_interpreter import scene

from image_interpreter.agent.interpreter import HIGH, interpret
from image_interpreter.priors.edits import apply_all
from image_interpreter.priors.examples import example_priorset

CAPTION_OPS = {"set_caption", "amend_caption", "add_style", "set_time_of_day",
               "set_negative_prompt", "replace_object", "remove_object"}  # fmt: skip


def test_a_hand_on_the_head_is_a_reach_not_a_caption():
    """Before issue 13 this was an amend_caption with confidence 1.0."""
    found = interpret("put the left hand on the head")
    assert [a.op for a in found.actions] == ["reach"]
    assert (found.actions[0].side, found.actions[0].to) == ("left", "head")


@pytest.mark.parametrize(
    "text",
    [
        "wiggle her left leg",
        "make her left arm glow",
        "put the left hand into the pocket",
        "turn the shoulders purple",
        "put her knee in the box",
        "make the depth map sparkle",
    ],
)
def test_a_body_part_or_prior_not_fully_understood_is_reported_not_guessed(text):
    found = interpret(text, example_priorset())
    assert not {a.op for a in found.actions} & CAPTION_OPS
    assert found.confidence < HIGH
    assert found.unparsed


def test_the_reply_names_the_words_not_understood_and_offers_the_closest_commands():
    found = interpret("wiggle her left leg")
    assert "“wiggle”" in found.reply
    assert "“raise the left leg”" in found.reply
    assert "left leg" in found.reply.split("closest things I can do:")[1].split("\n")[0]


def test_known_words_in_an_unknown_order_are_said_to_be_so():
    found = interpret("leg the raise left")
    assert "I know each of those words, but not said that way" in found.reply


@pytest.mark.parametrize(
    "text",
    ["keep the arms as they are", "don't move her legs", "leave the head alone",
     "do not change the pose", "her legs should stay as they are"],
)  # fmt: skip
def test_a_negation_changes_nothing(text):
    found = interpret(text, example_priorset())
    assert found.actions == []
    assert found.unparsed == []


def test_a_negation_beside_a_command_keeps_only_the_command():
    found = interpret("raise the left arm but keep the right arm as it is")
    assert [(a.preset, a.side) for a in found.actions] == [("raise_arm", "left")]
    assert found.confidence >= HIGH


@pytest.mark.parametrize(
    ("text", "preset"),
    [
        ("rasie the left leg", "raise_leg"),
        ("trun her head to the rigth", "turn_head"),
        ("lfit her right leg", "raise_leg"),
        ("kneal down", "kneel"),
    ],
)
def test_a_typo_one_keystroke_from_a_known_word_is_read_as_it_and_said(text, preset):
    found = interpret(text)
    assert [a.preset for a in found.actions] == [preset]
    assert any(a.startswith("read “") for a in found.assumptions)
    assert "read “" in found.reply


def test_free_text_is_not_spell_checked():
    found = interpret("replace the caption with a dog under a beech tree")
    assert found.actions[0].text == "a dog under a beech tree"


@pytest.mark.parametrize(
    ("text", "preset"),
    [
        ("I'd like her to kneel", "kneel"),
        ("would you mind crossing her arms", "cross_arms"),
        ("could he jump please", "jump"),
        ("can u make him nod pls", "look_down"),
        ("she should be sitting", "sit"),
        ("he needs to look up", "look_up"),
    ],
)
def test_requests_and_goals_read_like_commands(text, preset):
    found = interpret(text)
    assert [a.preset for a in found.actions] == [preset]
    assert found.confidence >= HIGH


def test_both_people_hold_hands_whoever_is_named_first():
    found = interpret("make the man and the woman hold hands", scene(["the woman", "the man"]))
    (action,) = found.actions
    assert (action.op, action.person, action.other, action.how) == ("join_hands", 1, 2, "hold")


def test_what_the_body_vocabulary_asks_for_applies_to_two_real_people():
    priors = example_priorset(2)
    for text in ("raise the left leg and turn her head to the right", "make them hug",
                 "they shake hands", "the woman on the left should kneel",
                 "put his right hand on his other shoulder"):  # fmt: skip
        found = interpret(text, priors)
        assert found.actions, text
        apply_all(found.actions, priors)


def test_more_of_a_leg_raise_goes_higher_and_more_of_a_turn_turns_again():
    priors = example_priorset()
    once = apply_all(interpret("raise the left leg", priors).actions, priors)
    twice = apply_all(interpret("raise the left leg more", once).actions, once)
    knee = [p.people.people[0].body["left_knee"].y for p in (priors, once, twice)]
    assert knee[0] > knee[1] > knee[2]  # y grows downwards: each time higher
    turned = interpret("turn her head more to the left", once)
    assert [(a.preset, a.side) for a in turned.actions] == [("turn_head", "left")]


def test_an_amount_said_with_a_kick_is_kept():
    (action,) = interpret("kick with the right leg 45 degrees").actions
    assert (action.preset, action.side, action.amount) == ("kick", "right", 45.0)


DRESSED = ["the girl in a yellow dress", "the girl in a green dress", "the man wearing a hat"]


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("make the girl in the green dress smile", 2),
        ("raise the left arm of the man with the hat", 3),
        ("make the girl in yellow jump", 1),
        ("the girl wearing the green dress should kneel", 2),
    ],
)
def test_people_are_told_apart_by_what_they_wear(text, person):
    found = interpret(text, scene(DRESSED))
    assert [a.person for a in found.actions] == [person]
    assert found.confidence >= HIGH


def test_clothes_nobody_wears_are_said_to_be_missing():
    found = interpret("make the girl in the red dress smile", scene(DRESSED))
    assert found.confidence < HIGH
    assert "wearing red dress" in found.problems[0]


@pytest.mark.parametrize("text", ["put the umbrella on the left", "show the depth map bigger"])
def test_free_text_naming_an_object_or_prior_of_the_picture_is_not_a_caption(text):
    found = interpret(text, example_priorset())  # it has an umbrella and a depth map
    assert not {a.op for a in found.actions} & CAPTION_OPS
    assert found.confidence < HIGH and found.unparsed


def test_adding_something_to_the_picture_is_still_a_caption_edit():
    found = interpret("add an umbrella and a red balloon", example_priorset())
    assert [a.op for a in found.actions] == ["amend_caption"]


def test_two_people_named_in_a_crowd_hold_hands():
    people = ["the woman", "the man", "the woman"]
    found = interpret("make the woman on the right and the man hold hands", scene(people))
    (action,) = found.actions
    assert (action.person, action.other) == (2, 3)
    assert found.confidence >= HIGH
