"""Generation settings: size and aspect, seed, steps, guidance, strength, candidates."""

from __future__ import annotations

import re
from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.quantities import fraction, quantity
from image_interpreter.agent.interpreter.rules.base import Match, first, rule
from image_interpreter.agent.interpreter.words import (
    ASPECT,
    ASPECT_NAMES,
    INT,
    NUM,
    integer,
    number,
)
from image_interpreter.priors.edits import (
    SetCandidates,
    SetGuidance,
    SetSeed,
    SetSize,
    SetSteps,
    SetStrength,
)

_IT = r"(?:it|this|the\s+(?:image|picture|output|result|photo|generation|canvas|frame))"
_TO = r"(?:\s+(?:to|=|:|at|of|is|as))?\s*"


@rule(
    "settings.aspect",
    rf"(?:(?:make|set|change|switch|turn|crop|render|frame|format)\s+{_IT}(?:\s+(?:to|into|as|in))?\s+"
    rf"|(?:set|change|switch|make)\s+(?:the\s+)?(?:aspect(?:\s+ratio)?|ratio|format|orientation|size|shape)"
    rf"{_TO}|(?:use|switch\s+to|go|go\s+for|crop\s+to|aspect(?:\s+ratio)?|ratio|format|in)\s+)?"
    rf"(?:(?:a|an)\s+)?{ASPECT}(?:\s+(?:aspect(?:\s+ratio)?|ratio|format|crop|orientation|mode|frame|image|picture|shape))?",
)
def aspect(m: Match, ctx: Context) -> list[Any]:
    said = re.sub(r"\s+", "", m["aspect"].lower()).replace("/", ":")
    value = ASPECT_NAMES.get(said, said)
    found = ctx.build(lambda: SetSize(aspect=value))
    return [found] if found else []


@rule(
    "settings.size",
    rf"(?:(?:make|set|change|render|output|resize)\s+(?:{_IT}\s+)?(?:(?:the\s+)?(?:size|resolution|dimensions)\s+)?"
    rf"(?:to|at|as)?\s*|(?:set\s+)?(?:the\s+)?(?:size|resolution|dimensions|output(?:\s+size)?){_TO}"
    rf"|(?:use|at|render\s+at|generate\s+at)\s+)?(?P<w>\d{{2,4}})\s*(?:x|×|by|\*)\s*(?P<h>\d{{2,4}})"
    r"(?:\s*(?:pixels|px|resolution))?",
)
def size(m: Match, ctx: Context) -> list[Any]:
    found = ctx.build(lambda: SetSize(width=int(m["w"]), height=int(m["h"])))
    return [found] if found else []


@rule(
    "settings.side",
    rf"(?:(?:set|make|change)\s+(?:the\s+)?)?(?P<dim>width|height){_TO}(?P<v>\d{{2,4}})(?:\s*(?:px|pixels))?",
    r"(?:make\s+it\s+)?(?P<v2>\d{2,4})\s*(?:px|pixels)?\s+(?P<dim2>wide|tall|high)",
)
def side(m: Match, ctx: Context) -> list[Any]:
    dim = (first(m, "dim", "dim2") or "").lower()
    value = int(first(m, "v", "v2") or 0)
    key = "width" if dim in ("width", "wide") else "height"
    found = ctx.build(lambda: SetSize(**{key: value}))
    return [found] if found else []


@rule(
    "settings.seed",
    rf"(?:(?:set|use|change|fix|try|make)\s+(?:the\s+)?(?:random\s+)?seed{_TO}|(?:use|with|try)\s+(?:the\s+)?seed\s+"
    rf"|(?:the\s+)?(?:random\s+)?seed(?:\s+number)?{_TO}|(?:use\s+)?seed\s*#?\s*)(?P<n>\d+)",
)
def seed(m: Match, ctx: Context) -> list[Any]:
    found = ctx.build(lambda: SetSeed(seed=int(m["n"])))
    return [found] if found else []


@rule(
    "settings.new_seed",
    r"(?:(?:use|try|pick|get|give\s+me|choose)\s+)?(?:a\s+)?(?:new|random|different|another|fresh)\s+seed",
    r"(?:change|reroll|re-roll|randomi[sz]e|shuffle|reset)\s+(?:the\s+)?seed|reroll|re-roll",
)
def new_seed(m: Match, ctx: Context) -> list[Any]:
    return [SetSeed(seed=None)]


@rule(
    "settings.steps",
    rf"(?:(?:set|use|do|run|change|make\s+it|with|try)\s+)?(?:the\s+)?(?:number\s+of\s+)?"
    rf"(?:sampling\s+|denoising\s+|inference\s+|diffusion\s+)?steps{_TO}(?P<n>{INT})",
    rf"(?:(?:set|use|do|run|make\s+it|with|try|at)\s+)?(?P<n2>{INT})\s+(?:sampling\s+|denoising\s+"
    r"|inference\s+|diffusion\s+)?steps",
)
def steps(m: Match, ctx: Context) -> list[Any]:
    value = integer(first(m, "n", "n2") or "0")
    found = ctx.build(lambda: SetSteps(n=value))
    return [found] if found else []


@rule(
    "settings.more_steps",
    r"(?P<dir>more|fewer|less)\s+steps|(?P<dir2>increase|decrease|reduce|raise|lower)\s+(?:the\s+)?"
    r"(?:number\s+of\s+)?steps",
)
def more_steps(m: Match, ctx: Context) -> list[Any]:
    current = ctx.priors.generation.steps if ctx.priors is not None else 25
    up = (first(m, "dir", "dir2") or "").lower() in ("more", "increase", "raise")
    return [SetSteps(n=min(200, current + 10) if up else max(1, current - 10))]


@rule(
    "settings.guidance",
    rf"(?:(?:set|use|change|make|put|with|try)\s+)?(?:the\s+)?(?:guidance(?:\s+scale)?|cfg(?:\s+scale)?"
    rf"|classifier[-\s]free\s+guidance|prompt\s+(?:strength|adherence)){_TO}(?P<v>{NUM})",
    rf"(?P<v2>{NUM})\s+(?:guidance|cfg)",
)
def guidance(m: Match, ctx: Context) -> list[Any]:
    value = number(first(m, "v", "v2") or "0")
    found = ctx.build(lambda: SetGuidance(value=value))
    return [found] if found else []


@rule(
    "settings.strength",
    rf"(?:(?:set|use|change|make|put|with|try)\s+)?(?:the\s+)?(?:img2img\s+|image\s+|denoising\s+|denoise\s+)?"
    rf"strength{_TO}(?P<v>{NUM}\s*%?)",
    rf"(?:denoise|denoising){_TO}(?P<v2>{NUM}\s*%?)",
)
def strength(m: Match, ctx: Context) -> list[Any]:
    said = quantity(first(m, "v", "v2"))
    value = fraction(said) if said is not None else None
    if value is None:
        ctx.problem("The strength is a number from 0 to 1 (or a percentage).", 0.2)
        return []
    return [SetStrength(value=value)]


@rule(
    "settings.candidates",
    rf"(?:(?:set|use|change|make\s+it|with)\s+)?(?:the\s+)?(?:number\s+of\s+)?(?:candidates|outputs|images"
    rf"\s+per\s+(?:run|batch|generation)|batch\s+size|candidates\s+per\s+(?:run|batch|generation)){_TO}(?P<n>{INT})",
    rf"(?:(?:use|with|make\s+it|always|set)\s+)?(?P<n2>{INT})\s+(?:candidates|images|pictures|outputs|options)"
    r"(?:\s+(?:per|each|at\s+a|every)\s+(?:run|time|batch|generation))?",
)
def candidates(m: Match, ctx: Context) -> list[Any]:
    value = integer(first(m, "n", "n2") or "0")
    found = ctx.build(lambda: SetCandidates(n=value))
    return [found] if found else []
