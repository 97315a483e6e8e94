"""Tools over the version tree and the session as a whole: undo, redo, go to a version, history,
and export (to the data folder's exports, named by a handle, never a path the caller chose;
an unchanged session reuses its last export, and new ones are at most one a minute)."""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from langchain_core.tools import BaseTool
from pydantic import Field

from image_interpreter.session import SessionState, VersionInfo
from image_interpreter.tools.base import Args, ToolError, make_tool
from image_interpreter.tools.context import Toolbox
from image_interpreter.tools.handles import VersionNumber

EXPORTS = "exports"


class StepsArgs(Args):
    steps: int = Field(1, ge=1, le=50, description="How many changes.")


class VersionArgs(Args):
    version: VersionNumber


class HistoryArgs(Args):
    last: int = Field(20, ge=1, le=200, description="Show at most this many recent versions.")


class ExportArgs(Args):
    label: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,39}$",
        description="A short label for the export's name (letters, digits, spaces, - and _).",
    )


def tools(box: Toolbox) -> list[BaseTool]:
    session = box.session

    def undo(steps: int = 1) -> str:
        versions = {v.number: v for v in session.history()}
        chain = [_current(versions)]
        while len(chain) <= steps and versions[chain[-1]].parent is not None:
            chain.append(versions[chain[-1]].parent)
        possible = len(chain) - 1
        if possible < steps:
            raise ToolError(
                f"Nothing to undo: version {chain[0]} is the first version."
                if not possible
                else f"Only {_many(possible)} can be undone (version {chain[-1]} is the first)."
            )
        undone = versions[chain[0]].summary if steps == 1 else ""
        for _ in range(steps):
            landed = session.undo()
        done = f"Undid {_many(steps)}" + (f" — {undone}" if undone else "")
        return _now(done, versions[landed.version])

    def redo(steps: int = 1) -> str:
        waiting = len(session.state().redo)
        if waiting < steps:
            raise ToolError(
                "Nothing to redo: there has been no undo since the last change."
                if not waiting
                else f"Only {_many(waiting)} can be redone."
            )
        for _ in range(steps):
            landed = session.redo()
        versions = {v.number: v for v in session.history()}
        return _now(f"Redid {_many(steps)}", versions[landed.version])

    def go_to_version(version: int) -> str:
        session.checkout(version)  # SessionError names the versions there are
        versions = {v.number: v for v in session.history()}
        return _now(f"Went to version {version}", versions[version]) + (
            " The next edit branches from it."
        )

    def history(last: int = 20) -> str:
        versions = session.history()
        if not versions:
            return "No versions yet."
        lines = [f"Versions ({len(versions)}; * marks the current one):"]
        if len(versions) > last:
            lines.append(f"  ... {len(versions) - last} older versions not shown")
        for v in versions[-last:]:
            mark = "*" if v.current else " "
            parent = (
                f" (from {v.parent})" if v.parent is not None and v.parent != v.number - 1 else ""
            )
            lines.append(f" {mark}{v.number}{parent}: {v.summary or '(no summary)'}")
        images = session.images()
        lines.append(
            "Images: "
            + ", ".join(
                f"{i.handle} ({i.ref.name or 'unnamed'}, {i.ref.width}×{i.ref.height})"
                for i in images
            )
        )
        for g in session.generations():
            chosen = f", chose {g.chosen}" if g.chosen is not None else ""
            many = _count(len(g.candidates), "candidate")
            lines.append(f"Generation {g.id} from version {g.version}: {many}{chosen}")
        return "\n".join(lines)

    def export_session(label: str | None = None) -> str:
        folder = box.settings.data_dir / EXPORTS
        state = session.state()
        key = (str(folder), session.id)
        with _exports_lock:
            last = _last_exports.get(key)
            if last is not None and (folder / last.name).is_dir():
                if last.fingerprint == _fingerprint(state):
                    return (
                        f"Nothing changed since this session was exported as '{last.name}' in"
                        " the data folder's exports; that export is still there."
                    )
                wait = EXPORT_INTERVAL_S - (_clock() - last.at)
                if wait > 0:
                    raise ToolError(
                        f"This session was exported moments ago as '{last.name}'; the next"
                        f" export is possible in {math.ceil(wait)} s."
                    )
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            slug = re.sub(r"[^a-z0-9]+", "-", (label or "session").lower()).strip("-")
            name = f"{slug or 'session'}-{stamp}-{secrets.token_hex(3)}"
            box.store.export(session.id, folder / name)
            _last_exports[key] = _Export(name, _fingerprint(state), _clock())
        counts = ", ".join(
            _count(len(items), what)
            for items, what in (
                (state.images, "image"),
                (state.versions, "version"),
                (state.generations, "generation"),
                (state.turns, "turn"),
            )
        )
        return f"Exported this session as '{name}' in the data folder's exports: {counts}."

    return [
        make_tool("undo", StepsArgs, undo),
        make_tool("redo", StepsArgs, redo),
        make_tool("go_to_version", VersionArgs, go_to_version),
        make_tool("history", HistoryArgs, history),
        make_tool("export_session", ExportArgs, export_session),
    ]


# Exports are written to disk on request, over MCP by anyone who can reach it: an unchanged
# session reuses its last export, and a session makes at most one new export a minute.
EXPORT_INTERVAL_S = 60.0


@dataclass(frozen=True)
class _Export:
    name: str
    fingerprint: tuple[object, ...]
    at: float


_last_exports: dict[tuple[str, str], _Export] = {}
_exports_lock = threading.Lock()
_clock = time.monotonic


def _fingerprint(state: SessionState) -> tuple[object, ...]:
    """What an export holds, apart from the chat turns (asking for an export adds some)."""
    return (
        state.title,
        len(state.images),
        len(state.versions),
        state.current,
        tuple(state.redo),
        tuple((g.id, g.chosen, len(g.candidates)) for g in state.generations),
    )


def _current(versions: dict[int, VersionInfo]) -> int:
    for number, info in versions.items():
        if info.current:
            return number
    raise ToolError("Nothing to undo: this session has no versions yet.")


def _many(steps: int) -> str:
    return "the last change" if steps == 1 else f"{steps} changes"


def _now(done: str, at: VersionInfo) -> str:
    return f"{done}: now at version {at.number} ({at.summary or 'no summary'})."


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"
