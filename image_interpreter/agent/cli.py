"""`image-interpreter interpret | edit | chat`: the built-in interpreter on files, and the
terminal chat (a thin adapter on the conversation core, `interfaces.terminal`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.prompt import Prompt

from image_interpreter.cli.common import console, settings_from
from image_interpreter.errors import ImageInterpreterError, PriorsError

if TYPE_CHECKING:  # the interpreter and sessions are imported when a command runs, not for --help
    from image_interpreter.agent.interpreter import Interpretation
    from image_interpreter.artifacts import ArtifactStore
    from image_interpreter.priors.edits import EditBase
    from image_interpreter.priors.schema import PriorSet
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
    from image_interpreter.agent.files import read_priors
    from image_interpreter.agent.interpreter import interpret

    loaded = read_priors(priors).priors if priors is not None else None
    found = interpret(text, loaded)
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
        return
    _print_interpretation(found)


def edit_command(
    ctx: typer.Context,
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
    from image_interpreter.agent.commands import show_priors
    from image_interpreter.agent.files import (
        dump_priors,
        parse_size,
        read_priors,
        render_files,
        write_atomic,
    )
    from image_interpreter.agent.interpreter import Help, ShowPriors, help_text, interpret
    from image_interpreter.artifacts import open_artifact_store
    from image_interpreter.priors.edits import EditBase, apply_all, describe

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
        # the maps (depth, edges, masks) are artifacts of the data folder `extract` wrote to
        artifacts = open_artifact_store(settings_from(ctx))
        written, skipped = render_files(result, render, wanted, read_artifact=artifacts.get)
        for path in written:
            console.print(f"Rendered {path}", soft_wrap=True)
        for what in skipped:
            console.print(f"Not rendered: {what}", highlight=False, soft_wrap=True)


def _in_openpose(edit: EditBase) -> bool:
    """Whether an OpenPose file can hold what `edit` changed (people's poses, not settings)."""
    return "person" in type(edit).model_fields


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


def chat_command(
    ctx: typer.Context,
    photo: Annotated[
        Path | None, typer.Argument(help="The photo to talk about (not needed with --demo).")
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Start from the bundled photo with a person in it.")
    ] = False,
    priors: Annotated[
        Path | None, typer.Option(help="Its priors: a PriorSet or OpenPose JSON file.")
    ] = None,
    pose: Annotated[Path | None, typer.Option(help="Its pose: an OpenPose JSON file.")] = None,
    session_id: Annotated[
        str | None, typer.Option("--session", help="Continue this session.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Where pictures are written; default: chat-pictures/<session id>."),
    ] = None,
) -> None:
    """Talk about PHOTO as in the web chat: its priors are extracted, and every line is carried
    out by the same conversation core (edits, “generate 2”, “pick 1”, “upscale 1”, “undo”).

    Pictures (skeletons, control images, candidates, upscales) are written to --out and their
    paths printed. Type “help” for examples, “quit” (or Ctrl-D) to stop.

    Example: image-interpreter chat --demo
    """
    from image_interpreter.agent.files import read_json_file
    from image_interpreter.images import read_image_file
    from image_interpreter.interfaces.conversation import Conversations
    from image_interpreter.interfaces.terminal import TerminalChat

    if priors is not None and pose is not None:
        raise PriorsError("Give --priors or --pose, not both (--pose is an OpenPose file).")
    if photo is None and not demo and session_id is None:
        raise PriorsError("Give a PHOTO, --demo, or --session ID to continue one.")
    if photo is not None and demo:
        raise PriorsError("Give a PHOTO or --demo, not both.")
    conversations = Conversations(settings_from(ctx))
    try:
        if session_id is not None:
            session = conversations.open(session_id)
        else:
            session = conversations.start(photo.name if photo is not None else "demo")
        chat = TerminalChat(conversations, session, out or Path("chat-pictures") / session.id)
        console.print(
            f"Session [bold]{session.id}[/] — pictures go to {chat.out}. Type “help” for"
            " examples, “quit” to stop.",
            soft_wrap=True,
        )
        if demo:
            chat.show(chat.run(lambda p: conversations.demo(session, p)))
        elif photo is not None and session.current is None:
            data = read_image_file(photo, conversations.settings.limits)
            chat.show(chat.run(lambda p: conversations.add_photo(session, data, photo.name, p)))
            if pose is not None:
                chat.show(conversations.import_pose(session, read_json_file(pose), pose.name))
            elif priors is not None:
                for note in _use_priors(session, priors, conversations.store):
                    console.print(f"Note: {note}.", highlight=False, soft_wrap=True)
        while True:
            try:
                line = Prompt.ask("[bold cyan]you[/]", console=console)
            except (EOFError, KeyboardInterrupt):
                console.print()
                break
            if line.strip().lower() in QUIT:
                break
            if line.strip():
                chat.show(chat.run(lambda p, line=line: conversations.say(session, line, p)))
        console.print(
            f"Bye. Continue with: image-interpreter chat --session {session.id}", soft_wrap=True
        )
    finally:
        conversations.close()


def _use_priors(session: Session, path: Path, store: SessionStore) -> list[str]:
    """A priors file made elsewhere, moved onto the session's photo as a new version."""
    from image_interpreter.agent.files import read_priors

    current = session.current
    if current is None:
        return ["the photo was not accepted, so the priors were not used"]
    loaded = read_priors(path).priors
    src, ref = loaded.source, current.source
    notes = []
    if abs(src.width / src.height - ref.width / ref.height) > 0.02:
        notes.append(
            f"the priors were made for a {src.width}×{src.height} picture; the photo is"
            f" {ref.width}×{ref.height}, so positions may be off"
        )
    adopted, more = _adopt(
        session,
        loaded.model_copy(update={"source": ref, "generation": current.generation}),
        store.artifacts,
    )
    session.commit(adopted, summary=f"priors from {path.name}")
    return notes + more
