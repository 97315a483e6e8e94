"""`image-interpreter preferences export`: the users' picks as a dataset (JSONL or Parquet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from image_interpreter.cli.common import console, settings_from

preferences_app = typer.Typer(
    help="The picks users made among generated candidates, with their scores.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(preferences_app, name="preferences")


@preferences_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="The file to write: NAME.jsonl or NAME.parquet.")],
    session: Annotated[str | None, typer.Option(help="Only this session's picks.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="The picks of every session.")] = False,
    rows: Annotated[
        str,
        typer.Option(
            help="'pairs': a row per chosen-vs-rejected pair; 'generations': a row per pick."
        ),
    ] = "pairs",
) -> None:
    """Write the picks (prompt, priors, chosen, rejected, scores) for training.

    Examples:

      image-interpreter preferences export --all --out picks.parquet

      image-interpreter preferences export --session ID --out picks.jsonl --rows generations
    """
    from image_interpreter.rank.preferences import FORMATS, Layout, export_preferences
    from image_interpreter.session.store import SessionStore

    if (session is None) == (not all_):
        raise typer.BadParameter("Name one --session ID, or --all.", param_hint="--session/--all")
    if out.suffix.lower() not in FORMATS:
        raise typer.BadParameter(f"{out.name}: name a .jsonl or .parquet file.", param_hint="--out")
    if rows not in ("pairs", "generations"):
        raise typer.BadParameter("'pairs' or 'generations'.", param_hint="--rows")
    layout: Layout = rows  # type: ignore[assignment]
    store = SessionStore.from_settings(settings_from(ctx))
    try:
        count = export_preferences(store, out, None if all_ else [session], layout)
    finally:
        store.close()
    what = "pair" if layout == "pairs" else "pick"
    console.print(f"Wrote {count} {what} row(s) to {out}.", soft_wrap=True)
