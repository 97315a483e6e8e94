"""Carrying out what the interpreter read, on a session: one message, one version; undo and
redo through the session; failures leave everything as it was."""

from __future__ import annotations

import pytest
from agent_helpers import start_session

from image_interpreter.agent.commands import run_actions
from image_interpreter.agent.interpreter import interpret
from image_interpreter.session import Session, SessionStore
from image_interpreter.settings import load_settings


@pytest.fixture
def session():
    store = SessionStore.from_settings(load_settings())
    yield start_session(store, size=(512, 768))
    store.close()


def say(session: Session, text: str):
    return run_actions(session, interpret(text, session.current))


def snapshot(session: Session):
    state = session.state()
    return state.current, state.redo, len(state.versions)


def test_one_message_is_one_version_with_its_actions_and_sentences(session):
    outcome = say(session, "raise her left arm and drop the depth map")
    assert outcome.executed and outcome.committed == 2 and outcome.version == 2
    current = session.current
    assert current.depth.enabled is False
    assert current.people.people[0].body["left_wrist"].y < 0.52  # the arm went up
    latest = session.history()[-1]
    assert [a["op"] for a in latest.edit["actions"]] == ["pose_preset", "set_enabled"]
    assert latest.edit["text"] == "raise her left arm and drop the depth map"
    assert latest.summary == "raised person 1's left arm; disabled the depth prior"
    assert "version 2" in outcome.reply


def test_undo_redo_and_going_back_to_a_version(session):
    say(session, "make it night")
    say(session, "make him smile")
    assert say(session, "undo").version == 2
    assert say(session, "redo").version == 3
    outcome = say(session, "go back to version 1")
    assert outcome.version == 1 and session.current.caption.time_of_day is None
    assert say(session, "undo the last 2 changes").error is not None  # version 1 has no parent


def test_an_edit_that_cannot_apply_changes_nothing(session):
    say(session, "make it night")
    before = snapshot(session)
    blind = interpret("undo and remove the umbrella")  # read without the priors: no objects here
    outcome = run_actions(session, blind)
    assert not outcome.executed and "objects" in outcome.error
    assert outcome.reply.startswith("Nothing changed")
    assert snapshot(session) == before  # not even the undo happened


def test_moves_that_cannot_be_made_change_nothing(session):
    before = snapshot(session)
    assert "Nothing to redo" in say(session, "redo").reply
    assert "no version 9" in say(session, "go back to version 9").reply
    assert snapshot(session) == before


def test_a_message_not_understood_is_not_acted_on(session):
    before = snapshot(session)
    outcome = say(session, "raise the left arm and make it more flibbery")
    assert not outcome.executed and "flibbery" in outcome.reply
    assert snapshot(session) == before


def test_someone_who_is_not_there_is_not_acted_on(session):
    outcome = say(session, "make person 3 smile")
    assert not outcome.executed and "1 person" in outcome.reply


def test_generating_is_recorded_as_asked_not_faked(session):
    outcome = say(session, "seed 42 and make three variations")
    assert outcome.generate.count == 3 and outcome.generate.version == 2
    assert "no images were made" in outcome.reply
    assert session.generations() == []
    default = say(session, "generate")
    assert default.generate.count == 4  # the generation settings' number of candidates


def test_show_the_priors_and_help(session):
    shown = say(session, "show the priors")
    assert "people: on" in shown.reply and "depth: on" in shown.reply and not shown.committed
    assert "For example" in say(session, "help").reply
