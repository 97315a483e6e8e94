"""The terminal chat's adapter on the conversation core: what the web chat shows, in a terminal.

A turn runs with a progress bar fed by the core's progress events (which step of how many,
the generation's denoising steps); its reply is printed with the priors table when the priors
changed and the candidates best first, and its pictures are written to one folder, numbered in
the order they came, their paths printed. Nothing here decides anything: the same words do the
same in the web chat, Slack and MCP.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from image_interpreter.cli.common import console as default_console
from image_interpreter.interfaces.conversation import (
    Conversations,
    ProgressEvent,
    Reply,
)
from image_interpreter.session import Session

Turn = Callable[[Callable[[str, float | None, ProgressEvent], None]], Reply]


class TerminalChat:
    """One session in a terminal: `show(run(lambda progress: conversations.say(...)))`."""

    def __init__(
        self,
        conversations: Conversations,
        session: Session,
        out: Path,
        console: Console | None = None,
    ):
        self.conversations = conversations
        self.session = session
        self.out = out
        self.console = console or default_console
        self.written = 0

    def run(self, turn: Turn) -> Reply:
        """Run one turn of the core with a progress bar (removed when the turn ends)."""
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            task = bar.add_task("working", total=1.0)

            def progress(what: str, done: float | None, event: ProgressEvent) -> None:
                line = what
                if event.step is not None and event.total:
                    line = f"{event.tool or what}: step {event.step} of {event.total}"
                bar.update(task, description=line, completed=done if done is not None else 0)

            return turn(progress)

    def show(self, reply: Reply) -> list[Path]:
        """Print the reply, its priors table and candidates; write its pictures."""
        print_ = self.console.print
        print_(reply.text.strip() or "Done.", highlight=False, soft_wrap=True)
        if reply.changed:
            rows = self.conversations.priors_table(self.session)
            table = Table("prior", "on", "weight", "steps", "what", show_lines=False)
            for row in rows:
                table.add_row(
                    row.kind,
                    "on" if row.enabled else "off",
                    f"{row.weight:g}",
                    row.steps,
                    row.detail,
                )
            if rows:
                print_(table)
        if reply.candidates:
            table = Table("candidate", "generation", "place", "score")
            for c in reply.candidates:
                table.add_row(str(c.number), str(c.generation), str(c.place), c.explained)
            print_(table)
        return self._write(reply.pictures)

    def _write(self, pictures: list[tuple[str, bytes]]) -> list[Path]:
        if not pictures:
            return []
        self.out.mkdir(parents=True, exist_ok=True)
        paths = []
        for label, png in pictures:
            self.written += 1
            path = self.out / f"{self.written:03d}-{_slug(label)}.png"
            path.write_bytes(png)
            paths.append(path)
            self.console.print(f"[dim]{label}:[/] {path}", highlight=False, soft_wrap=True)
        return paths


def _slug(label: str) -> str:
    return re.sub(r"[^\w]+", "-", label.split(" · score")[0]).strip("-").lower()[:60] or "picture"


__all__ = ["TerminalChat"]
