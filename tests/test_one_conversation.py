"""Same words in, same behaviour out: one scripted conversation through the terminal chat, the
web chat's adapter and the Slack bot, each on the shared conversation core, ends in the same
versions with the same replies (random seeds and scores aside)."""

from __future__ import annotations

import re

import pytest
from slack_mock import SlackMock
from test_slack import CHAT, running_bot
from typer.testing import CliRunner

from image_interpreter.cli import app
from image_interpreter.cli.main import console
from image_interpreter.interfaces.chainlit_web import web_message
from image_interpreter.interfaces.conversation import Conversations
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings

SCRIPT = [
    "try the demo",
    "raise the left arm",
    "what do you see?",
    "generate 2",
    "pick 1",
    "undo",
]
TOOL_CALL = re.compile(r"\w+\(.*=")


@pytest.fixture
def settings(tmp_path, tmp_path_factory, monkeypatch):
    tiny = tmp_path_factory.getbasetemp() / "generate-tiny-models"
    env = {
        "IMAGE_INTERPRETER_PROFILE": "tiny",
        "IMAGE_INTERPRETER_DATA_DIR": str(tmp_path / "data"),
        "IMAGE_INTERPRETER_TINY_DIR": str(tiny),
        "IMAGE_INTERPRETER_CHAT__EXTRACT": CHAT.extract,
        "IMAGE_INTERPRETER_CHAT__CANDIDATES": str(CHAT.candidates),
        "IMAGE_INTERPRETER_CHAT__STEPS": str(CHAT.steps),
        "IMAGE_INTERPRETER_CHAT__SIZE": str(CHAT.size),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def through_the_web(settings) -> tuple[str, list[str]]:
    """The web chat's adapter: each message through the core, shown as the web shows it."""
    conversations = Conversations(settings, config=CHAT)
    try:
        session = conversations.start("web")
        shown = []
        for line in SCRIPT:
            reply = conversations.say(session, line)
            rows = conversations.priors_table(session) if reply.changed else []
            shown.append(web_message(reply, rows).text)
            if line == "generate 2":
                buttons = [b.label for b in web_message(reply, rows).buttons]
                assert {"Pick 1", "Pick 2"} <= set(buttons) and "Pick 0" not in buttons
        return session.id, shown
    finally:
        conversations.close()


def through_the_terminal(tmp_path) -> tuple[str, str]:
    result = CliRunner().invoke(
        app,
        ["chat", "--demo", "--out", str(tmp_path / "pictures")],
        input="\n".join(SCRIPT[1:]) + "\nquit\n",
    )
    assert result.exit_code == 0, result.output
    session_id = re.search(r"Session (\S+)", result.output).group(1)
    return session_id, result.output


def through_slack(settings) -> str:
    with SlackMock() as slack, running_bot(settings, slack) as bot:
        thread = "500.000001"
        bot.mention(SCRIPT[0], ts=thread)
        bot.said(thread, "The demo:")
        expected = {
            "raise the left arm": "(version 3)",
            "what do you see?": "Version 3 of astronaut.jpg",
            "generate 2": "Generation 1 from version 3",
            "pick 1": "Picked candidate 1",
            "undo": "Undid the last change",
        }
        for n, line in enumerate(SCRIPT[1:], 2):
            bot.message(line, ts=f"500.00000{n}", thread_ts=thread)
            bot.said(thread, expected[line])
        return bot.session_id(thread)


def recorded(settings, session_id: str) -> tuple[list[tuple], list[str]]:
    """The session's versions and its replies, with what chance decides (seeds, scores) masked."""
    store = SessionStore.from_settings(settings)
    try:
        session = store.open(session_id)
        versions = [(v.number, v.parent, v.summary) for v in session.history()]
        replies = [
            re.sub(r"seed \d+|\d+\.\d+", "#", t.text)
            for t in session.turns()
            if t.role == "assistant"
        ]
        return versions, replies
    finally:
        store.close()


def test_one_script_through_three_front_ends(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(console, "width", 200)
    web_id, web_shown = through_the_web(settings)
    terminal_id, terminal_output = through_the_terminal(tmp_path)
    slack_id = through_slack(settings)

    web, terminal, slack = (recorded(settings, i) for i in (web_id, terminal_id, slack_id))
    assert web[0] == terminal[0] == slack[0]  # the same versions, made by the same edits
    assert web[1] == terminal[1] == slack[1]  # the same replies
    summaries = [summary for _, _, summary in web[0]]
    assert "picked candidate 1 of generation 1" in summaries  # and undo went back before it
    assert web[0][-1][0] == 4  # photo, pose, raised arm, pick

    # what people read: pictures named, one numbering, no tool-call syntax anywhere
    assert all(not TOOL_CALL.search(text) for text in web[1] + web_shown), web[1]
    assert "Undid the last change — picked candidate 1 of generation 1" in web_shown[-1]
    assert "| candidate | generation | score |" in web_shown[3]
    assert "people · v3 · on:" in terminal_output  # the terminal prints where pictures went
    written = sorted(p.name for p in (tmp_path / "pictures").iterdir())
    assert any("candidate-1-generation-1" in name for name in written), written
    assert not TOOL_CALL.search(terminal_output)
