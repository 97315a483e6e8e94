"""Carry out an Interpretation on a Session: one message, at most one new version.

History moves (undo, redo, go to version) happen first, in the order said, then the message's
edits are applied together through `apply_all` and committed as ONE version whose `edit` holds
the actions and whose summary is their `describe()` sentences. Everything is checked before
anything moves: an edit that cannot apply (EditError) or a move that cannot be made
(SessionError) leaves the session exactly as it was and comes back as the reply.

`Generate` is recorded as a request (the number of candidates and the version to draw from):
the generator arrives later, and no image is pretended.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from image_interpreter.agent.interpreter import (
    Generate,
    GoToVersion,
    Help,
    Interpretation,
    Redo,
    ShowPriors,
    Undo,
    UseCandidate,
    help_text,
)
from image_interpreter.agent.interpreter.people import no_people_reason
from image_interpreter.errors import EditError, SessionError
from image_interpreter.priors.edits import EditBase, apply, apply_all, describe
from image_interpreter.priors.schema import PriorSet
from image_interpreter.session import Session

MIN_CONFIDENCE = 0.5  # below this (or with clauses not understood) nothing is done: ask instead


class GenerationRequest(BaseModel):
    """Generation asked for: how many candidates, from which version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(ge=1, le=16)
    version: int | None = None


class Outcome(BaseModel):
    """What a message did to the session, and what to tell the user."""

    model_config = ConfigDict(extra="forbid")

    reply: str
    executed: bool = Field(description="False when the message was not clear enough to act on.")
    applied: list[str] = Field(default_factory=list, description="One sentence per edit.")
    moved: list[str] = Field(default_factory=list, description="Undo/redo/checkout done.")
    version: int | None = Field(None, description="The current version afterwards.")
    committed: int | None = Field(None, description="The version this message created.")
    generate: GenerationRequest | None = None
    calls: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Tool calls asked for in words ('pick 2' -> choose_candidate), to run next.",
    )
    error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.moved or self.committed)


def run_actions(
    session: Session, interpretation: Interpretation, *, min_confidence: float = MIN_CONFIDENCE
) -> Outcome:
    """Apply `interpretation` to `session` (see the module docstring)."""
    current = session.current
    here = current.version if current is not None else None
    if interpretation.unparsed or interpretation.confidence < min_confidence:
        return Outcome(reply=interpretation.reply, executed=False, version=here)
    actions = list(interpretation.actions)
    edits = [a for a in actions if isinstance(a, EditBase)]
    moves = [a for a in actions if isinstance(a, Undo | Redo | GoToVersion)]
    try:
        target = _plan(session, moves, here)
        if edits and target is None:
            raise SessionError(
                "This session has no priors yet, so there is nothing to edit. Start it from a"
                " photo (image-interpreter session new PHOTO) or give priors."
            )
        base = session.version(target) if edits and target is not None else None
        edited = apply_all(edits, base) if base is not None else None
        calls = [_candidate_call(session, a) for a in actions if isinstance(a, UseCandidate)]
    except (EditError, SessionError) as error:
        return Outcome(
            reply=f"Nothing changed: {error}", executed=False, version=here, error=str(error)
        )

    moved = [_move(session, move) for move in moves]
    applied: list[str] = []
    committed = None
    if edited is not None and base is not None:
        applied = _sentences(edits, base)
        stored = session.commit(
            edited,
            edit={"actions": interpretation.dump_actions(), "text": interpretation.text},
            summary="; ".join(applied),
        )
        committed = stored.version
    now = session.current
    version = now.version if now is not None else None
    request = None
    extra: list[str] = []
    for action in actions:
        if isinstance(action, Generate):
            count = action.count or (now.generation.candidates if now is not None else 4)
            request = GenerationRequest(count=count, version=version)
        elif isinstance(action, ShowPriors):
            extra.append(show_priors(now) if now is not None else "There are no priors yet.")
        elif isinstance(action, Help):
            extra.append(help_text())
    outcome = Outcome(
        reply="",
        executed=True,
        applied=applied,
        moved=moved,
        version=version,
        committed=committed,
        generate=request,
        calls=calls,
    )
    outcome.reply = _reply(outcome, interpretation, extra)
    return outcome


def _candidate_call(session: Session, action: UseCandidate) -> dict[str, Any]:
    """The tool call for 'pick 2' / 'upscale 2' (the latest generation unless one is named),
    checked now so that nothing moves when it cannot be done (SessionError)."""
    records = session.generations()
    if not records:
        raise SessionError("There are no candidates yet: say “generate 2” to make some.")
    wanted = action.generation or records[-1].id
    record = next((r for r in records if r.id == wanted), None)
    if record is None:
        raise SessionError(
            f"There is no generation {wanted}; this session has generations"
            f" {', '.join(str(r.id) for r in records)}."
        )
    if action.candidate > len(record.candidates):
        count = len(record.candidates)
        have = "candidate 1" if count == 1 else f"candidates 1 to {count}"
        raise SessionError(
            f"Generation {record.id} has {have}; there is no candidate {action.candidate}."
        )
    name = "choose_candidate" if action.verb == "pick" else "upscale"
    return {"name": name, "args": {"generation": record.id, "candidate": action.candidate}}


def _plan(session: Session, moves: list[Any], here: int | None) -> int | None:
    """The version the moves end at, checked without moving (SessionError when one cannot)."""
    if not moves:
        return here
    history = {v.number: v for v in session.history()}
    stack = list(session.state().redo) if any(isinstance(m, Redo) for m in moves) else []
    at = here
    for move in moves:
        if isinstance(move, GoToVersion):
            if move.version not in history:
                last = max(history, default=0)
                raise SessionError(
                    f"There is no version {move.version}: "
                    + (
                        f"this session has versions 1 to {last}."
                        if last
                        else "there are no versions yet."
                    )
                )
            at, stack = move.version, []
            continue
        for _ in range(move.steps):
            if at is None:
                raise SessionError("Nothing to undo or redo: this session has no versions yet.")
            if isinstance(move, Undo):
                parent = history[at].parent
                if parent is None:
                    raise SessionError(f"Nothing to undo: version {at} is the first version.")
                stack.append(at)
                at = parent
            else:
                if not stack:
                    raise SessionError(
                        "Nothing to redo: there has been no undo since the last change."
                    )
                at = stack.pop()
    return at


def _move(session: Session, move: Any) -> str:
    if isinstance(move, GoToVersion):
        session.checkout(move.version)
        return f"went to version {move.version}"
    left = session.current
    for _ in range(move.steps):
        landed = session.undo() if isinstance(move, Undo) else session.redo()
    verb = "undid" if isinstance(move, Undo) else "redid"
    many = "the last change" if move.steps == 1 else f"{move.steps} changes"
    # what a single step took back or made again, in the version's own words
    moved = left if isinstance(move, Undo) else landed
    summary = _summary(session, moved.version) if move.steps == 1 and moved is not None else ""
    what = f" — {summary}" if summary else ""
    return f"{verb} {many}{what} (now at version {landed.version})"


def _summary(session: Session, version: int) -> str:
    found = next((v for v in session.history() if v.number == version), None)
    return found.summary if found is not None else ""


def _sentences(edits: list[EditBase], base: PriorSet) -> list[str]:
    """describe() of each edit on the priors it met, so limits reached are mentioned."""
    sentences, priors = [], base
    for edit in edits:
        sentences.append(describe(edit, priors))
        priors = apply(edit, priors)
    return sentences


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _reply(outcome: Outcome, interpretation: Interpretation, extra: list[str]) -> str:
    parts: list[str] = []
    if outcome.moved:
        parts.append(_sentence("; ".join(outcome.moved)))
    if outcome.applied:
        parts.append(_sentence("; ".join(outcome.applied)) + f" (version {outcome.committed})")
    if outcome.generate is not None:
        parts.append(
            f"Generation of {outcome.generate.count} candidates from version"
            f" {outcome.generate.version} is requested; the generator is not part of this"
            " version yet, so no images were made."
        )
    if interpretation.assumptions:
        parts.append("Assumed: " + "; ".join(interpretation.assumptions) + ".")
    parts.extend(extra)
    if parts:
        return "\n".join(parts)
    return "" if outcome.calls else "Nothing to do."


def show_priors(priors: PriorSet) -> str:
    """The priors in a few lines a user can read in a chat."""
    src = priors.source
    lines = [
        f"Version {priors.version} of {src.name or src.sha256[:12]} ({src.width}×{src.height}):"
    ]
    for kind, prior in priors.priors().items():
        state = "on" if prior.enabled else "off"
        steps = (
            ""
            if (prior.start, prior.end) == (0.0, 1.0)
            else f", steps {prior.start:.0%}–{prior.end:.0%}"
        )
        lines.append(f"  {kind}: {state}, weight {prior.weight:g}{steps}{_detail(priors, kind)}")
    gen = priors.generation
    size = f"{gen.width}×{gen.height}" if gen.width and gen.height else "source size"
    lines.append(
        f"  settings: {size}, seed {gen.seed if gen.seed is not None else 'random'},"
        f" {gen.steps} steps, guidance {gen.guidance:g}, {gen.candidates} candidates"
    )
    return "\n".join(lines)


def _marked(action: str, replacement: str | None) -> str:
    if action == "keep":
        return ""
    return f" ({action} with {replacement})" if replacement else f" ({action})"


def _detail(priors: PriorSet, kind: str) -> str:
    if kind == "people" and priors.people is not None:
        people = priors.people.people
        if not people:
            return " — nobody: " + no_people_reason(priors)
        named = ", ".join(
            f"person {i}" + (f" ({p.label})" if p.label else "") for i, p in enumerate(people, 1)
        )
        return f" — {len(people)} {'person' if len(people) == 1 else 'people'}: {named}"
    if kind == "caption" and priors.caption is not None:
        c = priors.caption
        extras = [
            f"style {', '.join(c.style)}" if c.style else "",
            f"time {c.time_of_day}" if c.time_of_day else "",
            f"not: {c.negative}" if c.negative else "",
        ]
        said = f"“{c.text}”" if c.text.strip() else "no words yet"
        return f" — {said}" + "".join(f"; {e}" for e in extras if e)
    if kind == "objects" and priors.objects is not None:
        objs = [o.label + _marked(o.action, o.replacement) for o in priors.objects.objects]
        return " — " + (", ".join(objs) or "none")
    if kind == "depth" and priors.depth is not None:
        a = priors.depth.adjust
        changed = [f"{k} {v:g}" if not isinstance(v, bool) else k for k, v in a.model_dump().items()
                   if v != type(a)().model_dump()[k]]  # fmt: skip
        return (" — " + ", ".join(changed)) if changed else ""
    return ""
