"""The web app's settings panel in a Chainlit socket context, without a browser: run by
tests/test_web_guidance.py in its own process (importing `app.py` registers Chainlit callbacks
and reads the environment's settings once). Prints what a user would have seen, as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import chainlit as cl
from chainlit.context import init_ws_context
from chainlit.session import WebsocketSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import app

emitted: list[tuple[str, dict]] = []


async def _emit(event: str, data: dict) -> None:
    emitted.append((event, data))


def _panel() -> dict:
    """The last panel sent, as widget id -> shown value, with the tab of each."""
    last = [data for event, data in emitted if event == "chat_settings"][-1]
    return {w["id"]: [tab["id"], w["initial"]] for tab in last for w in tab["inputs"]}


def _said() -> str:
    return [data["output"] for event, data in emitted if event == "new_message"][-1]


async def main() -> None:
    init_ws_context(
        WebsocketSession(
            id="web-1",
            socket_id="sid-web-1",
            emit=_emit,
            emit_call=lambda *a: None,
            user_env={},
            client_type="webapp",
            thread_id="thread-1",
        )
    )
    session = app.CONVERSATIONS.start("web")
    app.CONVERSATIONS.demo(session)
    cl.user_session.set("session_id", session.id)
    seen: dict = {}
    await app._send_settings(session.id)
    seen["first"] = _panel()

    shown = cl.user_session.get("shown_settings")
    await app.settings_changed({**shown, "guide_edges_weight": 2.0})
    seen["moved"] = app.CONVERSATIONS.guides(session.id)["edges"].model_dump()
    seen["moved_said"] = _said()

    shown = cl.user_session.get("shown_settings")
    await app.settings_changed({**shown, "guide_edges_start": 0.9, "guide_edges_end": 0.1})
    seen["refused"] = app.CONVERSATIONS.guides(session.id)["edges"].model_dump()
    seen["refused_said"] = _said()
    seen["refused_panel"] = _panel()

    await app._act(cl.Action(name="undo", payload={}))
    seen["undone"] = app.CONVERSATIONS.guides(session.id)["edges"].model_dump()
    seen["undone_panel"] = _panel()
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main())
