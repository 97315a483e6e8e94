"""The Slack bot against a local mock of Slack's Web API and file host (tests/slack_mock.py), with
requests signed by the signing secret as Slack signs them, over the bot's real HTTP endpoint."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image
from slack_mock import BOT_USER, TEAM, SlackMock
from slack_sdk.signature import SignatureVerifier

from image_interpreter.errors import SettingsError
from image_interpreter.images import encode_png
from image_interpreter.interfaces.conversation import ChatConfig, Conversations
from image_interpreter.interfaces.slack import (
    SlackBot,
    SlackConfig,
    SlackConfigError,
    _clean_text,
    _escape,
    serve_http,
    socket_handler,
)
from image_interpreter.interfaces.slack_files import (
    SlackFile,
    SlackFileRefused,
    check_file_url,
    fetch_file,
)
from image_interpreter.interfaces.slack_threads import ThreadKey, ThreadMap
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.openpose import export_openpose
from image_interpreter.priors.schema import ArtifactRef, DepthPrior
from image_interpreter.session.engine import make_engine
from image_interpreter.settings import Limits, load_settings

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0PHOTOS"
USER = "U0ALICE"
_ids = count(1)


def png(width: int = 64, height: int = 96, color: str = "gray") -> bytes:
    return encode_png(Image.new("RGB", (width, height), color))


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny-models")  # built once for the whole file


@pytest.fixture
def settings(tmp_path, tiny_dir):
    return load_settings(profile="tiny", data_dir=tmp_path / "data", tiny_dir=tiny_dir)


# Nothing is extracted from photos (the extractors have their own tests); generations are tiny.
CHAT = ChatConfig(extract="", candidates=1, steps=1, size=64)


@pytest.fixture
def slack():
    with SlackMock() as mock:
        yield mock


class Harness:
    """The bot served over HTTP on loopback, and a way to send it signed requests."""

    def __init__(self, bot: SlackBot, url: str, slack: SlackMock):
        self.bot, self.url, self.slack = bot, url, slack
        self.http = httpx.Client(timeout=10, trust_env=False)

    def send(
        self,
        body: str,
        kind: str = "application/json",
        *,
        timestamp: int | None = None,
        secret: str = SECRET,
        signature: str | None = None,
    ) -> httpx.Response:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signed = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
        headers = {
            "Content-Type": kind,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature or signed,
        }
        return self.http.post(self.url, content=body.encode(), headers=headers)

    def event(self, event: dict, **kwargs) -> httpx.Response:
        body = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": f"Ev{next(_ids):06d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
            "event": event,
        }
        return self.send(json.dumps(body), **kwargs)

    def message(self, text: str, ts: str, thread_ts: str | None = None, **extra) -> httpx.Response:
        event = {
            "type": "message",
            "channel": CHANNEL,
            "channel_type": "channel",
            "user": USER,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            **({"thread_ts": thread_ts} if thread_ts else {}),
            **extra,
        }
        response = self.event(event)
        assert response.status_code == 200, response.text
        return response

    def mention(self, text: str, ts: str, thread_ts: str | None = None) -> None:
        event = {
            "type": "app_mention",
            "channel": CHANNEL,
            "user": USER,
            "text": f"<@{BOT_USER}> {text}",
            "ts": ts,
            "event_ts": ts,
            **({"thread_ts": thread_ts} if thread_ts else {}),
        }
        assert self.event(event).status_code == 200

    def photo(self, ts: str, thread_ts: str, data: bytes, file_id: str, url: str | None = None):
        return self.file(ts, thread_ts, data, file_id, "park.png", "image/png", url=url)

    def file(
        self,
        ts: str,
        thread_ts: str,
        data: bytes,
        file_id: str,
        name: str,
        mimetype: str,
        url: str | None = None,
        text: str = "",
    ):
        kind = mimetype.split("/")[-1]
        shared = {
            "id": file_id,
            "name": name,
            "mimetype": mimetype,
            "filetype": kind,
            "size": len(data),
            "url_private": url or self.slack.add_private_file(file_id, data, name, mimetype),
        }
        return self.message(text, ts, thread_ts, subtype="file_share", files=[shared])

    def said(self, thread_ts: str, needle: str) -> str:
        """Wait for a reply in the thread that contains `needle`."""

        def found() -> list[str]:
            return [t for t in self.replies_now(thread_ts) if needle in t]

        return self.slack.wait_for(found, timeout=90)[0]

    def replies_now(self, thread_ts: str) -> list[str]:
        return [c.params["text"] for c in self.slack.posts(CHANNEL, thread_ts)]

    def uploads(self, thread_ts: str) -> list[dict]:
        """Files completed into the thread: [{id, title}, ...]."""
        return [
            f
            for c in self.slack.calls("files.completeUploadExternal")
            if c.params.get("thread_ts") == thread_ts and c.params.get("channel_id") == CHANNEL
            for f in json.loads(c.params["files"])
        ]

    def replies(self, thread_ts: str, n: int = 1) -> list[str]:
        posts = self.slack.wait_for(lambda: len(self.slack.posts(CHANNEL, thread_ts)) >= n or [])
        del posts
        return [c.params["text"] for c in self.slack.posts(CHANNEL, thread_ts)]

    def session_id(self, thread_ts: str) -> str | None:
        return self.bot.threads.get(ThreadKey(TEAM, CHANNEL, thread_ts))


@contextmanager
def running_bot(settings, slack: SlackMock) -> Iterator[Harness]:
    """A bot over a fresh Conversations on `settings`, served over HTTP on loopback."""
    config = SlackConfig(
        bot_token=slack.bot_token,
        signing_secret=SECRET,
        api_url=slack.api_url,
        files_url=slack.files_url,
    )
    bot = SlackBot(Conversations(settings, config=CHAT), config)
    server = serve_http(bot, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    harness = Harness(bot, f"http://127.0.0.1:{server.server_address[1]}/slack/events", slack)
    try:
        yield harness
    finally:
        server.shutdown()
        server.server_close()
        harness.http.close()
        bot.conversations.close()


@pytest.fixture
def harness(settings, slack):
    with running_bot(settings, slack) as running:
        yield running


# --- events in threads ----------------------------------------------------------------------------


def test_a_mention_starts_a_session_and_the_thread_goes_on_without_mentions(harness):
    harness.mention("hello", ts="100.000001")
    assert harness.replies("100.000001")  # the reply is in the thread of the mention
    session_id = harness.session_id("100.000001")
    assert session_id is not None

    harness.message("what can you do?", ts="100.000002", thread_ts="100.000001")
    assert len(harness.replies("100.000001", n=2)) >= 2
    assert harness.session_id("100.000001") == session_id  # same thread, same session
    assert all(c.params.get("thread_ts") == "100.000001" for c in harness.slack.posts(CHANNEL))

    # a top-level message without a mention is not for the bot
    harness.message("lunch?", ts="101.000001")
    time.sleep(0.3)
    assert harness.session_id("101.000001") is None
    assert not harness.slack.posts(CHANNEL, "101.000001")


def test_a_photo_in_the_thread_is_fetched_with_the_bot_token_and_becomes_the_image(harness):
    harness.mention("here is my photo", ts="200.000001")
    harness.replies("200.000001")
    data = png(80, 120, "teal")
    harness.photo("200.000002", "200.000001", data, "F0PARK")

    fetched = harness.slack.wait_for(lambda: harness.slack.calls("file"))
    assert fetched[0].headers["authorization"] == f"Bearer {harness.slack.bot_token}"
    assert fetched[0].params["path"] == f"/files-pri/{TEAM}-F0PARK/download/park.png"
    assert "(80×120) added as version 1" in harness.said("200.000001", "added as version 1")
    session = harness.bot.conversations.open(harness.session_id("200.000001"))
    images = session_images(session)
    assert [(i.ref.width, i.ref.height) for i in images] == [(80, 120)]


def test_commands_go_through_the_agent_and_pictures_come_back_into_the_thread(harness):
    conversations = harness.bot.conversations
    results = []
    say = conversations.say

    def spy(*args, **kwargs):
        reply = say(*args, **kwargs)
        results.append(reply.result)
        return reply

    conversations.say = spy
    root = "250.000001"
    harness.mention("let's edit a photo", ts=root)
    harness.replies(root)
    harness.photo("250.000002", root, png(64, 96), "F0PHOTO")
    harness.said(root, "added as version 1")
    pose = json.dumps(export_openpose([example_person()], 64, 96)).encode()
    harness.file("250.000003", root, pose, "F0POSE", "pose.json", "application/json")
    harness.said(root, "Imported 1 person from pose.json")
    add_depth_map(conversations.open(harness.session_id(root)))

    harness.message("raise the left arm", ts="250.000004", thread_ts=root)
    harness.said(root, "Raised person 1's left arm")
    assert results[-1].path == "fast" and not results[-1].used_llm
    # the new skeleton over the photo, named by kind, version and switch
    harness.slack.wait_for(
        lambda: [f for f in harness.uploads(root) if f["title"] == "people · v4 · on"]
    )

    harness.message("drop the depth map", ts="250.000005", thread_ts=root)
    harness.said(root, "Disabled the depth prior")
    assert results[-1].path == "fast"

    harness.message("make 1 candidate", ts="250.000006", thread_ts=root)
    harness.said(root, "Generation 1")

    def generated() -> list[dict]:
        return [f for f in harness.uploads(root) if "· generation 1" in f["title"]]

    candidates = harness.slack.wait_for(generated)
    assert len(candidates) == 1
    assert harness.slack.uploads[candidates[0]["id"]].startswith(b"\x89PNG")
    # everything stayed in the thread; nothing went to the channel itself
    assert all(c.params.get("thread_ts") == root for c in harness.slack.posts(CHANNEL))


def test_a_mention_in_a_thread_picks_up_the_photo_posted_there_before(harness):
    root, data = "260.000001", png(48, 72, "olive")
    url = harness.slack.add_private_file("F0EARLIER", data, "beach.png")
    photo = {"id": "F0EARLIER", "name": "beach.png", "mimetype": "image/png", "size": len(data),
             "url_private": url}  # fmt: skip
    harness.slack.history[(CHANNEL, root)] = [
        {"ts": root, "user": USER, "text": "look at this", "files": [photo]},
        {"ts": "260.000002", "user": "U0BOB", "text": "nice"},
    ]
    harness.mention("what do you see?", ts="260.000003", thread_ts=root)
    assert "(48×72) added as version 1" in harness.said(root, "added as version 1")
    session = harness.bot.conversations.open(harness.session_id(root))
    assert [(i.ref.width, i.ref.height) for i in session_images(session)] == [(48, 72)]


def test_a_file_not_on_slacks_host_is_refused_and_not_fetched(harness):
    harness.mention("hi", ts="300.000001")
    harness.replies("300.000001")
    elsewhere = "http://127.0.0.2:9/files-pri/T0TEST-F0EVIL/download/x.png"
    harness.photo("300.000002", "300.000001", png(), "F0EVIL", url=elsewhere)
    other_team = f"{harness.slack.url}/files-pri/T0OTHER-F0OTHER/download/x.png"
    harness.photo("300.000003", "300.000001", png(), "F0OTHER", url=other_team)
    texts = harness.replies("300.000001", n=3)
    assert sum("won't fetch" in t for t in texts) == 2
    assert not harness.slack.calls("file")
    session = harness.bot.conversations.open(harness.session_id("300.000001"))
    assert session_images(session) == []


def test_a_thread_goes_on_with_its_session_after_a_restart(settings, slack):
    with running_bot(settings, slack) as first:
        first.mention("hello", ts="600.000001")
        first.replies("600.000001")
        session_id = first.session_id("600.000001")
    with running_bot(settings, slack) as second:
        second.message("are you there?", ts="600.000002", thread_ts="600.000001")
        second.replies("600.000001", n=2)
        assert second.session_id("600.000001") == session_id
        turns = second.bot.conversations.open(session_id)
        assert session_turn_texts(turns)[-2:][0] == "are you there?"


def test_a_direct_message_starts_a_thread_and_redelivered_events_count_once(harness):
    event = {
        "type": "message",
        "channel": "D0ALICE",
        "channel_type": "im",
        "user": USER,
        "text": "hello",
        "ts": "700.000001",
    }
    body = {
        "team_id": TEAM,
        "type": "event_callback",
        "event_id": "Ev0REDELIVERED",
        "event_time": int(time.time()),
        "event": event,
    }
    for _ in range(2):  # Slack retries an event it thinks went unanswered
        assert harness.send(json.dumps(body)).status_code == 200
    harness.slack.wait_for(lambda: harness.slack.posts("D0ALICE", "700.000001"))
    time.sleep(0.3)
    assert len(harness.slack.posts("D0ALICE", "700.000001")) == 1
    assert harness.bot.threads.get(ThreadKey(TEAM, "D0ALICE", "700.000001"))


def test_replies_are_plain_text_that_cannot_ping_or_link():
    assert _escape("<!channel> & <@U1|x>") == "&lt;!channel&gt; &amp; &lt;@U1|x&gt;"
    assert _clean_text(f"<@{BOT_USER}>  raise &lt;the&gt; arm &amp; smile", BOT_USER) == (
        "raise <the> arm & smile"
    )


# --- the slash command ----------------------------------------------------------------------------


def command_body(slack: SlackMock, text: str = "", channel: str = CHANNEL) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "photos",
            "user_id": USER,
            "user_name": "alice",
            "command": "/imagine",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": f"{slack.url}/respond/1",
            "trigger_id": "1.2.3",
        }
    )


def test_the_slash_command_starts_a_session_in_a_new_thread(harness):
    started = time.monotonic()
    response = harness.send(command_body(harness.slack), "application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert time.monotonic() - started < 3  # acknowledged within Slack's 3 seconds
    root = harness.slack.wait_for(lambda: harness.slack.posts(CHANNEL))[0]
    assert "thread_ts" not in root.params and f"<@{USER}>" in root.params["text"]
    thread_ts = harness.slack.wait_for(lambda: harness.session_id("1700000001.000100") and "ok")
    assert thread_ts == "ok"

    # the thread is now a session: a message in it needs no mention
    harness.message("show me the priors", ts="400.000001", thread_ts="1700000001.000100")
    assert harness.replies("1700000001.000100")


def test_the_slash_command_where_the_bot_is_not_invited_answers_privately(harness):
    body = command_body(harness.slack, channel="CNOTIN")
    assert harness.send(body, "application/x-www-form-urlencoded").status_code == 200
    said = harness.slack.wait_for(lambda: harness.slack.calls("respond"))[0].params
    assert said["response_type"] == "ephemeral" and "/invite" in said["text"]


# --- request verification (HTTP mode) -------------------------------------------------------------


def test_forged_and_stale_requests_are_refused_with_401(harness):
    event = {"type": "app_mention", "channel": CHANNEL, "user": USER, "text": "hi", "ts": "5.1"}
    assert harness.event(event, secret="not-the-secret").status_code == 401
    assert harness.event(event, signature="v0=" + "0" * 64).status_code == 401
    stale = int(time.time()) - 6 * 60
    assert harness.event(event, timestamp=stale).status_code == 401
    future = int(time.time()) + 6 * 60
    assert harness.event(event, timestamp=future).status_code == 401
    body = command_body(harness.slack)
    assert harness.send(body, "application/x-www-form-urlencoded", secret="x").status_code == 401
    assert harness.http.post(harness.url, content=b"{}").status_code == 401  # unsigned
    time.sleep(0.3)
    assert harness.slack.calls("chat.postMessage") == []
    assert harness.session_id("5.1") is None


def test_an_oversized_body_is_refused_before_it_is_read(harness):
    big = "x" * (1024 * 1024 + 1)
    assert harness.send(big).status_code == 413


# --- configuration --------------------------------------------------------------------------------


def test_tokens_come_from_the_environment_with_clear_errors():
    with pytest.raises(SlackConfigError) as missing:
        SlackConfig.from_env("socket", {})
    message = str(missing.value)
    assert "SLACK_BOT_TOKEN is not set" in message and "SLACK_APP_TOKEN is not set" in message
    assert isinstance(missing.value, SettingsError)
    with pytest.raises(SlackConfigError, match="SLACK_SIGNING_SECRET is not set"):
        SlackConfig.from_env("http", {"SLACK_BOT_TOKEN": "xoxb-1"})
    with pytest.raises(SlackConfigError, match="starting with 'xoxb-'"):
        SlackConfig.from_env("http", {"SLACK_BOT_TOKEN": "xoxp-1", "SLACK_SIGNING_SECRET": "s"})
    with pytest.raises(SlackConfigError, match="starting with 'xapp-'"):
        SlackConfig.from_env("socket", {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"})
    http = SlackConfig.from_env("http", {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    assert (http.bot_token, http.signing_secret, http.command) == ("xoxb-1", "s", "/imagine")
    socket = SlackConfig.from_env(
        "socket",
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_COMMAND": "/edit-photo"},
    )
    assert (socket.app_token, socket.command) == ("xapp-1", "/edit-photo")


def test_a_refused_bot_token_is_a_clear_error_at_start(settings, slack):
    config = SlackConfig(bot_token="xoxb-revoked", signing_secret=SECRET, api_url=slack.api_url)
    conversations = Conversations(settings, config=CHAT)
    with pytest.raises(SlackConfigError, match=r"did not accept SLACK_BOT_TOKEN.*invalid_auth"):
        SlackBot(conversations, config)
    conversations.close()


def test_socket_mode_needs_no_signing_secret(settings, slack):
    config = SlackConfig(bot_token=slack.bot_token, app_token="xapp-1-test", api_url=slack.api_url)
    conversations = Conversations(settings, config=CHAT)
    bot = SlackBot(conversations, config, mode="socket")
    handler = socket_handler(bot)
    assert handler.app is bot.app and handler.app_token == "xapp-1-test"
    with pytest.raises(SlackConfigError, match="SLACK_SIGNING_SECRET"):
        SlackBot(conversations, config, mode="http")
    conversations.close()


# --- the thread map -------------------------------------------------------------------------------


def test_threads_map_to_sessions_across_restarts(settings):
    key = ThreadKey(TEAM, CHANNEL, "123.456")
    first = ThreadMap(make_engine(settings.database))
    assert first.get(key) is None
    assert first.put(key, "session-a") == "session-a"
    assert first.put(key, "session-b") == "session-a"  # the first mapping stays
    first.engine.dispose()
    again = ThreadMap(make_engine(settings.database))
    assert again.get(key) == "session-a"
    again.replace(key, "session-c")
    assert again.get(key) == "session-c"
    assert again.get(ThreadKey(TEAM, CHANNEL, "123.457")) is None


# --- fetching files -------------------------------------------------------------------------------

FILES = "https://files.slack.com/"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/files-pri/T0TEST-F1/download/a.png",
        "http://files.slack.com/files-pri/T0TEST-F1/download/a.png",
        "https://files.slack.com:8443/files-pri/T0TEST-F1/download/a.png",
        "https://user:pw@files.slack.com/files-pri/T0TEST-F1/download/a.png",
        "https://files.slack.com.evil.example/files-pri/T0TEST-F1/a.png",
        "https://files.slack.com/files-pri/T0OTHER-F1/download/a.png",
        "https://files.slack.com/files-pri/T0TEST-F2/download/a.png",
        "https://files.slack.com/files-tmb/T0TEST-F1/a.png",
        "https://files.slack.com/files-pri/T0TEST-F1/../../api/chat.postMessage",
        "https://files.slack.com/files-pri/T0TEST-F1/%2e%2e/%2e%2e/x",
        "https://files.slack.com/files-pri/T0TEST-F1/a.png#frag",
        "file:///etc/passwd",
        "",
    ],
)
def test_only_this_workspaces_files_on_slacks_host_are_fetched(url):
    with pytest.raises(SlackFileRefused):
        check_file_url(url, file_id="F1", teams=[TEAM], files_url=FILES)


def test_a_file_url_of_this_workspace_is_accepted():
    url = "https://files.slack.com/files-pri/T0TEST-F1/download/a.png"
    assert check_file_url(url, file_id="F1", teams=[TEAM], files_url=FILES) == url
    enterprise = "https://files.slack.com/files-pri/E0ORG-F1/a.png"
    assert check_file_url(enterprise, file_id="F1", teams=[TEAM, "E0ORG"], files_url=FILES)


def test_fetching_enforces_type_size_and_redirect_rules(slack):
    limits = Limits(max_bytes=1000)
    fetch = dict(token=slack.bot_token, teams=[TEAM], files_url=slack.files_url)
    not_image = SlackFile("F1", "notes.txt", "text/plain", 10, slack.files_url)
    with pytest.raises(SlackFileRefused, match="not a picture"):
        fetch_file(not_image, limits=limits, **fetch)
    big = SlackFile("F2", "big.png", "image/png", 5000, slack.files_url)
    with pytest.raises(Exception, match="limit"):
        fetch_file(big, limits=limits, **fetch)
    # the size in the event lies: the download stops at the limit
    url = slack.add_private_file("F3", b"\x89PNG" + b"\0" * 5000, "liar.png")
    with pytest.raises(Exception, match="larger than"):
        fetch_file(SlackFile("F3", "liar.png", "image/png", 10, url), limits=limits, **fetch)
    # a wrong token gets Slack's refusal, not an exception from the HTTP client
    url = slack.add_private_file("F4", png(), "ok.png")
    with pytest.raises(SlackFileRefused, match="files:read"):
        fetch_file(
            SlackFile("F4", "ok.png", "image/png", None, url),
            limits=Limits(),
            token="xoxb-wrong",
            teams=[TEAM],
            files_url=slack.files_url,
        )
    ok = fetch_file(SlackFile("F4", "ok.png", "image/png", None, url), limits=Limits(), **fetch)
    assert hashlib.sha256(ok).digest() == hashlib.sha256(png()).digest()


def test_redirects_are_followed_only_to_allowed_urls():
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if request.url.path.endswith("/a.png"):
            return httpx.Response(302, headers={"location": "https://evil.example/x.png"})
        return httpx.Response(200, content=b"img", headers={"content-type": "image/png"})

    file = SlackFile("F1", "a.png", "image/png", 3, f"{FILES}files-pri/T0TEST-F1/a.png")
    with pytest.raises(SlackFileRefused):
        fetch_file(
            file,
            token="xoxb-1",
            teams=[TEAM],
            limits=Limits(),
            transport=httpx.MockTransport(answer),
        )
    assert calls == [f"{FILES}files-pri/T0TEST-F1/a.png"]


def session_images(session):
    return session.images()


def add_depth_map(session):
    """A depth prior on the current version, as extraction would have made it."""
    current = session.current
    sha = session.put_artifact(png_mode("I;16", current.source.width, current.source.height))
    depth = DepthPrior(map=ArtifactRef(sha256=sha, width=current.source.width,
                                       height=current.source.height))  # fmt: skip
    session.commit(current.model_copy(update={"depth": depth}), summary="a depth map")


def png_mode(mode: str, width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def session_turn_texts(session):
    return [turn.text for turn in session.turns()]


def test_the_slack_command_fails_fast_without_tokens(monkeypatch):
    import typer
    from typer.testing import CliRunner

    from image_interpreter.interfaces.slack_cli import register

    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_COMMAND"):
        monkeypatch.delenv(name, raising=False)
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        pass

    runner = CliRunner()
    assert "--http" in runner.invoke(app, ["slack", "--help"], terminal_width=200).output
    result = runner.invoke(app, ["slack", "--http", "--port", "0"])
    assert isinstance(result.exception, SlackConfigError)
    assert "SLACK_SIGNING_SECRET is not set" in str(result.exception)


# --- hardening (issue 10) -------------------------------------------------------------------------


def test_a_non_numeric_timestamp_is_refused_with_401_not_500(harness):
    body = json.dumps({"type": "event_callback", "team_id": TEAM, "event": {"type": "x"}})
    for stamp in ("abc", "1e9", "", "17.5", "-5"):
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": "v0=" + "0" * 64,
        }
        response = harness.http.post(harness.url, content=body.encode(), headers=headers)
        assert response.status_code == 401, (stamp, response.status_code)


def test_a_huge_reply_is_posted_in_a_bounded_number_of_messages(harness):
    from image_interpreter.interfaces.slack import MAX_MESSAGES_PER_REPLY

    key = ThreadKey(TEAM, CHANNEL, "900.000001")
    harness.bot.post(key, "a line of the reply\n" * 1_500_000)  # 30 MB
    posted = harness.replies_now("900.000001")
    assert 1 < len(posted) <= MAX_MESSAGES_PER_REPLY
    assert all(len(text) <= 4000 for text in posted)
    assert "is not shown" in posted[-1] and "characters" in posted[-1]


def test_a_reply_that_fits_is_posted_whole(harness):
    key = ThreadKey(TEAM, CHANNEL, "900.000002")
    text = "\n".join(f"line {n}" for n in range(600))  # two messages' worth
    harness.bot.post(key, text)
    posted = harness.replies_now("900.000002")
    assert len(posted) == 2 and "\n".join(posted) == text
