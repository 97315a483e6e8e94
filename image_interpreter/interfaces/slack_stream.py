"""The LLM's answer in Slack as one message that grows while it is generated.

Slack has no token stream for bots' messages: the answer is posted at its first token and then
edited (chat.update). Slack allows about one edit per second for one message, so edits are
spaced at least `every_s` apart, and only the latest text is sent; a thread of its own does the
posting so the turn never waits on Slack. The finished reply is the message's last edit
(`finish`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient

from image_interpreter.interfaces.slack_threads import ThreadKey

log = logging.getLogger(__name__)

EDIT_EVERY_S = 1.0  # Slack's rate for editing one message: about once a second


class GrowingMessage:
    """`token` (from any thread) adds to the answer; `finish(text)` makes `text` its last edit
    and returns the message's ts, or None when nothing was posted (no token came)."""

    def __init__(
        self,
        client: WebClient,
        key: ThreadKey,
        shown: Callable[[str], str],
        every_s: float = EDIT_EVERY_S,
    ):
        self.client, self.key, self.shown, self.every_s = client, key, shown, every_s
        self.ts: str | None = None
        self._text, self._sent, self._last = "", "", 0.0
        self._lock = threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="slack-answer", daemon=True)
        self._thread.start()

    def token(self, piece: str) -> None:
        with self._lock:
            self._text += piece
        self._wake.set()

    def finish(self, text: str | None) -> str | None:
        """Stop streaming; the message (if posted) then says `text`, after the edit interval."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        if self.ts is not None and text is not None:
            wait = self._last + self.every_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._send(text)
        return self.ts

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            with self._lock:
                text = self.shown(self._text)
            if text.strip() and text != self._sent:
                self._send(text)
                self._stop.wait(self.every_s)  # the next edit no sooner than this

    def _send(self, text: str) -> None:
        try:
            if self.ts is None:
                posted: Any = self.client.chat_postMessage(
                    channel=self.key.channel_id,
                    thread_ts=self.key.thread_ts,
                    text=text,
                    unfurl_links=False,
                )
                self.ts = posted["ts"]
            else:
                self.client.chat_update(channel=self.key.channel_id, ts=self.ts, text=text)
            self._sent, self._last = text, time.monotonic()
        except SlackApiError as exc:  # the reply is still delivered whole at the end
            log.info("slack answer not shown as it grew: %s", exc)
