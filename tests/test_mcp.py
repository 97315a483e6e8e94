"""The MCP server, driven by the MCP client of the same package as another agent would drive it:
over stdio (the server a subprocess, as a client's config starts it) and over streamable HTTP on
loopback. Both run the same scenario on the tiny models: list the tools, start a session, add a
photo (its priors come back as pictures), edit through apply_edits and see the change in
describe_priors, get error results for a bad handle, an unknown session and an invalid edit,
chat through `say` and undo; over stdio, generate a 64-pixel candidate that comes back as an
image too (the tiny pipeline is loaded once per test run, not once per transport)."""

from __future__ import annotations

import base64
import io
import os
import sys
from datetime import timedelta

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

from image_interpreter.tools import TOOL_NAMES

SESSION_TOOLS = {"start_session", "add_photo", "say", "show_priors", "show_image"}
CHAT = {"extract": "edges", "steps": 2, "size": 64, "candidates": 1}
TIMEOUT = timedelta(seconds=120)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """The tiny models, built once for the module's servers."""
    return tmp_path_factory.mktemp("tiny-models")


def photo_base64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (90, 120, 160)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def texts(result) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def images(result) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(block.data)))
        for block in result.content
        if block.type == "image"
    ]


async def scenario(client: ClientSession, *, lists_sessions: bool, generate: bool) -> None:
    await client.initialize()

    listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(TOOL_NAMES) <= set(listed)
    assert set(listed) - set(TOOL_NAMES) == SESSION_TOOLS | (
        {"list_sessions"} if lists_sessions else set()
    )
    edit_schema = listed["apply_edits"].inputSchema
    assert edit_schema["required"][:2] == ["session_id", "edits"]
    assert "$defs" in edit_schema  # the typed Edit union, as the agent's LLM sees it

    started = await client.call_tool("start_session", {"title": "mcp test"})
    assert not started.isError
    session_id = started.structuredContent["session_id"]

    added = await client.call_tool(
        "add_photo", {"session_id": session_id, "data": photo_base64(), "name": "lake.png"}
    )
    assert not added.isError, texts(added)
    assert "img1" in texts(added) and "edges" in texts(added)
    assert images(added), "the new photo's priors come back as pictures"

    edited = await client.call_tool(
        "apply_edits",
        {"session_id": session_id, "edits": [{"op": "set_weight", "kind": "edges", "weight": 0.4}]},
    )
    assert not edited.isError, texts(edited)
    described = await client.call_tool("describe_priors", {"session_id": session_id})
    assert "edges (on, weight 0.4)" in texts(described)

    bad_handle = await client.call_tool("upscale", {"session_id": session_id, "image": "img9"})
    assert bad_handle.isError
    assert "no image 'img9'" in texts(bad_handle)
    bad_session = await client.call_tool("describe_priors", {"session_id": "no-such-session"})
    assert bad_session.isError and "no session" in texts(bad_session)
    bad_edit = await client.call_tool(
        "apply_edits",
        {"session_id": session_id, "edits": [{"op": "set_weight", "kind": "edges", "weight": 9}]},
    )
    assert bad_edit.isError and "weight" in texts(bad_edit)
    after = await client.call_tool("describe_priors", {"session_id": session_id})
    assert "edges (on, weight 0.4)" in texts(after), "a refused edit changes nothing"

    said = await client.call_tool("say", {"session_id": session_id, "text": "turn off the edges"})
    assert not said.isError and "edges" in texts(said)
    assert "edges (off" in texts(
        await client.call_tool("describe_priors", {"session_id": session_id})
    )
    undone = await client.call_tool("undo", {"session_id": session_id})
    assert not undone.isError, texts(undone)
    assert "edges (on, weight 0.4)" in texts(
        await client.call_tool("describe_priors", {"session_id": session_id})
    )

    if not generate:  # loading the tiny pipeline takes a while: one transport does it
        return
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    generated = await client.call_tool(
        "generate", {"session_id": session_id, "count": 1}, progress_callback=on_progress
    )
    assert not generated.isError, texts(generated)
    assert "Generation 1" in texts(generated)
    pictures = images(generated)
    assert len(pictures) == 1 and max(pictures[0].size) == 64
    assert any(m.startswith("generating") for m in progress), progress

    shown = await client.call_tool(
        "show_image", {"session_id": session_id, "generation": 1, "candidate": 1}
    )
    assert not shown.isError and len(images(shown)) == 1


def test_stdio(tmp_path, tiny_dir):
    env = {
        **os.environ,
        "IMAGE_INTERPRETER_PROFILE": "tiny",
        "IMAGE_INTERPRETER_DEVICE": "cpu",
        "IMAGE_INTERPRETER_DATA_DIR": str(tmp_path / "data"),
        "IMAGE_INTERPRETER_TINY_DIR": str(tiny_dir),
        **{f"IMAGE_INTERPRETER_CHAT__{k.upper()}": str(v) for k, v in CHAT.items()},
    }
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "image_interpreter.interfaces.mcp_cli"], env=env
    )

    async def run() -> None:
        with anyio.fail_after(240):
            async with (
                stdio_client(server) as (read, write),
                ClientSession(read, write, read_timeout_seconds=TIMEOUT) as client,
            ):
                await scenario(client, lists_sessions=True, generate=True)
                refused = await client.call_tool(
                    "add_photo", {"session_id": "x", "data": "bm90IGEgcGhvdG8="}
                )
                assert refused.isError

    anyio.run(run)


@pytest.fixture
def http_server(tmp_path, tiny_dir):
    from image_interpreter.interfaces.conversation import ChatConfig, Conversations
    from image_interpreter.interfaces.mcp_server import EditorMCP, HTTPServer
    from image_interpreter.settings import load_settings

    settings = load_settings(
        profile="tiny", device="cpu", data_dir=tmp_path / "data", tiny_dir=tiny_dir
    )
    conversations = Conversations(settings, config=ChatConfig(**CHAT))
    server = HTTPServer(EditorMCP(conversations, list_sessions=False), "127.0.0.1", 0).start()
    yield server
    server.stop()
    conversations.close()


def test_streamable_http(http_server):
    assert http_server.port != 0

    async def run() -> None:
        with anyio.fail_after(240):
            async with (
                streamable_http_client(http_server.url) as (read, write, _),
                ClientSession(read, write, read_timeout_seconds=TIMEOUT) as client,
            ):
                await scenario(client, lists_sessions=False, generate=False)

    anyio.run(run)


def test_http_refuses_foreign_hosts(http_server):
    """A page on another site cannot reach the loopback server through DNS rebinding."""
    hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream"}
    foreign = httpx.post(
        http_server.url, json=hello, headers={**headers, "Host": "attacker.example"}
    )
    assert foreign.status_code == 421
    cross_site = httpx.post(
        http_server.url, json=hello, headers={**headers, "Origin": "https://attacker.example"}
    )
    assert cross_site.status_code == 403
