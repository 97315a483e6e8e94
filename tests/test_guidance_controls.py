"""Prior guidance as a user controls it: chat words, the SetGuide edit and the set_prior tool
set each prior's guidance weight and steps beside its ControlNet weight, and a bad request
changes nothing."""

from __future__ import annotations

import pytest
from test_tools import start, store  # noqa: F401  (the tools' session fixture)

from image_interpreter.agent.interpreter import interpret
from image_interpreter.errors import EditError
from image_interpreter.priors.edits import SetGuide, apply, apply_all
from image_interpreter.priors.examples import example_priorset
from image_interpreter.priors.schema import Guide


def said(text: str, priors=None):
    priors = priors or example_priorset()
    return apply_all(interpret(text, priors).actions, priors)


def test_guide_the_depth_harder_switches_it_on_then_doubles_it():
    once = said("guide the depth harder")
    assert once.depth.guide.weight == 1.0 and once.depth.weight == example_priorset().depth.weight
    twice = said("guide the depth harder", once)
    assert twice.depth.guide.weight == 2.0
    assert said("guide the depth less", twice).depth.guide.weight == 1.0


@pytest.mark.parametrize(
    ("text", "kind", "weight"),
    [
        ("set the depth guidance to 3", "depth", 3.0),
        ("guide with the pose", "people", 1.0),
        ("more guidance from the edges", "edges", 1.0),
        ("guide the segmentation at 2.5", "segmentation", 2.5),
        ("guide with the caption", "caption", 1.0),
    ],
)
def test_chat_words_set_one_priors_guidance(text, kind, weight):
    after = said(text)
    assert getattr(after, kind).guide.weight == weight
    others = [k for k in after.priors() if k != kind]
    assert all(getattr(after, k).guide == Guide() for k in others)


def test_every_other_step_and_no_guidance():
    sparse = said("guide with the pose every other step")
    assert sparse.people.guide == Guide(weight=1.0, every=2)
    joint = said("make the priors agree", sparse)
    assert joint.generation.joint_guide.weight == 1.0
    off = said("no guidance", joint)
    assert off.people.guide.weight == 0 and off.generation.joint_guide.weight == 0
    assert said("stop guiding with the pose", sparse).people.guide.weight == 0


def test_guidance_words_leave_the_controlnet_words_alone():
    assert said("make the depth stronger").depth.guide == Guide()
    assert interpret("guidance 7", example_priorset()).actions[0].model_dump()["value"] == 7.0


def test_a_bad_guide_is_refused_and_the_priors_stay_as_they_were():
    priors = example_priorset()
    with pytest.raises(ValueError, match="before start"):
        SetGuide(kind="depth", start=0.8, end=0.2)
    late = apply(SetGuide(kind="depth", weight=2.0, start=0.7), priors)
    with pytest.raises(EditError, match="before start"):
        apply(SetGuide(kind="depth", end=0.5), late)
    assert late.depth.guide == Guide(weight=2.0, start=0.7)
    with pytest.raises(ValueError):
        SetGuide(kind="depth", weight=11)


def test_the_set_prior_tool_sets_the_guidance_weight_beside_the_controlnet_weight(store):  # noqa: F811
    session, tools = start(*store)
    answer = tools["set_prior"].invoke({"kind": "people", "weight": 0.5, "guide": 2})
    assert answer.startswith("Version 2:") and "guidance weight to 2" in answer
    people = session.current.people
    assert (people.weight, people.guide.weight) == (0.5, 2.0)
    tools["set_prior"].invoke({"kind": "people", "guide_every": 2})
    assert session.current.people.guide == Guide(weight=2.0, every=2)
