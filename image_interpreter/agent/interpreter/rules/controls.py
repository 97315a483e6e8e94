"""Priors as ControlNet conditions: switch them on and off, weigh them, and choose the part of
the denoising steps they act on. 'Drop the depth map' means stop using it, not delete it."""

from __future__ import annotations

import re
from typing import Any

from image_interpreter.agent.interpreter.context import Context
from image_interpreter.agent.interpreter.quantities import Quantity, Scale, fraction, quantity
from image_interpreter.agent.interpreter.rules.base import Match, first, q, rule
from image_interpreter.agent.interpreter.words import (
    DISABLE,
    ENABLE,
    NUM,
    PRIOR_NAMES,
    alternatives,
    number,
    prior_kind,
)
from image_interpreter.priors.edits import SetEnabled, SetGuide, SetStepRange, SetWeight

_ONE = (
    rf"(?:(?:the|that|this|our|my)\s+)?(?:{alternatives(PRIOR_NAMES)})"
    r"(?:\s+(?:maps?|priors?|guides?|guidance|controls?|conditioning|controlnets?|images?))?"
)
PRIORS = rf"(?P<priors>{_ONE}(?:(?:\s*,\s*|\s+and\s+|\s*,\s*and\s+|\s*&\s*|\s+or\s+){_ONE})*)"
_NAME = re.compile(rf"\b(?:{alternatives(PRIOR_NAMES)})\b", re.IGNORECASE)


def kinds(text: str) -> list[str]:
    """'the depth and edge maps' -> ['depth', 'edges'] (no repeats, in the order said)."""
    return list(dict.fromkeys(prior_kind(m.group(0)) for m in _NAME.finditer(text)))


def _switch(ctx: Context, said: str, enabled: bool) -> list[Any]:
    verb = "use" if enabled else "stop using"
    actions = []
    for kind in kinds(said):
        ctx.check_prior(kind, verb)
        actions.append(SetEnabled(kind=kind, enabled=enabled))
    return actions


# --- prior guidance (a prior's loss steering sampling), before the ControlNet words ----------

_GUIDANCE = r"(?:(?:prior|consistency|loss)\s+)?guidance"
_GUIDE_UP = r"harder|more\s+strongly|more|stronger|firmly|tighter"
_GUIDE_DOWN = r"less\s+strongly|less|softer|weaker|more\s+gently|gently|lighter|looser"
_EVERY = r"every\s+(?P<every>other|second|third|fourth|\d+(?:st|nd|rd|th)?)\s+steps?"
_EVERY_WORDS = {"other": 2, "second": 2, "third": 3, "fourth": 4}


def _every(said: str | None) -> int | None:
    if said is None:
        return None
    text = said.lower()
    return _EVERY_WORDS.get(text) or int(re.sub(r"\D", "", text) or 1)


def _guides(ctx: Context, kind_text: str, **fields: Any) -> list[Any]:
    actions = []
    for kind in kinds(kind_text):
        ctx.check_prior(kind, "guide with")
        chosen = dict(fields)
        if chosen.get("weight") is None and chosen.get("factor") is None:
            prior = ctx.prior(kind)  # 'guide with the depth': on at 1 unless it already guides
            chosen["weight"] = (prior.guide.weight if prior is not None else 0.0) or 1.0
        found = ctx.build(lambda k=kind, f=chosen: SetGuide(kind=k, **f))
        if found:
            actions.append(found)
    return actions


@rule(
    "controls.guide_off",
    rf"(?:no|without)\s+(?:any\s+)?{_GUIDANCE}(?:\s+(?:at\s+all|please|this\s+time))?",
    rf"(?:turn|switch|shut)\s+off\s+(?:all\s+)?(?:the\s+)?{_GUIDANCE}",
    rf"(?:turn|switch|shut)\s+(?:all\s+)?(?:the\s+)?{_GUIDANCE}\s+off",
    r"(?:stop|don'?t|do\s+not)\s+guid(?:e|ing)(?:\s+(?:at\s+all|any\s*more|anymore))?",
    rf"(?:all\s+)?{_GUIDANCE}\s+off",
)
def guide_off(m: Match, ctx: Context) -> list[Any]:
    return [SetGuide(kind="all", weight=0.0)]


@rule(
    "controls.guide_joint",
    rf"(?:guide|use)\s+(?:with\s+)?(?:the\s+)?(?:joint|cross[-\s]related|combined)\s+(?:loss|{_GUIDANCE})"
    rf"(?:\s+(?P<dir>{_GUIDE_UP}|{_GUIDE_DOWN}))?",
    r"(?:make\s+)?(?:the\s+|all\s+)?priors\s+agree(?:\s+with\s+each\s+other)?",
)
def guide_joint(m: Match, ctx: Context) -> list[Any]:
    direction = (first(m, "dir") or "").lower()
    if not direction:
        return [SetGuide(kind="joint", factor=2.0)]
    up = bool(re.fullmatch(_GUIDE_UP, direction))
    return [SetGuide(kind="joint", factor=2.0 if up else 0.5)]


@rule(
    "controls.guide",
    rf"(?P<stop>stop|don'?t|do\s+not)\s+guid(?:e|ing)\s+(?:with|by|using)\s+{PRIORS}",
    rf"guide\s+(?:it\s+|the\s+(?:picture|image|sampling)\s+)?(?:(?:with|by|using|along|towards?)\s+)?"
    rf"{PRIORS}(?:\s+(?P<dir>{_GUIDE_UP}|{_GUIDE_DOWN}))?(?:\s+(?:at|to|with\s+weight)\s+(?P<v>{NUM}))?"
    rf"(?:\s+{_EVERY})?",
    rf"(?P<dir2>{_GUIDE_UP}|{_GUIDE_DOWN})\s+{_GUIDANCE}\s+(?:from|on|by|with|for)\s+{PRIORS}",
    rf"(?:set\s+)?(?:the\s+)?{_GUIDANCE}\s+(?:weight\s+)?(?:of|for|on|from|by)\s+{PRIORS}"
    rf"\s+(?:to|at|=)\s*(?P<v2>{NUM})",
    rf"(?:set\s+)?{PRIORS}\s+guidance\s+(?:weight\s+)?(?:to|at|=)\s*(?P<v3>{NUM})",
)
def guide(m: Match, ctx: Context) -> list[Any]:
    if first(m, "stop"):
        return _guides(ctx, m["priors"], weight=0.0)
    value = first(m, "v", "v2", "v3")
    direction = (first(m, "dir", "dir2") or "").lower()
    factor = None
    if direction:
        factor = 2.0 if re.fullmatch(_GUIDE_UP, direction) else 0.5
    weight_ = number(value) if value is not None else None
    return _guides(ctx, m["priors"], weight=weight_, factor=factor, every=_every(first(m, "every")))


@rule(
    "controls.disable",
    rf"{DISABLE}\s+{PRIORS}(?:\s+(?:for\s+now|completely|entirely|altogether|any\s*more|anymore"
    r"|from\s+now\s+on|this\s+time|for\s+this\s+one))?",
    rf"(?:turn|switch|shut|take|leave)\s+{PRIORS}\s+(?:off|out)",
    rf"{PRIORS}\s+(?:off|disabled|out)",
    rf"(?:i\s+)?(?:don'?t|do\s+not)\s+(?:want|need)\s+{PRIORS}(?:\s+any\s*more)?",
    rf"(?:generate|make\s+it|do\s+it|try)\s+without\s+{PRIORS}",
)
def disable(m: Match, ctx: Context) -> list[Any]:
    return _switch(ctx, m["priors"], False)


@rule(
    "controls.enable",
    rf"{ENABLE}\s+{PRIORS}(?:\s+(?:again|back|as\s+well|too))?",
    rf"(?:turn|switch|bring|put)\s+{PRIORS}\s+(?:back\s+)?(?:on|back)(?:\s+again)?",
    rf"{PRIORS}\s+(?:back\s+)?on",
    rf"(?:generate|make\s+it|do\s+it|try)\s+with\s+{PRIORS}",
)
def enable(m: Match, ctx: Context) -> list[Any]:
    return _switch(ctx, m["priors"], True)


@rule(
    "controls.only",
    rf"(?:only\s+use|use\s+only|just\s+use|use\s+just|keep\s+only|only\s+keep|only)\s+{PRIORS}",
    rf"use\s+{PRIORS}\s+only",
)
def only(m: Match, ctx: Context) -> list[Any]:
    wanted = kinds(m["priors"])
    actions = _switch(ctx, m["priors"], True)
    if ctx.priors is None:
        ctx.assume("without the priors I cannot tell which others to switch off", 0.6)
        return actions
    for kind in ctx.priors.priors():
        if kind not in wanted and kind != "caption":
            actions.append(SetEnabled(kind=kind, enabled=False))
    return actions


# --- weights ----------------------------------------------------------------------------------

_WEIGHT = (
    r"(?:weight|strength|scale|influence|conditioning(?:\s+scale)?"
    r"|control(?:\s+(?:strength|weight))?|importance)"
)
_UP = (
    r"stronger|more\s+important|more\s+influential|matter\s+more|louder|heavier|more\s+strict"
    r"|stricter|more"
)
_DOWN = (
    r"weaker|less\s+important|less\s+influential|matter\s+less|softer|lighter|looser|less\s+strict"
    r"|less"
)
_RAISE = r"strengthen|boost|increase|raise|dial\s+up|turn\s+up|bump\s+up|up|amplify|emphasi[sz]e"
_LOWER = (
    r"weaken|decrease|reduce|lower|dial\s+down|turn\s+down|tone\s+down|down|soften|relax|loosen"
)
STEP = Scale(small=0.1, medium=0.25, large=0.5)


def _weight_value(said: str) -> float | None:
    """'0.5' -> 0.5, '80%' -> 0.8, '80' -> 0.8 (a percentage); None for '5' (out of range)."""
    text = said.strip()
    if text.endswith("%"):
        return number(text[:-1]) / 100
    value = number(text)
    if value <= 2:
        return value
    return value / 100 if value >= 10 else None


def _set_weight(ctx: Context, kind_text: str, value: float) -> list[Any]:
    actions = []
    for kind in kinds(kind_text):
        ctx.check_prior(kind, "weigh")
        found = ctx.build(lambda k=kind: SetWeight(kind=k, weight=round(value, 3)))
        if found:
            actions.append(found)
    return actions


@rule(
    "controls.weight",
    rf"(?:(?:set|change|put|make|bring|drop|lower|raise|reduce|increase|turn|adjust)\s+)?{PRIORS}"
    rf"(?:'s)?\s+{_WEIGHT}(?:\s+(?:to|=|:|at|of|down\s+to|up\s+to))?\s*(?P<v>{NUM}\s*%?)",
    rf"(?:(?:set|change|put|make|bring|drop|lower|raise|reduce|increase|turn|adjust)\s+)?(?:the\s+)?"
    rf"{_WEIGHT}\s+(?:of|for|on)\s+{PRIORS}(?:\s+(?:to|=|:|at|down\s+to|up\s+to))?\s*(?P<v2>{NUM}\s*%?)",
    rf"(?:set|put|bring|drop|lower|raise|turn\s+(?:down|up))\s+{PRIORS}\s+(?:to|at)\s+(?P<v3>{NUM}\s*%?)",
    rf"{PRIORS}\s+(?:at|to|=|:)\s*(?P<v4>{NUM}\s*%?)",
    rf"(?:weigh|weight)\s+{PRIORS}\s+(?:at|to|by)\s+(?P<v5>{NUM}\s*%?)",
)
def weight(m: Match, ctx: Context) -> list[Any]:
    value = _weight_value(first(m, "v", "v2", "v3", "v4", "v5") or "1")
    if value is None:
        ctx.problem("A weight goes from 0 to 2 (1 is normal), or give a percentage like 80%.", 0.2)
        return []
    return _set_weight(ctx, m["priors"], value)


def _current(ctx: Context, kind: str) -> float:
    prior = ctx.prior(kind)
    return prior.weight if prior is not None else 1.0


def changed(current: float, said: Quantity | None, up: bool) -> float:
    """A weight after 'stronger' / 'a bit weaker' / 'twice as strong' / 'by 0.2' / 'to 0.5'."""
    sign = 1.0 if up else -1.0
    if said is not None and said.factor is not None:
        return current * said.factor if up or said.factor < 1 else current / said.factor
    if said is not None and said.value is not None:
        if said.mode == "to":
            return said.value
        if said.unit == "percent":
            return current * (1 + sign * said.value)
        return current + sign * said.value
    return current + sign * STEP.of(said)


@rule(
    "controls.stronger",
    rf"(?:make\s+)?{PRIORS}(?:'s)?(?:\s+{_WEIGHT})?\s+(?:{q('q1')}\s+)?(?P<dir>{_UP}|{_DOWN})(?:\s+{q()})?",
    rf"(?:make\s+)?{PRIORS}\s+(?P<f>(?:twice|half|three\s+times|\d+(?:\.\d+)?\s*(?:x|times))\s+as\s+(?:strong|important|much))",
    rf"(?P<dir2>{_RAISE}|{_LOWER})\s+(?:the\s+)?(?:{_WEIGHT}\s+of\s+)?{PRIORS}(?:'s)?(?:\s+{_WEIGHT})?(?:\s+{q('q3')})?",
    rf"(?:give|put)\s+(?P<dir3>more|less)\s+(?:weight|emphasis|importance)\s+(?:on|to)\s+{PRIORS}(?:\s+{q('q4')})?",
    rf"(?P<dir4>more|less)\s+{PRIORS}(?:\s+{q('q5')})?",
)
def stronger(m: Match, ctx: Context) -> list[Any]:
    direction = (first(m, "dir", "dir2", "dir3", "dir4") or "").lower()
    factor = first(m, "f")
    said = quantity(factor) if factor else quantity(first(m, "q1", "q", "q3", "q4", "q5"))
    up = factor is not None or bool(re.fullmatch(rf"{_UP}|{_RAISE}", direction))
    if factor is not None and said is not None and said.factor is not None and said.factor < 1:
        up = False
    actions = []
    for kind in kinds(m["priors"]):
        ctx.check_prior(kind, "weigh")
        value = min(2.0, max(0.0, changed(_current(ctx, kind), said, up)))
        actions.append(SetWeight(kind=kind, weight=round(value, 3)))
    return actions


# --- step ranges ------------------------------------------------------------------------------

_PART = (
    rf"(?P<part>half|a\s+half|third|a\s+third|quarter|a\s+quarter|two\s+thirds|three\s+quarters"
    rf"|{NUM}\s*%|{NUM}\s*percent|0?\.\d+|few\s+steps|part)"
)
_OF_STEPS = (
    r"(?:\s+(?:of\s+)?(?:the\s+)?(?:steps|denoising(?:\s+steps)?|generation|diffusion|sampling"
    r"|process|run|schedule|way))?"
)
_USE = r"(?:use|apply|keep|enable|run|have|let)"
_ONLY = r"(?:only\s+|just\s+)?"


def _part(text: str) -> float:
    t = " ".join(text.lower().split()).removeprefix("a ")
    named = {"half": 0.5, "third": 1 / 3, "quarter": 0.25, "two thirds": 2 / 3,
             "three quarters": 0.75, "few steps": 0.2, "part": 0.5}  # fmt: skip
    if t in named:
        return named[t]
    said = quantity(t.replace("percent", "%"))
    found = fraction(said) if said is not None else None
    return 0.5 if found is None else found


def _range(ctx: Context, kind_text: str, start: float | None, end: float | None) -> list[Any]:
    actions = []
    for kind in kinds(kind_text):
        ctx.check_prior(kind, "time")
        prior = ctx.prior(kind)
        s = start if start is not None else (prior.start if prior is not None else 0.0)
        e = end if end is not None else (prior.end if prior is not None else 1.0)
        found = ctx.build(
            lambda k=kind, s=s, e=e: SetStepRange(kind=k, start=round(s, 3), end=round(e, 3))
        )
        if found:
            actions.append(found)
    return actions


@rule(
    "controls.steps",
    rf"{_ONLY}{_USE}\s+{PRIORS}\s+{_ONLY}(?:for|in|during|through|over|on)\s+(?:the\s+)?(?P<which>first|last|final|early|late|opening|closing)"
    rf"\s+{_PART}{_OF_STEPS}",
    rf"{PRIORS}\s+{_ONLY}(?:for|in|during)\s+(?:the\s+)?(?P<which2>first|last|final)\s+{_PART}{_OF_STEPS}",
    rf"{_ONLY}{_USE}\s+{PRIORS}\s+{_ONLY}(?:for|in|during)\s+(?:the\s+)?(?P<which3>first|last)\s+(?P<n>{NUM})\s+steps",
)
def step_range(m: Match, ctx: Context) -> list[Any]:
    which = (first(m, "which", "which2", "which3") or "first").lower()
    if first(m, "n"):
        total = ctx.priors.generation.steps if ctx.priors is not None else 25
        part = min(1.0, number(m["n"]) / total)
        if ctx.priors is None:
            ctx.assume(f"counted {total} denoising steps (the default)", 0.85)
    else:
        part = _part(m["part"])
    if which in ("first", "early", "opening"):
        return _range(ctx, m["priors"], 0.0, part)
    return _range(ctx, m["priors"], 1.0 - part, 1.0)


@rule(
    "controls.stop",
    rf"(?:stop|end|turn\s+off|cut\s+off|drop)\s+{PRIORS}\s+(?:at|after|from)\s+(?:the\s+)?(?P<at>half\s*way|halfway|{_PART})"
    rf"(?:\s+(?:point|mark))?{_OF_STEPS}",
    rf"(?P<verb>start|begin|introduce|bring\s+in|turn\s+on)\s+{PRIORS}\s+(?:at|after|from)\s+(?:the\s+)?"
    rf"(?P<at2>half\s*way|halfway|{_PART})(?:\s+(?:point|mark))?{_OF_STEPS}",
    rf"{_ONLY}{_USE}\s+{PRIORS}\s+(?:only\s+)?(?:from|between)\s+(?P<a>{NUM}\s*%?)\s+(?:to|and|until|-)\s+(?P<b>{NUM}\s*%?){_OF_STEPS}",
    rf"{_USE}\s+{PRIORS}\s+(?:for|through|during)\s+(?:the\s+)?(?:whole|entire|full)\s+(?:generation|time|process|run|way)",
    rf"{_USE}\s+{PRIORS}\s+(?:for|on|in)\s+all\s+(?:the\s+)?steps",
)
def stop(m: Match, ctx: Context) -> list[Any]:
    if first(m, "a"):
        return _range(ctx, m["priors"], _part(m["a"]), _part(m["b"]))
    at = first(m, "at", "at2")
    if at is None:
        return _range(ctx, m["priors"], 0.0, 1.0)
    value = 0.5 if "half" in at.lower() else _part(at)
    if first(m, "verb"):
        return _range(ctx, m["priors"], value, None)
    return _range(ctx, m["priors"], None, value)
