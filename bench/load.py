"""Load test: many scripted sessions at once through the agent on the tiny models.

Each session adds its own photo, then sends nine chat messages through the conversation core
(`Conversations.say`, the same path every interface takes): fast-path edits (a prior's weight,
the guidance, switching a prior off, the seed), undo and redo, a request to describe the priors,
and one small generation (64 px, 2 steps, 1 candidate) that meets the other sessions' in the
shared GPU queue. Every value is different per session, so a turn landing in the wrong session
shows. Afterwards every session is reloaded from a fresh store and checked: its versions, where
it stands, its priors' values, its generation and candidate, and its turns.

    uv run python bench/load.py                   # 20 sessions through the conversation core
    uv run python bench/load.py --via mcp         # the same, as 20 MCP clients over loopback HTTP
    uv run python bench/load.py --sessions 5 --deadline 120

Prints the turn latency (p50/p95/max, overall and by kind), the errors (must be 0) and whether
every session is intact; exits 1 otherwise. Bounded in time: turns not started before
--deadline are counted as errors. Only loopback is used (no model download: `tiny` profile).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from PIL import Image

PHOTO = (96, 64)
CHAT = {"extract": "edges", "steps": 2, "size": 64, "candidates": 1}


# --- the script ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    kind: str  # edit, undo, describe, generate
    text: str
    expect: str  # words the reply must contain


@dataclass(frozen=True)
class Script:
    """One session's messages and the state they must leave."""

    number: int
    weight: float
    guidance: float
    seed: int
    turns: tuple[Turn, ...]

    @classmethod
    def of(cls, number: int) -> Script:
        weight = round(0.30 + 0.02 * number, 2)
        guidance = 4.0 + 0.25 * number
        seed = 1000 + number
        turns = (
            Turn("edit", f"set the edges weight to {weight:g}", "version 3"),  # v3
            Turn("edit", f"set the guidance to {guidance:g}", "version 4"),  # v4
            Turn("edit", "turn off the edges", "version 5"),  # v5
            Turn("undo", "undo", "version 4"),  # back at v4
            Turn("describe", "describe the priors", f"weight {weight:g}"),
            Turn("generate", "generate 1 candidate", "Generation 1"),  # from v4
            Turn("edit", f"set the seed to {seed}", "version 6"),  # v6, parent v4
            Turn("undo", "undo", "version 4"),
            Turn("undo", "redo", "version 6"),
        )
        return cls(number, weight, guidance, seed, turns)

    def photo(self) -> bytes:
        """A photo of its own (its own content hash): a colour from the session number."""
        colour = (40 + 9 * self.number % 200, 90, 200 - 7 * self.number % 150)
        buffer = io.BytesIO()
        Image.new("RGB", PHOTO, colour).save(buffer, format="PNG")
        return buffer.getvalue()

    def check(self, state: Any, photo_sha: str) -> list[str]:
        """What is wrong with the session's reloaded state (nothing: an empty list)."""
        problems = []
        numbers = sorted(v.number for v in state.versions)
        if numbers != [1, 2, 3, 4, 5, 6]:
            problems.append(f"versions {numbers}, not 1 to 6")
        if state.current != 6:
            problems.append(f"current version {state.current}, not 6")
        parents = {v.number: v.parent for v in state.versions}
        if parents.get(6) != 4 or parents.get(5) != 4:
            problems.append(f"version tree {parents}: 5 and 6 should both branch from 4")
        current = next((v.priors for v in state.versions if v.number == state.current), None)
        if current is None:
            return [*problems, "no current priors"]
        if current.source.sha256 != photo_sha:
            problems.append("the priors describe another session's photo")
        edges = current.edges
        if edges is None or not edges.enabled or abs(edges.weight - self.weight) > 1e-9:
            shown = None if edges is None else (edges.enabled, edges.weight)
            problems.append(f"edges {shown}, not (True, {self.weight})")
        g = current.generation
        if abs(g.guidance - self.guidance) > 1e-9 or g.seed != self.seed or g.steps != 2:
            problems.append(
                f"generation settings guidance {g.guidance}, seed {g.seed}, steps {g.steps}"
            )
        if len(state.generations) != 1:
            problems.append(f"{len(state.generations)} generations, not 1")
        else:
            record = state.generations[0]
            if record.version != 4 or len(record.candidates) != 1:
                problems.append(
                    f"generation from version {record.version} with"
                    f" {len(record.candidates)} candidates, not 1 from version 4"
                )
        expected_turns = 2 * (1 + len(self.turns))
        if len(state.turns) != expected_turns:
            problems.append(f"{len(state.turns)} turns recorded, not {expected_turns}")
        return problems


# --- drivers: how a message reaches the conversation core ---------------------------------------


class CoreDriver:
    """Straight to `Conversations`, each call in a worker thread (as the adapters do)."""

    name = "conversation core"

    def __init__(self, conversations: Any):
        self.conversations = conversations

    async def session(self, script: Script, run: Any) -> None:
        c = self.conversations
        session = await anyio.to_thread.run_sync(c.start, f"load {script.number}")
        run.session_id = session.id

        async def photo() -> tuple[str, bool]:
            reply = await anyio.to_thread.run_sync(c.add_photo, session, script.photo(), "p.png")
            return reply.text, reply.error is None

        async def say(text: str) -> tuple[str, bool]:
            reply = await anyio.to_thread.run_sync(c.say, session, text)
            return reply.text, reply.error is None

        await run.play(script, photo, say)


class MCPDriver:
    """As MCP clients: one streamable-HTTP connection per session to a loopback server."""

    name = "MCP over streamable HTTP (loopback)"

    def __init__(self, url: str):
        self.url = url

    async def session(self, script: Script, run: Any) -> None:
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        async with (
            streamable_http_client(self.url) as (read, write, _),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            started = await client.call_tool("start_session", {"title": f"load {script.number}"})
            session_id = started.structuredContent["session_id"]
            run.session_id = session_id

            def text(result: Any) -> str:
                return "\n".join(b.text for b in result.content if b.type == "text")

            async def photo() -> tuple[str, bool]:
                data = base64.b64encode(script.photo()).decode("ascii")
                result = await client.call_tool(
                    "add_photo", {"session_id": session_id, "data": data, "name": "p.png"}
                )
                return text(result), not result.isError

            async def say(message: str) -> tuple[str, bool]:
                result = await client.call_tool("say", {"session_id": session_id, "text": message})
                return text(result), not result.isError

            await run.play(script, photo, say)


# --- running ------------------------------------------------------------------------------------


@dataclass
class Run:
    deadline: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    session_id: str | None = None

    async def play(self, script: Script, photo: Any, say: Any) -> None:
        name = f"session {script.number}"
        if not await self._turn(name, "photo", "the photo", photo, "Extracted edges"):
            return
        for number, turn in enumerate(script.turns, 1):
            if time.monotonic() > self.deadline:
                left = len(script.turns) - number + 1
                self.errors.append(f"{name}: deadline reached, {left} turns not run")
                return
            said = lambda turn=turn: say(turn.text)  # noqa: E731
            await self._turn(name, turn.kind, repr(turn.text), said, turn.expect)

    async def _turn(self, name: str, kind: str, what: str, call: Any, expect: str) -> bool:
        started = time.perf_counter()
        try:
            text, ok = await call()
        except Exception as error:  # counted, and the session goes on
            self.errors.append(f"{name}: {what} raised {type(error).__name__}: {error}")
            return False
        self.latencies[kind].append(time.perf_counter() - started)
        if not ok or expect not in text:
            self.errors.append(f"{name}: {what} -> {' '.join(text.split())[:160]!r}")
            return False
        return True


async def run_all(driver: Any, scripts: list[Script], deadline: float) -> list[Run]:
    runs = [Run(deadline) for _ in scripts]

    async def one(script: Script, run: Run) -> None:
        try:
            await driver.session(script, run)
        except Exception as error:
            run.errors.append(f"session {script.number}: {type(error).__name__}: {error}")

    with anyio.move_on_after(max(1.0, deadline - time.monotonic() + 120)) as scope:
        async with anyio.create_task_group() as group:
            for script, run in zip(scripts, runs, strict=True):
                group.start_soon(one, script, run)
    if scope.cancelled_caught:
        runs[0].errors.append("cut off: turns still running 2 minutes after the deadline")
    return runs


def verify(settings: Any, scripts: list[Script], runs: list[Run]) -> tuple[int, list[str]]:
    """Reload every session from a fresh store (a new engine on the same database)."""
    from image_interpreter.session import SessionStore

    intact, problems = 0, []
    with SessionStore.from_settings(settings) as store:
        for script, run in zip(scripts, runs, strict=True):
            name = f"session {script.number}"
            if run.session_id is None:
                problems.append(f"{name}: never started")
                continue
            session = store.open(run.session_id)
            state = session.state()
            photos = [i for i in state.images if i.ref.name == "p.png"]
            found = script.check(state, photos[0].ref.sha256 if photos else "")
            for record in state.generations:
                for c in record.candidates:
                    try:
                        session.read_artifact(c.sha256)  # verified against its hash
                    except Exception as error:
                        found.append(f"candidate {c.sha256[:12]} unreadable: {error}")
            if found:
                problems.extend(f"{name}: {p}" for p in found)
            else:
                intact += 1
    return intact, problems


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def report(driver: Any, scripts: list[Script], runs: list[Run], wall: float, settings: Any):
    latencies: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        for kind, values in run.latencies.items():
            latencies[kind] += values
    errors = [e for run in runs for e in run.errors]
    intact, problems = verify(settings, scripts, runs)

    def line(label: str, values: list[float]) -> str:
        return (
            f"  {label:<10} {len(values):>4}  p50 {statistics.median(values) * 1e3:8.1f} ms"
            f"  p95 {percentile(values, 0.95) * 1e3:8.1f} ms  max {max(values) * 1e3:8.1f} ms"
            if values
            else f"  {label:<10}    0"
        )

    chat = [v for kind, values in latencies.items() if kind != "photo" for v in values]
    print(f"load: {len(scripts)} concurrent sessions through {driver.name}, profile tiny,")
    from image_interpreter.models import resolve_device

    print(f"      device {resolve_device(settings)}, data in {settings.data_dir}")
    print(f"wall time {wall:.1f} s; {len(chat)} chat turns + {len(latencies['photo'])} photos")
    print("turn latency   count")
    print(line("all turns", chat))
    for kind in ("edit", "undo", "describe", "generate", "photo"):
        print(line(kind, latencies.get(kind, [])))
    print(f"errors: {len(errors)}")
    for error in errors[:20]:
        print(f"  {error}")
    print(f"sessions intact after reloading from a fresh store: {intact}/{len(scripts)}")
    for problem in problems[:20]:
        print(f"  {problem}")
    return not errors and intact == len(scripts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--via", choices=("core", "mcp"), default="core")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for all turns")
    parser.add_argument("--data-dir", type=Path, help="default: a new temporary folder")
    parser.add_argument("--tiny-dir", type=Path, help="built tiny models to reuse")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="time the first generation's model loading too (by default one untimed session"
        " loads the models first)",
    )
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from image_interpreter.interfaces.conversation import ChatConfig, Conversations
    from image_interpreter.settings import load_settings

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="image-interpreter-load-"))
    extra = {"tiny_dir": args.tiny_dir} if args.tiny_dir else {}
    settings = load_settings(profile="tiny", data_dir=data_dir, device=args.device, **extra)
    conversations = Conversations(settings, config=ChatConfig(**CHAT))
    scripts = [Script.of(n) for n in range(args.sessions)]
    if not args.no_warmup:
        began = time.monotonic()
        warm = conversations.start("warm-up")
        conversations.add_photo(warm, Script.of(99).photo(), "warm-up.png")
        conversations.say(warm, "generate 1 candidate")
        print(f"warm-up (models loaded, not timed): {time.monotonic() - began:.1f} s")
    server = None
    if args.via == "mcp":
        from image_interpreter.interfaces.mcp_server import EditorMCP, HTTPServer

        server = HTTPServer(EditorMCP(conversations, list_sessions=False), "127.0.0.1", 0).start()
        driver: Any = MCPDriver(server.url)
    else:
        driver = CoreDriver(conversations)
    started = time.monotonic()
    try:
        runs = anyio.run(run_all, driver, scripts, started + args.deadline)
    finally:
        if server is not None:
            server.stop()
    wall = time.monotonic() - started
    conversations.close()
    ok = report(driver, scripts, runs, wall, settings)
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # the GPU queue's worker threads need not be waited for


if __name__ == "__main__":
    main()
