"""The guidance controls of the web chat's settings panel, through the same functions `app.py`
calls: the panel shows the current version's guidance; moving a slider makes a new version with
that guide, which undo takes back; a value that does not validate changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from image_interpreter.interfaces.conversation import ChatConfig, Conversations
from image_interpreter.interfaces.web_guidance import (
    guidance_values,
    guidance_widgets,
    guide_changes,
)
from image_interpreter.priors.schema import Guide
from image_interpreter.settings import load_settings


@pytest.fixture
def chat(tmp_path):
    """A web session on the demo: the demo person (people) and the photo's edges."""
    settings = load_settings(profile="tiny", data_dir=tmp_path)
    conversations = Conversations(settings, config=ChatConfig(extract="edges,palette"))
    session = conversations.start("web")
    reply = conversations.demo(session)
    assert reply.error is None, reply.text
    yield conversations, session
    conversations.close()


def panel(conversations, session) -> dict:
    return guidance_values(conversations.guides(session))


def move(conversations, session, **moved):
    """The user moves sliders of the panel as it is shown, then closes it."""
    shown = panel(conversations, session)
    guides = guide_changes(shown | moved, shown)
    return conversations.set_generation(session, guides=guides)


def test_the_panel_shows_a_weight_and_steps_per_enabled_guided_prior_and_the_joint_weight(chat):
    conversations, session = chat
    shown = panel(conversations, session)
    assert shown == {
        "guide_people_weight": 0.0,
        "guide_people_start": 0.0,
        "guide_people_end": 1.0,
        "guide_people_every": 1,
        "guide_edges_weight": 0.0,
        "guide_edges_start": 0.0,
        "guide_edges_end": 1.0,
        "guide_edges_every": 1,
        "guide_joint_weight": 0.0,
    }  # the palette has no guidance loss
    widgets = guidance_widgets(shown)
    assert [w.id for w in widgets] == list(shown)
    assert [w.initial for w in widgets] == list(shown.values())
    assert "Pose" in widgets[0].label and "0 = off" in widgets[0].label

    conversations.act(session, "toggle", kind="edges")  # disabled: no edges controls
    assert not any(key.startswith("guide_edges") for key in panel(conversations, session))
    conversations.say(session, "guide the pose harder")  # the chat's change shows too
    assert panel(conversations, session)["guide_people_weight"] == 1.0


def test_a_guidance_slider_makes_a_new_version_with_that_guide_and_undo_takes_it_back(chat):
    conversations, session = chat
    before = conversations.open(session.id).current
    reply = move(conversations, session, guide_edges_weight=2.5)
    assert reply.error is None, reply.text
    after = conversations.open(session.id).current
    assert after.version != before.version
    assert after.edges.guide == Guide(weight=2.5)
    assert after.people.guide == before.people.guide  # what was not moved stays
    assert panel(conversations, session)["guide_edges_weight"] == 2.5

    conversations.act(session, "undo")
    undone = conversations.open(session.id).current
    assert undone.version == before.version and undone.edges.guide == Guide()
    assert panel(conversations, session)["guide_edges_weight"] == 0.0


def test_steps_every_and_the_joint_weight_change_together_in_one_version(chat):
    conversations, session = chat
    before = conversations.open(session.id).current
    reply = move(
        conversations,
        session,
        guide_people_weight=1.5,
        guide_people_start=0.2,
        guide_people_end=0.6,
        guide_people_every=2.0,  # sliders send floats
        guide_joint_weight=0.75,
    )
    assert reply.error is None, reply.text
    after = conversations.open(session.id).current
    assert after.people.guide == Guide(weight=1.5, start=0.2, end=0.6, every=2)
    assert after.generation.joint_guide == Guide(weight=0.75)
    conversations.act(session, "undo")  # one version: one undo takes all of it back
    undone = conversations.open(session.id).current
    assert undone.version == before.version
    assert undone.people.guide == Guide() and undone.generation.joint_guide == Guide()


@pytest.mark.parametrize(
    "moved",
    [
        {"guide_edges_start": 0.8, "guide_edges_end": 0.3},  # a range that ends before it starts
        {"guide_edges_weight": 12.0},  # above the schema's 10
        {"guide_edges_weight": 2.0, "guide_joint_weight": -1.0},  # one bad value refuses all
    ],
)
def test_a_value_that_does_not_validate_leaves_the_state_as_it_was(chat, moved):
    conversations, session = chat
    before = conversations.open(session.id).current
    shown = panel(conversations, session)
    reply = move(conversations, session, **moved)
    assert reply.error is not None and reply.text.startswith("Nothing changed:")
    assert "guide" in reply.text and "call again" not in reply.text  # for the user, not an LLM
    assert conversations.open(session.id).current == before
    assert panel(conversations, session) == shown


@pytest.mark.parametrize(
    ("moved", "said"),
    [
        ({"guide_edges_weight": "strong"}, "must be a number"),
        ({"guide_people_every": 2.5}, "whole number"),
    ],
)
def test_a_value_that_is_not_a_number_is_refused_before_anything_is_applied(chat, moved, said):
    conversations, session = chat
    shown = panel(conversations, session)
    with pytest.raises(ValueError, match=said):
        guide_changes(shown | moved, shown)


def test_a_stale_panel_does_not_undo_the_chats_own_change(chat):
    """The panel was shown before "guide the pose harder"; closing it with other changes keeps
    the chat's weight, since only what the user moved is applied."""
    conversations, session = chat
    stale = panel(conversations, session)
    conversations.say(session, "guide the pose harder")
    guides = guide_changes(stale | {"guide_edges_weight": 3.0}, stale)
    assert guides == {"edges": {"weight": 3.0}}
    conversations.set_generation(session, guides=guides)
    now = conversations.open(session.id).current
    assert now.people.guide.weight == 1.0 and now.edges.guide.weight == 3.0


def test_the_web_apps_panel_shows_applies_refuses_and_follows_undo(tmp_path):
    """`app.py` itself in a Chainlit socket context (tests/web_panel_session.py): the panel has
    a "guidance" tab; moving the edges weight makes the version; an inverted step range is
    refused in words and the panel shows the real values again; the undo button takes the
    change back and the panel follows."""
    ours = ("IMAGE_INTERPRETER_", "CHAINLIT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)} | {
        "IMAGE_INTERPRETER_PROFILE": "tiny",
        "IMAGE_INTERPRETER_DEVICE": "cpu",
        "IMAGE_INTERPRETER_DATA_DIR": str(tmp_path / "data"),
        "IMAGE_INTERPRETER_CHAT__EXTRACT": "edges",
        "HF_HUB_OFFLINE": "1",
    }
    script = Path(__file__).with_name("web_panel_session.py")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=script.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    first = seen["first"]
    assert first["candidates"][0] == "generation" and first["guide_edges_weight"] == ["guidance", 0]
    assert {"guide_people_every", "guide_edges_end", "guide_joint_weight"} <= set(first)
    assert seen["moved"]["weight"] == 2.0 and "guidance weight to 2" in seen["moved_said"]
    assert seen["refused"] == seen["moved"]  # as it was
    assert seen["refused_said"].startswith("Nothing changed:")
    assert seen["refused_panel"]["guide_edges_start"] == ["guidance", 0]
    assert seen["refused_panel"]["guide_edges_end"] == ["guidance", 1]
    assert seen["refused_panel"]["guide_edges_weight"] == ["guidance", 2]
    assert seen["undone"]["weight"] == 0.0
    assert seen["undone_panel"]["guide_edges_weight"] == ["guidance", 0]
