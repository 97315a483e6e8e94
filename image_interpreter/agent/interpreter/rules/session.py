"""Generating, showing the priors, and asking for help."""

from __future__ import annotations

from typing import Any

from image_interpreter.agent.interpreter.actions import Generate, Help, ShowPriors, UseCandidate
from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.rules.base import Match, first, rule
from image_interpreter.agent.interpreter.words import INT, ORDINAL, integer, ordinal

_THINGS = (
    r"(?:(?:new|more|different|fresh|other|alternative|possible)\s+)*(?:variations?|versions?"
    r"|options?|candidates?|images?|pictures?|results?|takes?|alternatives?|samples?|shots?"
    r"|variants?|ones?|renders?|photos?|outputs?)"
)
_OF = r"(?:\s+(?:of|for|from)\s+(?:it|this|that|them|the\s+(?:image|picture|photo|priors|pose)))?"


@rule(
    "session.generate",
    r"(?:re)?generate(?:\s+(?:it|them|this|that|now|again|the\s+(?:image|picture)))?",
    rf"(?:re)?generate\s+(?:(?:some|more|another)\s+)?(?:(?P<n>{INT})\s+)?{_THINGS}{_OF}",
    rf"(?:re)?generate\s+(?P<n3>{INT})",
    rf"(?:make|create|produce|give\s+me|show\s+me|let\s+me\s+see|get\s+me|draw|render|try|do)"
    rf"\s+(?:(?:me|some|more|another)\s+)*(?:(?P<n2>{INT})\s+)?{_THINGS}{_OF}",
    r"(?:render|draw|paint|create|make)\s+(?:it|this|the\s+(?:image|picture))(?:\s+now)?",
    r"go(?:\s+ahead)?|run(?:\s+it)?|do\s+it|let'?s\s+see(?:\s+it)?|show\s+me(?:\s+(?:it|the\s+result))?"
    r"|try\s+(?:it|again)|again|one\s+more(?:\s+time)?|another(?:\s+one)?|more",
)
def generate(m: Match, ctx: Context) -> list[Any]:
    said = first(m, "n", "n2", "n3")
    count = integer(said) if said else None
    if count is not None and not 1 <= count <= 16:
        ctx.problem(f"I can generate 1 to 16 candidates at a time, not {count}.")
        count = 16 if count > 16 else 1
    return [Generate(count=count)]


_CANDIDATE = (
    rf"(?:(?:the\s+)?(?:candidate|number|option|#)\s*)?(?:#\s*)?(?P<n>{INT})"
    rf"|(?:the\s+)?(?P<o>{ORDINAL})(?:\s+(?:candidate|one|image|picture|option))?"
)
_GENERATION = rf"(?:\s+(?:of|from|in)\s+(?:the\s+)?generation\s+(?P<g>{INT}))?"


@rule(
    "session.pick",
    rf"(?P<verb>pick|choose|keep|take|select|i\s+(?:like|want|prefer)|go\s+with|use)\s+"
    rf"(?:{_CANDIDATE}){_GENERATION}",
    rf"(?P<verb2>upscale|enlarge|upsize)\s+(?:{_CANDIDATE}){_GENERATION}",
)
def use_candidate(m: Match, ctx: Context) -> list[Any] | None:
    if m.group("n"):
        number = integer(m.group("n"))
    else:
        found = ordinal(m.group("o"))
        if found is None or found < 1:
            return None
        number = found
    if not 1 <= number <= 64:
        ctx.problem(f"Candidates are numbered from 1; there is no candidate {number}.")
        return None
    generation = integer(m.group("g")) if m.group("g") else None
    verb = "upscale" if "verb2" in m.groupdict() else "pick"
    return [UseCandidate(verb=verb, candidate=number, generation=generation)]


@rule(
    "session.show",
    r"(?:show|list|display|print|tell\s+me|describe|what\s+are|what'?s\s+in|which\s+are)(?:\s+me)?"
    r"\s+(?:(?:the|all|all\s+the|current|my|your)\s+)*(?:priors|settings|state|status|controls"
    r"|control\s+images|conditions|priors\s+you\s+(?:have|found))",
    r"what\s+(?:do\s+you\s+see|did\s+you\s+(?:find|detect|see|extract)|is\s+in\s+(?:the|this)"
    r"\s+(?:picture|image|photo)|have\s+you\s+got|priors\s+(?:are\s+there|do\s+we\s+have)|do\s+we\s+have)",
    r"status|priors|state|where\s+are\s+we|what'?s\s+the\s+current\s+state|current\s+state",
    r"show\s+(?:me\s+)?(?:the\s+)?(?:current\s+)?(?:version|state|pose|skeleton)",
)
def show(m: Match, ctx: Context) -> list[Any]:
    return [ShowPriors()]


@rule(
    "session.help",
    r"help(?:\s+me)?|\?+|what\s+can\s+(?:you|i)\s+(?:do|say|ask|type)|commands|examples"
    r"|how\s+does\s+(?:this|it)\s+work|how\s+do\s+i\s+use\s+(?:this|you)|usage|what\s+do\s+you\s+understand"
    r"|show\s+(?:me\s+)?(?:the\s+)?(?:help|commands|examples)|what\s+are\s+my\s+options",
)
def help_(m: Match, ctx: Context) -> list[Any]:
    return [Help()]
