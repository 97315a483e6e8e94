"""`image-interpreter session ...`: start, list, inspect, move and delete sessions."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from image_interpreter.cli.common import console, settings_from

if TYPE_CHECKING:
    from image_interpreter.session.state import SessionState

session_app = typer.Typer(
    help="Editing sessions: images, versions, conversation.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(session_app, name="session")


@contextmanager
def _store(ctx: typer.Context):
    from image_interpreter.session.store import SessionStore

    store = SessionStore.from_settings(settings_from(ctx))
    try:
        yield store
    finally:
        store.close()


@session_app.command("new")
def new(
    ctx: typer.Context,
    photo: Annotated[Path | None, typer.Argument(help="The photo to start from.")] = None,
    title: Annotated[str | None, typer.Option(help="A name to find the session by.")] = None,
) -> None:
    """Start a session, optionally from a photo (its first version holds the photo alone).

    Example: image-interpreter session new photo.jpg --title "park portrait"
    """
    from image_interpreter.images import read_image_file
    from image_interpreter.priors import PriorSet

    data = read_image_file(photo, settings_from(ctx).limits) if photo else None
    with _store(ctx) as store:
        session = store.create(title or (photo.name if photo else None))
        if data is not None:
            try:
                image = session.add_image(data, name=photo.name)
            except BaseException:
                store.delete(session.id)  # a refused photo leaves no empty session behind
                raise
            session.commit(PriorSet(source=image.ref), summary=f"started from {photo.name}")
            console.print(
                f"Added {photo.name} as {image.handle} ({image.ref.width}x{image.ref.height}).",
                soft_wrap=True,
            )
        console.print(f"Session [bold]{session.id}[/]", soft_wrap=True)


@session_app.command("list")
def list_sessions(ctx: typer.Context) -> None:
    """List sessions, most recently changed first.

    Example: image-interpreter session list
    """
    with _store(ctx) as store:
        summaries = store.list()
    if not summaries:
        console.print("No sessions yet. Start one with: image-interpreter session new PHOTO")
        return
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("changed", no_wrap=True)
    table.add_column("at/of", no_wrap=True, justify="right")
    table.add_column("title", overflow="fold")
    for s in summaries:
        table.add_row(
            s.id,
            s.updated_at.strftime("%m-%d %H:%M"),
            f"v{s.current or 0}/{s.versions}",
            s.title or "",
        )
    console.print(table)


@session_app.command("show")
def show(
    ctx: typer.Context, session_id: Annotated[str, typer.Argument(help="Session id.")]
) -> None:
    """Show a session: images, the version tree, the conversation and generations.

    Example: image-interpreter session show 3q2_x...
    """
    with _store(ctx) as store:
        state = store.open(session_id).state()
    _print_state(state)


def _print_state(state: SessionState) -> None:
    console.print(f"[bold]{state.title or 'untitled'}[/] ({state.id})", soft_wrap=True)
    for image in state.images:
        console.print(
            f"  {image.handle}: {image.ref.name or ''} {image.ref.width}x{image.ref.height}"
            f" sha256 {image.ref.sha256[:12]}",
            soft_wrap=True,
        )
    tree = Tree("versions")
    nodes = {}
    for record in state.versions:
        kinds = ", ".join(
            f"{k}{'' if p.enabled else ' (off)'}" for k, p in record.priors.priors().items()
        )
        marker = "  [bold green]<- current[/]" if record.number == state.current else ""
        label = f"v{record.number} {record.summary} [dim]{kinds}[/]{marker}"
        parent = nodes.get(record.parent, tree)
        nodes[record.number] = parent.add(label)
    console.print(tree)
    for turn in state.turns:
        console.print(f"  [{turn.role}] {turn.text}", soft_wrap=True)
    for gen in state.generations:
        chosen = f", picked #{gen.chosen + 1}" if gen.chosen is not None else ""
        console.print(
            f"  generation {gen.id} from v{gen.version}: {len(gen.candidates)} candidates{chosen}"
        )


@session_app.command("export")
def export(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    folder: Annotated[Path, typer.Argument(help="A new (or empty) folder to write.")],
) -> None:
    """Write a session as a portable folder: session.json and its artifacts.

    Example: image-interpreter session export 3q2_x... backup/park
    """
    with _store(ctx) as store:
        path = store.export(session_id, folder)
    console.print(f"Exported to {path}", soft_wrap=True)


@session_app.command("import")
def import_(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="A folder written by `session export`.")],
) -> None:
    """Load an exported session (under a new id); nothing is written if anything is wrong.

    Example: image-interpreter session import backup/park
    """
    with _store(ctx) as store:
        session = store.import_folder(folder)
    console.print(f"Imported as session [bold]{session.id}[/]", soft_wrap=True)


@session_app.command("delete")
def delete(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete a session's records (artifacts other sessions share are kept).

    Example: image-interpreter session delete 3q2_x... --yes
    """
    with _store(ctx) as store:
        store.open(session_id)
        if not yes:
            typer.confirm(f"Delete session {session_id}?", abort=True)
        store.delete(session_id)
    console.print(f"Deleted {session_id}.", soft_wrap=True)
