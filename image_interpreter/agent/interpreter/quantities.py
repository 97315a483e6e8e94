"""How much: 'a bit', 'a lot', 'by 30 degrees', '30°', 'half way', 'to 0.5', '20%', 'twice as
strong', 'three times'. A `Quantity` keeps what was said; each rule turns it into its own units
(a small rotation is 15°, a small move 3% of the picture), through `Scale`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from image_interpreter.agent.interpreter.words import NUM, number

Level = Literal["small", "medium", "large", "full", "half"]

_SMALL = (
    r"(?:just\s+)?(?:a\s+(?:little\s+)?bit|a\s+little|a\s+tad|slightly|a\s+touch|somewhat"
    r"|a\s+smidge|a\s+hair|marginally|gently|subtly|lightly|barely|a\s+little\s+more"
    r"|a\s+bit\s+more|a\s+little\s+bit\s+more|a\s+bit\s+further|a\s+little\s+further"
    r"|not\s+too\s+much|a\s+notch)"
)
_LARGE = (
    r"(?:a\s+lot(?:\s+more)?|lots(?:\s+more)?|much(?:\s+more)?|way(?:\s+more)?|a\s+great\s+deal"
    r"|significantly|considerably|heavily|strongly|really|very|a\s+lot\s+further|far"
    r"|dramatically|drastically|substantially|high|way\s+up)"
)
_FULL = (
    r"(?:all\s+the\s+way(?:\s+(?:up|down))?|fully|completely|entirely|totally|to\s+the\s+max"
    r"|as\s+(?:much|far)\s+as\s+(?:possible|it\s+goes|you\s+can)|maximum|max)"
)
_HALF = r"(?:half\s*way|half-way|halfway|by\s+half|in\s+half|half)"
_FACTOR = (
    rf"(?:twice|double|triple|(?P<times>{NUM})\s*(?:x|times)|x\s*(?P<xtimes>{NUM})"
    r"|half\s+as|a\s+third\s+as)"
)
_AMOUNT = rf"(?P<num>{NUM})\s*(?P<unit>°|degrees?|degs?|%|percent|per\s*cent|px|pixels?)?"

QUANTITY = (
    rf"(?:(?:by|to|at|of|around|about|roughly|some|another|an\s+extra|an\s+additional"
    rf"|up\s+to|down\s+to|exactly)\s+)*(?:{_FACTOR}(?:\s+as\s+\w+)?|{_FULL}|{_HALF}|{_SMALL}|{_LARGE}"
    rf"|{_AMOUNT})(?:\s+(?:more|less|further|extra|stronger|weaker|over))?"
)
"""A regex fragment (no named groups of its own once wrapped) matching one quantity phrase."""

_PARTS = re.compile(
    rf"^(?P<mode>(?:(?:by|to|at|of|around|about|roughly|some|another|an\s+extra|an\s+additional"
    rf"|up\s+to|down\s+to|exactly)\s+)*)"
    rf"(?:(?P<factor>{_FACTOR})(?:\s+as\s+\w+)?|(?P<full>{_FULL})|(?P<half>{_HALF})"
    rf"|(?P<small>{_SMALL})|(?P<large>{_LARGE})|{_AMOUNT})"
    r"(?:\s+(?P<tail>more|less|further|extra|stronger|weaker|over))?$",
    re.IGNORECASE,
)
# Turn the fragment's named groups into plain groups so rules may embed it more than once.
QUANTITY_RE = re.sub(r"\(\?P<\w+>", "(?:", QUANTITY)


@dataclass(frozen=True, slots=True)
class Quantity:
    """One amount as said. `mode` is 'to' (an absolute target) or 'by' (a change)."""

    mode: Literal["to", "by"] | None = None
    level: Level | None = None
    value: float | None = None  # a bare number, or a percentage as a fraction
    unit: Literal["degrees", "percent", "pixels"] | None = None
    factor: float | None = None
    more: bool = False  # 'a bit more', 'another 10 degrees'

    @property
    def degrees(self) -> float | None:
        return self.value if self.unit == "degrees" or (self.unit is None and self.value) else None


def quantity(text: str | None) -> Quantity | None:
    """The Quantity in `text` (a phrase QUANTITY matched), or None for no text."""
    if not text:
        return None
    m = _PARTS.match(" ".join(text.split()))
    if m is None:
        return None
    words = m["mode"].lower().split()
    mode: Literal["to", "by"] | None = None
    if {"to", "at", "exactly"} & set(words):
        mode = "to"
    elif {"by", "another", "extra", "additional", "some"} & set(words):
        mode = "by"
    more = bool({"another", "extra", "additional"} & set(words)) or bool(
        m["tail"] and m["tail"].lower() in ("more", "further", "extra")
    )
    if m["factor"]:
        return Quantity(mode=mode, factor=_factor(m["factor"]), more=more)
    for level in ("full", "half", "small", "large"):
        if m[level]:
            said = m[level].lower()
            return Quantity(
                mode=mode, level=level, more=more or "more" in said or "further" in said
            )  # type: ignore[arg-type]
    value = number(m["num"])
    unit_text = (m["unit"] or "").lower().replace(" ", "")
    unit: Literal["degrees", "percent", "pixels"] | None = None
    if unit_text in ("%", "percent"):
        unit, value = "percent", value / 100
    elif unit_text.startswith(("°", "deg")):
        unit = "degrees"
    elif unit_text.startswith(("px", "pixel")):
        unit = "pixels"
    return Quantity(mode=mode, value=value, unit=unit, more=more)


def _factor(text: str) -> float:
    t = " ".join(text.lower().split())
    if t.startswith(("twice", "double")):
        return 2.0
    if t.startswith("triple"):
        return 3.0
    if t.startswith("half"):
        return 0.5
    if t.startswith("a third"):
        return 1 / 3
    found = re.search(NUM, t.replace("x", " ").replace("times", " ").strip())
    return number(found.group(0)) if found else 1.0


@dataclass(frozen=True, slots=True)
class Scale:
    """What the levels mean for one kind of change: 'a bit' = small, nothing said = medium."""

    small: float
    medium: float
    large: float
    full: float | None = None
    half: float | None = None

    def of(self, q: Quantity | None) -> float:
        if q is None or q.level is None:
            return self.medium
        found = getattr(self, q.level)
        return self.medium if found is None else found


def fraction(q: Quantity) -> float | None:
    """A value in [0, 1] from '0.5', '50%', '50', 'half'; None when it is not one."""
    if q.level == "half":
        return 0.5
    if q.level == "full":
        return 1.0
    if q.value is None or q.unit in ("degrees", "pixels"):
        return None
    if q.unit == "percent" or 0 <= q.value <= 1:
        value = q.value
    elif q.value >= 10:
        value = q.value / 100  # 'strength 60' means 60%; 'strength 2' means nothing clear
    else:
        return None
    return value if 0 <= value <= 1 else None
