"""In Slack, an LLM's answer grows in one message while it is generated: one post, then edits no
more often than Slack allows for one message (about once a second), the last one the whole
reply."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

import huggingface_hub.constants
import pytest
from fake_llm_server import FakeLLMServer, completion_stream
from slack_mock import SlackMock
from test_slack import CHANNEL, CHAT, SECRET, Harness

from image_interpreter.agent.llm import llm_config
from image_interpreter.interfaces.conversation import Conversations
from image_interpreter.interfaces.slack import SlackBot, SlackConfig, serve_http
from image_interpreter.interfaces.slack_stream import EDIT_EVERY_S
from image_interpreter.settings import load_settings

PIECES = [f"word{n} " for n in range(30)]  # 30 tokens over about 1.5 s


@pytest.fixture(autouse=True)
def _hub_reaches_our_own_server(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_a_streamed_answer_is_one_message_edited_within_slacks_rate(tmp_path):
    settings = load_settings(profile="tiny", device="cpu", data_dir=tmp_path / "data")
    with SlackMock() as slack, FakeLLMServer() as llm_server:
        at: dict[int, float] = {}  # when Slack saw each call
        record = slack._record

        def timed(call) -> None:
            at[id(call)] = time.monotonic()
            record(call)

        slack._record = timed
        llm = llm_config(
            None, backend="openai", base_url=llm_server.url + "/v1", model="m", timeout_s=10
        )
        llm_server.script("/v1/chat/completions", completion_stream(PIECES, gap=0.05))
        config = SlackConfig(
            bot_token=slack.bot_token,
            signing_secret=SECRET,
            api_url=slack.api_url,
            files_url=slack.files_url,
        )
        bot = SlackBot(Conversations(settings, config=CHAT, llm=llm), config)
        server = serve_http(bot, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        harness = Harness(bot, f"http://127.0.0.1:{server.server_address[1]}/slack/events", slack)
        try:
            harness.mention("what could you change here, roughly?", "500.000001")
            whole = "".join(PIECES).strip()
            slack.wait_for(
                lambda: any(c.params.get("text") == whole for c in slack.calls("chat.update")),
                timeout=60,
            )
            time.sleep(0.3)  # nothing more should follow
        finally:
            server.shutdown()
            server.server_close()
            harness.http.close()
            bot.conversations.close()
    posts = slack.posts(CHANNEL, "500.000001")
    updates = slack.calls("chat.update")
    assert len(posts) == 1  # the answer's one message
    assert posts[0].params["text"] != whole  # posted at its first tokens, not at the end
    assert whole.startswith(posts[0].params["text"].strip())
    assert len({u.params["ts"] for u in updates}) == 1  # every edit is of that message
    assert 2 <= len(updates) <= 4  # it grew, in a few edits, not one per token
    assert updates[-1].params["text"] == whole
    texts = [posts[0].params["text"]] + [u.params["text"] for u in updates]
    assert all(len(a) <= len(b) for a, b in pairwise(texts))  # only grows
    moments = [at[id(c)] for c in [posts[0], *updates]]
    gaps = [b - a for a, b in pairwise(moments)]
    assert min(gaps) >= EDIT_EVERY_S - 0.05, gaps  # at most one edit a second
