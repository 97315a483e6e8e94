"""The words of the picture: its caption, styles, time of day and negative prompt. Free text
is kept as the user typed it (case included); only the command words around it are matched."""

from __future__ import annotations

from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.rules.base import Match, first, rule
from image_interpreter.agent.interpreter.words import (
    PRIOR_NAMES,
    STYLE,
    TIME,
    TIMES,
    names_body_part,
    strip_article,
    unquote,
)
from image_interpreter.priors.edits import (
    AddStyle,
    AmendCaption,
    SetCaption,
    SetNegativePrompt,
    SetTimeOfDay,
)

_CAPTION = r"(?:the\s+)?(?:caption|description|prompt|text\s+prompt|scene\s+description)"


def _text(said: str) -> str:
    return unquote(said.strip().rstrip(".!"))


@rule(
    "text.caption",
    rf"(?:replace|change|set|update|rewrite|make|switch)\s+{_CAPTION}(?:\s+(?:to|with|as|into|so\s+(?:that\s+)?it"
    r"\s+(?:says|reads)|to\s+say|to\s+read|to\s+be))?\s*:?\s+(?P<text>.+)",
    rf"{_CAPTION}\s*(?::|=|\s+is|\s+should\s+(?:be|say|read))\s*(?P<text2>.+)",
    r"(?:new|use\s+(?:the|this|a))\s+(?:caption|prompt|description)\s*:?\s*(?P<text3>.+)",
    r"(?:describe\s+it\s+as|call\s+it|it\s+should\s+show|it\s+should\s+be)\s+(?P<text4>.+)",
)
def caption(m: Match, ctx: Context) -> list[Any]:
    said = _text(first(m, "text", "text2", "text3", "text4") or "")
    return [SetCaption(text=said)] if said else []


@rule(
    "text.amend",
    rf"(?:add|append|include|put)\s+(?P<text>.+?)\s+(?:to|in|into|onto)\s+{_CAPTION}",
    r"(?:add|include|also\s+show|also\s+include|put|place|insert|show)\s+(?P<text2>(?:a|an|some|two|three|four|five"
    r"|several|more|many|the|lots\s+of|plenty\s+of)\s+.+?)(?:\s+(?:to|in|into)\s+(?:the\s+)?(?:picture|image|scene|photo"
    r"|background|foreground|shot))?",
    rf"{_CAPTION}\s*\+\s*(?P<text3>.+)",
)
def amend(m: Match, ctx: Context) -> list[Any]:
    said = _text(first(m, "text", "text2", "text3") or "")
    verb = m.group(0).split(maxsplit=1)[0].lower()
    if verb != "add" and first(m, "text2") and _names_what_is_there(said, ctx):
        return None  # type: ignore[return-value]  ('put the left hand on the head': a pose)
    return [AmendCaption(text=said)] if said else []


def _names_what_is_there(said: str, ctx: Context) -> bool:
    """Whether free text after 'put'/'show' names a body part, a prior or an object of the
    picture: then it asks to change what is there ('put the umbrella on the left'), which is
    not a caption to add, and what no rule reads is reported as not understood."""
    if names_body_part(said):
        return True
    text = f" {' '.join(said.lower().split())} "
    if any(f" {name} " in text for name in PRIOR_NAMES if len(name) > 3):
        return True
    objects = ctx.prior("objects")
    labels = {o.label.lower() for o in objects.objects} if objects is not None else set()
    return any(f" {label} " in text for label in labels)


_FRAME = (
    r"(?:(?:make|turn|render|do|draw|paint|convert|redo|change|style|restyle)\s+(?:it|this|the\s+(?:image|picture"
    r"|photo|whole\s+thing|result|scene))(?:\s+(?:look|feel|seem))?(?:\s+(?:into|to|as|in|like|more|a\s+bit\s+more"
    r"|more\s+like))*\s+|(?:in\s+(?:the\s+)?style\s+of|in|as|with|use|apply|add|go\s+for|try|give\s+it|style\s*:?)\s+"
    r"|(?:more|very)\s+)?"
)
_LOOK = (
    r"(?:\s+(?:style|look|effect|aesthetic|vibe|feel|version|filter|finish|rendering|mode|tones?))?"
)


@rule(
    "text.style",
    rf"{_FRAME}(?:(?:a|an|the)\s+)?{STYLE}{_LOOK}",
)
def style(m: Match, ctx: Context) -> list[Any]:
    return [AddStyle(style=" ".join(m["style"].split()))]


@rule(
    "text.style_time",
    rf"{_FRAME}(?:(?:a|an|the)\s+)?{STYLE}{_LOOK},?\s+(?:at|during|in|by)\s+(?:(?:the|a)\s+)?{TIME}(?:\s*(?:time|light|lighting))?",
)
def style_time(m: Match, ctx: Context) -> list[Any]:
    time_of_day = TIMES[" ".join(m["time"].lower().split())]
    return [AddStyle(style=" ".join(m["style"].split())), SetTimeOfDay(time=time_of_day)]


@rule(
    "text.style_of",
    r"(?:(?:make|paint|draw|render|do)\s+(?:it|this|the\s+(?:image|picture))\s+)?in\s+the\s+style\s+of\s+(?P<style>.+)",
    r"(?:make|have)\s+(?:it|this|the\s+(?:image|picture))\s+look\s+like\s+(?P<style2>.+)",
    r"(?:style|art\s+style)\s*(?::|=|\s+is|\s+should\s+be)\s*(?P<style3>.+)",
    r"(?:make\s+it\s+)?(?:in\s+)?(?P<style4>[\w'’-]+(?:\s+[\w'’-]+)?)\s+style",
)
def style_of(m: Match, ctx: Context) -> list[Any]:
    said = _text(first(m, "style", "style2", "style3", "style4") or "")
    if not said or said.lower() in ("this", "that", "the", "same", "a", "my"):
        return None  # type: ignore[return-value]
    if first(m, "style2"):
        said = strip_article(said)
    return [AddStyle(style=said)]


@rule(
    "text.time",
    rf"(?:(?:make|set|change|switch|turn|move|shoot|put)\s+(?:it|this|the\s+(?:scene|picture|image|time(?:\s+of\s+day)?)"
    rf"|the\s+time)(?:\s+(?:to|into|at|in|during))?\s+|set\s+(?:the\s+)?time(?:\s+of\s+day)?\s+to\s+|time(?:\s+of\s+day)?"
    rf"\s*:?\s+|(?:at|during|in|by|around|after|before)\s+|it\s+should\s+be\s+|(?:make\s+it\s+)?(?:happen|set)\s+(?:at|during|in)\s+)?"
    rf"(?:(?:the|a)\s+)?{TIME}(?:\s*(?:time|light|lighting|scene|sky|setting))?",
)
def time(m: Match, ctx: Context) -> list[Any]:
    return [SetTimeOfDay(time=TIMES[" ".join(m["time"].lower().split())])]


@rule(
    "text.negative",
    r"(?:no|without|avoid|exclude|never\s+show|no\s+more)\s+(?P<text>.+)",
    r"(?:don'?t|do\s+not)\s+(?:show|include|add|draw|put|render|want|need)\s+(?:any\s+)?(?P<text2>.+)",
    r"(?:i\s+)?(?:don'?t|do\s+not)\s+want\s+(?:any\s+)?(?P<text3>.+)",
    r"negative(?:\s+prompt)?\s*(?::|=|\s+is|\s+should\s+be)?\s*(?P<text4>.+)",
    r"(?:add|put)\s+(?P<text5>.+?)\s+to\s+(?:the\s+)?negative(?:\s+prompt)?",
    r"(?:remove|get\s+rid\s+of)\s+(?:any|all)\s+(?P<text6>.+)",
    r"(?:make\s+sure\s+)?there\s+(?:are|is)\s+no\s+(?P<text7>.+)",
)
def negative(m: Match, ctx: Context) -> list[Any]:
    said = _text(first(m, "text", "text2", "text3", "text4", "text5", "text6", "text7") or "")
    if not said:
        return []
    existing = ctx.negative or ""
    if said.casefold() in [part.strip().casefold() for part in existing.split(",")]:
        combined = existing
    else:
        combined = f"{existing}, {said}" if existing else said
    ctx.negative = combined
    return [SetNegativePrompt(text=combined)]


@rule(
    "text.clear_negative",
    r"(?:clear|remove|delete|reset|drop|empty)\s+(?:the\s+)?negative(?:\s+prompt)?|no\s+negative(?:\s+prompt)?",
)
def clear_negative(m: Match, ctx: Context) -> list[Any]:
    ctx.negative = None
    return [SetNegativePrompt(text="")]
