"""`image-interpreter dialogue run FILES...`: play scripted dialogues, print a pass/fail table."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from image_interpreter.cli.common import console, settings_from

dialogue_app = typer.Typer(help="Scripted dialogues: conversations with expectations, as tests.")


def register(app: typer.Typer) -> None:
    app.add_typer(dialogue_app, name="dialogue")


@dialogue_app.command("run")
def run_command(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Dialogue YAML files.")],
    mode: Annotated[
        str | None,
        typer.Option(help="Only this mode: interpreter or scripted (default: each file's own)."),
    ] = None,
    keep_sessions: Annotated[
        bool,
        typer.Option(
            help="Play in the data folder's store (the sessions stay), not a temporary one."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every turn.")] = False,
) -> None:
    """Play each dialogue on the built-in interpreter and/or a scripted chat model (the modes
    the file asks for) and print a pass/fail table; the exit status is 1 if any failed.

    Example: image-interpreter --profile tiny dialogue run tests/dialogues/*.yaml
    """
    # Imported here: the runner brings LangChain, which other commands should not wait for.
    from image_interpreter.agent.dialogue import MODES, Runtime, load_dialogue, run_dialogue

    if mode is not None and mode not in MODES:
        raise typer.BadParameter(f"--mode is one of: {', '.join(MODES)}.")
    dialogues = [load_dialogue(path) for path in files]  # every file checked before any runs
    settings = settings_from(ctx)
    with tempfile.TemporaryDirectory(prefix="dialogues-") as scratch:
        if not keep_sessions:  # sessions in a scratch folder; models and caches stay shared
            settings = settings.model_copy(
                update={"data_dir": Path(scratch), "tiny_dir": settings.tiny_models_dir}
            )
        runtime = Runtime.open(settings)
        try:
            reports = [
                run_dialogue(dialogue, run_mode, runtime)
                for dialogue in dialogues
                for run_mode in dialogue.run_modes()
                if mode is None or run_mode == mode
            ]
        finally:
            runtime.close()
    table = Table(title="Dialogues")
    for column in ("dialogue", "mode", "turns", "result", "seconds", "model s"):
        table.add_column(
            column, justify="right" if column in ("turns", "seconds", "model s") else "left"
        )
    for report in reports:
        passed = sum(t.passed for t in report.turns)
        table.add_row(
            report.name,
            report.mode,
            f"{passed}/{report.planned}",
            "[green]pass[/]" if report.passed else "[red]FAIL[/]",
            f"{report.seconds:.2f}",
            f"{report.model_seconds:.2f}",
        )
    console.print(table)
    for report in reports:
        where = escape(f"{report.name} [{report.mode}]")
        if verbose:
            for turn in report.turns:
                said = f"{turn.number}: {turn.path}, tools {turn.tools}, {turn.llm_calls} LLM calls"
                console.print(f"{where} {escape(said)}", highlight=False, soft_wrap=True)
        for line in report.failures():
            console.print(f"[red]{where}[/] {escape(line)}", highlight=False, soft_wrap=True)
    failed = sum(not r.passed for r in reports)
    console.print(f"{len(reports) - failed} passed, {failed} failed.")
    if failed:
        raise typer.Exit(1)
