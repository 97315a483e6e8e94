"""`image-interpreter interpret | edit | chat`: the built-in interpreter from the command line."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.prompt import Prompt

from image_interpreter.agent.commands import run_actions, show_priors
from image_interpreter.agent.files import (
    dump_priors,
    parse_size,
    read_priors,
    render_files,
    write_atomic,
)
from image_interpreter.agent.interpreter import (
    Help,
    Interpretation,
    ShowPriors,
    help_text,
    interpret,
)
from image_interpreter.artifacts import ArtifactStore
from image_interpreter.cli.common import console, settings_from
from image_interpreter.errors import ImageInterpreterError, PriorsError
from image_interpreter.priors.edits import EditBase, apply_all, describe
from image_interpreter.priors.openpose import import_openpose
from image_interpreter.priors.render import RenderCache
from image_interpreter.priors.schema import PeoplePrior, PriorSet, Provenance
from image_interpreter.session import Session, SessionStore

QUIT = {"quit", "exit", "q", "bye", ":q"}


def register(app: typer.Typer) -> None:
    app.command("interpret")(interpret_command)
    app.command("edit")(edit_command)
    app.command("chat")(chat_command)


def _print_interpretation(found: Interpretation) -> None:
    for action in found.actions:
        args = action.model_dump(mode="json", exclude={"op"}, exclude_defaults=True)
        shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in args.items())
        console.print(f"  {action.op}({shown})", highlight=False, soft_wrap=True)
    for line in found.unparsed:
        console.print(f"  [red]not understood:[/] {line}", highlight=False, soft_wrap=True)
    console.print(f"confidence {found.confidence:.2f}", highlight=False)
    console.print(found.reply, highlight=False, soft_wrap=True)


def interpret_command(
    text: Annotated[str, typer.Argument(help="What to do, in English.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the Interpretation as JSON.")
    ] = False,
    priors: Annotated[
        Path | None,
        typer.Option(help="PriorSet or OpenPose JSON: check who and what the text refers to."),
    ] = None,
) -> None:
    """Show how the built-in interpreter reads TEXT: the actions and how sure it is.

    Example: image-interpreter interpret "raise her left arm a bit and drop the depth map"
    """
    loaded = read_priors(priors).priors if priors is not None else None
    found = interpret(text, loaded)
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
        return
    _print_interpretation(found)


def edit_command(
    priors_file: Annotated[
        Path, typer.Argument(help="A PriorSet JSON or an OpenPose JSON file.", metavar="PRIORS")
    ],
    text: Annotated[str, typer.Argument(help="What to change, in English.")],
    out: Annotated[
        Path, typer.Option(help="Where to write the result (.json, same format as PRIORS).")
    ],
    render: Annotated[
        Path | None,
        typer.Option(help="Draw the skeleton here (PNG); other control images beside it."),
    ] = None,
    size: Annotated[
        str | None, typer.Option(help="Render size WIDTHxHEIGHT; default: the picture's.")
    ] = None,
) -> None:
    """Apply TEXT to the priors in PRIORS and write the result to --out.

    PRIORS may be OpenPose JSON: it is read as priors whose source is a placeholder image of the
    canvas size (no pixels), and --out is written as OpenPose JSON again (poses only).

    Example: image-interpreter edit pose.json "raise the left arm" --out up.json --render up.png
    """
    if out.suffix.lower() != ".json":
        raise PriorsError(
            f"--out must end in .json (it is written in the format of {priors_file.name})."
        )
    wanted = parse_size(size)
    loaded = read_priors(priors_file)
    found = interpret(text, loaded.priors)
    if found.unparsed or found.confidence < 0.5:
        console.print(found.reply, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    edits = [a for a in found.actions if isinstance(a, EditBase)]
    others = [a for a in found.actions if not isinstance(a, EditBase | ShowPriors | Help)]
    if others:
        names = ", ".join(a.op for a in others)
        raise PriorsError(
            f"{names} needs a session (versions, a generator): use `image-interpreter chat PHOTO`."
            " `edit` changes a priors file."
        )
    result = apply_all(edits, loaded.priors)
    sentences = [describe(e) for e in edits]
    write_atomic(out, dump_priors(result, loaded.format))
    for sentence in sentences:
        console.print(f"  {sentence}", highlight=False, soft_wrap=True)
    if found.assumptions:
        console.print(
            "Assumed: " + "; ".join(found.assumptions) + ".", highlight=False, soft_wrap=True
        )
    if loaded.format == "openpose" and any(not _in_openpose(e) for e in edits):
        console.print("Note: OpenPose JSON keeps only the poses; the other changes are not in it.")
    console.print(f"Wrote {out}", soft_wrap=True)
    if any(isinstance(a, ShowPriors) for a in found.actions):
        console.print(show_priors(result), highlight=False, soft_wrap=True)
    if any(isinstance(a, Help) for a in found.actions):
        console.print(help_text(), highlight=False, soft_wrap=True)
    if render is not None:
        written, skipped = render_files(result, render, wanted)
        for path in written:
            console.print(f"Rendered {path}", soft_wrap=True)
        for what in skipped:
            console.print(f"Not rendered: {what}", highlight=False, soft_wrap=True)


def _in_openpose(edit: EditBase) -> bool:
    """Whether an OpenPose file can hold what `edit` changed (people's poses, not settings)."""
    return "person" in type(edit).model_fields


@contextmanager
def _store(ctx: typer.Context):  # type: ignore[no-untyped-def]
    store = SessionStore.from_settings(settings_from(ctx))
    try:
        yield store
    finally:
        store.close()


def _hashes(value: Any, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        if isinstance(value.get("sha256"), str):
            found.add(value["sha256"])
        for item in value.values():
            _hashes(item, found)
    elif isinstance(value, list):
        for item in value:
            _hashes(item, found)
    return found


def _adopt(
    session: Session, priors: PriorSet, artifacts: ArtifactStore
) -> tuple[PriorSet, list[str]]:
    """`priors` moved onto the session: the arrays they refer to are copied in from the local
    artifact store; a prior whose arrays are not there is left out (and said so)."""
    notes, update = [], {}
    for kind, prior in priors.priors().items():
        for sha in sorted(_hashes(prior.model_dump(mode="json"), set())):
            try:
                session.put_artifact(artifacts.get(sha))
            except ImageInterpreterError:
                update[kind] = None
                notes.append(
                    f"left out the {kind} prior: its map {sha[:12]} is not in this data folder"
                )
                break
    return priors.model_copy(update=update), notes


def _start(
    session: Session, photo: Path, priors: Path | None, pose: Path | None, store: SessionStore
) -> list[str]:
    """The photo and first version of a new session; returns notes for the user."""
    try:
        data = photo.read_bytes()
    except OSError as exc:
        raise PriorsError(f"Cannot read {photo}: {exc.strerror}.") from None
    image = session.add_image(data, name=photo.name)
    notes: list[str] = []
    first = PriorSet(source=image.ref)
    if pose is not None:
        try:
            found = import_openpose(pose.read_bytes())
        except OSError as exc:
            raise PriorsError(f"Cannot read {pose}: {exc.strerror}.") from None
        people = PeoplePrior(
            people=found.people,
            provenance=Provenance(extractor="import", parameters={"format": "openpose"}),
        )
        first = first.model_copy(update={"people": people})
    elif priors is not None:
        loaded = read_priors(priors).priors
        src = loaded.source
        if abs(src.width / src.height - image.ref.width / image.ref.height) > 0.02:
            notes.append(
                f"the priors were made for a {src.width}×{src.height} picture; the photo is"
                f" {image.ref.width}×{image.ref.height}, so positions may be off"
            )
        adopted, more = _adopt(
            session, loaded.model_copy(update={"source": image.ref}), store.artifacts
        )
        notes.extend(more)
        first = adopted
    else:
        notes.append(
            "no priors given (--priors or --pose); only the words and settings can be edited"
        )
    session.commit(first, summary=f"started from {photo.name}")
    return notes


def chat_command(
    ctx: typer.Context,
    photo: Annotated[Path, typer.Argument(help="The photo to talk about.")],
    priors: Annotated[
        Path | None, typer.Option(help="Its priors: a PriorSet or OpenPose JSON file.")
    ] = None,
    pose: Annotated[Path | None, typer.Option(help="Its pose: an OpenPose JSON file.")] = None,
    session_id: Annotated[
        str | None, typer.Option("--session", help="Continue this session.")
    ] = None,
) -> None:
    """Talk to the built-in interpreter about PHOTO; each line is read and carried out.

    The skeleton is drawn again after each change, to PHOTO's folder as <name>.skeleton.png.
    Type “help” for examples, “quit” (or Ctrl-D) to stop.

    Example: image-interpreter chat photo.jpg --pose photo.openpose.json
    """
    if priors is not None and pose is not None:
        raise PriorsError("Give --priors or --pose, not both (--pose is an OpenPose file).")
    skeleton = photo.with_name(f"{photo.stem}.skeleton.png")
    cache = RenderCache(maxsize=4)
    with _store(ctx) as store:
        if session_id is not None:
            session = store.open(session_id)
            notes = (
                [] if session.current is not None else _start(session, photo, priors, pose, store)
            )
        else:
            session = store.create(photo.name)
            notes = _start(session, photo, priors, pose, store)
        console.print(
            f"Session [bold]{session.id}[/] — type “help” for examples, “quit” to stop.",
            soft_wrap=True,
        )
        for note in notes:
            console.print(f"Note: {note}.", highlight=False, soft_wrap=True)
        drawn = _draw(session, skeleton, cache, None)
        history: list[Interpretation] = []
        while True:
            try:
                line = Prompt.ask("[bold cyan]you[/]", console=console)
            except (EOFError, KeyboardInterrupt):
                console.print()
                break
            if line.strip().lower() in QUIT:
                break
            if not line.strip():
                continue
            start = time.perf_counter()
            found = interpret(line, session.current, history=history)
            reading = time.perf_counter() - start
            history.append(found)
            session.add_turn("user", line, timings={"interpret": reading})
            start = time.perf_counter()
            outcome = run_actions(session, found)
            executing = time.perf_counter() - start
            console.print(outcome.reply, highlight=False, soft_wrap=True)
            start = time.perf_counter()
            if outcome.changed:
                drawn = _draw(session, skeleton, cache, drawn)
            rendering = time.perf_counter() - start
            session.add_turn(
                "assistant",
                outcome.reply,
                tool_calls=found.dump_actions() if outcome.executed else [],
                timings={"interpret": reading, "execute": executing, "render": rendering},
            )
        console.print(
            f"Bye. Continue with: image-interpreter chat {photo} --session {session.id}",
            soft_wrap=True,
        )


def _draw(session: Session, path: Path, cache: RenderCache, last: int | None) -> int | None:
    """Redraw the skeleton of the current version (when it has people and is new)."""
    current = session.current
    if current is None or current.version == last or current.people is None:
        return current.version if current is not None else None
    pose_only = current.model_copy(update={k: None for k in current.priors() if k != "people"})
    written, _ = render_files(pose_only, path, cache=cache)
    if written:
        console.print(f"[dim]skeleton of version {current.version}: {path}[/]", soft_wrap=True)
    return current.version
