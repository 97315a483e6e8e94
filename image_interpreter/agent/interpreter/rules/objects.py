"""Objects: replace one with something else, or remove it. 'Remove the car' marks the car to
be painted over when generating; people and priors have their own rules, tried first."""

from __future__ import annotations

import re
from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.rules.base import Match, first, rule
from image_interpreter.agent.interpreter.words import (
    ORDINAL,
    REMOVE,
    names_body_part,
    ordinal,
    strip_article,
)
from image_interpreter.priors.edits import ObjectRef, RemoveObject, ReplaceObject

_OBJECT = r"(?:the|that|this|those|these|a|an|my|our)\s+[\w'’ -]+?"
_WHICH = re.compile(
    rf"^(?:(?P<ordinal>{ORDINAL})\s+)?(?P<label>.+?)(?:\s+(?:on|to|at|in)\s+the\s+(?P<where>left|right|middle|center"
    r"|centre|top|bottom|background|foreground))?$",
    re.IGNORECASE,
)
_NOT_OBJECTS = {"caption", "description", "prompt", "picture", "image", "photo", "background",
                "it", "everything", "all", "style", "text", "negative prompt", "seed"}  # fmt: skip


def target(ctx: Context, said: str) -> ObjectRef | None:
    """An ObjectRef for 'the dog', 'the second car', 'the car on the left' (with the priors,
    positions pick the index among objects of that label)."""
    text = strip_article(" ".join(said.split()))
    m = _WHICH.match(text)
    if m is None:
        return None
    label = m["label"].strip()
    if label.lower() in _NOT_OBJECTS or not label or names_body_part(label):
        return None  # 'turn the shoulders to the right' is a pose, not an object
    index = None
    if m["ordinal"]:
        index = ordinal(m["ordinal"])
    objects = ctx.prior("objects")
    if objects is not None:
        matches = [
            i for i, o in enumerate(objects.objects) if o.label.casefold() == label.casefold()
        ]
        if not matches:
            matches = [
                i for i, o in enumerate(objects.objects) if label.casefold() in o.label.casefold()
            ]
        if not matches:
            labels = ", ".join(sorted({o.label for o in objects.objects})) or "none"
            ctx.problem(f"No object here is labelled “{label}” (objects found: {labels}).", 0.4)
        elif m["where"] and len(matches) > 1 and m["where"].lower() in ("left", "right"):
            order = sorted(range(len(matches)), key=lambda k: objects.objects[matches[k]].box.x0)
            index = (order[0] if m["where"].lower() == "left" else order[-1]) + 1
        elif index is not None and index > len(matches):
            ctx.problem(f"There are only {len(matches)} objects labelled “{label}”.", 0.3)
        elif index is None and len(matches) > 1:
            ctx.assume(f"the first {label} of {len(matches)} (say “the second {label}”)", 0.6)
            index = 1
    elif ctx.priors is not None:
        ctx.check_prior("objects", "pick an object from")
    elif m["where"] and m["where"].lower() in ("left", "right", "middle", "center", "centre"):
        ctx.assume(
            f"the {label} (without the priors I cannot see which is on the {m['where']})", 0.6
        )
    return ObjectRef(label=label, index=index)


@rule(
    "objects.replace",
    rf"(?:replace|swap|switch|exchange|substitute)\s+(?P<obj>{_OBJECT}|[\w'’-]+)\s+(?:with|for|by|to)\s+(?P<new>.+)",
    rf"(?:turn|change|transform|make|convert)\s+(?P<obj2>{_OBJECT})\s+(?:into|to|in\s+to)\s+(?P<new2>.+)",
    rf"(?:make)\s+(?P<obj3>{_OBJECT})\s+(?:be\s+|become\s+)?(?P<new3>(?:a|an)\s+.+)",
    rf"(?:put|use|have|show)\s+(?P<new4>.+?)\s+instead\s+of\s+(?P<obj4>{_OBJECT}|[\w'’-]+)",
    rf"(?P<obj5>{_OBJECT})\s+(?:should\s+be|becomes|into)\s+(?P<new5>.+)",
)
def replace(m: Match, ctx: Context) -> list[Any]:
    said = first(m, "obj", "obj2", "obj3", "obj4", "obj5") or ""
    new = (first(m, "new", "new2", "new3", "new4", "new5") or "").strip().rstrip(".!")
    ref = target(ctx, said)
    if ref is None or not new:
        return None  # type: ignore[return-value]
    return [ReplaceObject(target=ref, text=new)]


@rule(
    "objects.remove",
    rf"{REMOVE}\s+(?P<obj>{_OBJECT}|[\w'’-]+)(?:\s+(?:from|in|out\s+of)\s+(?:the\s+)?(?:picture|image|photo|scene|shot"
    r"|frame))?",
)
def remove(m: Match, ctx: Context) -> list[Any]:
    ref = target(ctx, m["obj"])
    return None if ref is None else [RemoveObject(target=ref)]  # type: ignore[return-value]
