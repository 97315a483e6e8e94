"""The tools as an LLM with a small context sees them: `ToolSpec`s, short by construction.

The LangChain tools (and the MCP server) keep their full descriptions and JSON schemas; an LLM
on a 2,048-token model cannot afford them (the typed `Edit` union's schema alone is thousands
of tokens). `compact_spec` makes the LLM's view of a tool: the first line of its description,
and its argument schema without titles, nulls and repetition, each field's description cut to
its first sentence, and a discriminated union (the edits) written as one line of signatures,
`rotate_limb(limb, degrees, person?)`. The tool still validates its full arguments when it
runs, and says what was wrong, so nothing is lost but tokens.

`select_tools` offers a turn only the tools it needs: `edit`, `generate` and `undo` always, the
others when the message mentions what they do.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

ALWAYS = ("edit", "generate", "undo")
"""Offered every turn: the command language, drawing, and taking a change back."""

MENTIONS: dict[str, str] = {
    "apply_edits": r"caption|style|look|feel|mood|atmospher|light|weather|rain|snow|fog|sun"
    r"|night|evening|morning|dusk|dawn|season|colou?r|object|replace|remove|move|pose|arm|leg"
    r"|hand|head|joint|person|people|man|woman|depth|background|seed|size|steps|guidance"
    r"|strength|negative|photo|paint|drawing|make (?:it|the|her|him|them)",
    "set_prior": r"weight|stronger|weaker|strength|switch|turn (?:on|off)|enable|disable|drop"
    r"|ignore|matter|prior|depth|edges?|segment|palette|pose|steps?",
    "describe_priors": r"describe|what (?:is|are|does)|how (?:is|are|does)|tell me|show|look"
    r" like|priors?|where",
    "extract_priors": r"extract|detect|find|analy[sz]e|depth|edges?|segment|objects?|caption"
    r"|tags?|palette|pose|people|person|img\d",
    "choose_candidate": r"candidate|choose|chose|pick|prefer|like (?:the|number)|keep|best"
    r"|first|second|third|fourth|last|one\b|#\d|number \d",
    "ask_about_object": r"\?|what colou?r|is (?:she|he|it|there)|does|holding|wearing|which"
    r"|ask|object|what kind",
    "upscale": r"upscal|bigger|larger|enlarge|sharper|resolution|4x|x4|high[ -]res|hd\b",
    "interpolate": r"interpolat|morph|blend|transition|frames?|animat|in between|between|video"
    r"|sequence",
    "redo": r"redo|again|back again|restore",
    "go_to_version": r"version|go back|back to|return to|earlier|checkout|branch",
    "history": r"history|versions?|what (?:did|have) (?:we|you)|changes|list|handles?|ids?\b"
    r"|generations?",
    "export_session": r"export|save|download|share|portable|archive|backup",
    "generate": r"generat|draw|render|picture|image|candidate|variation|paint",
}


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the LLM sees it: name, a short description, a small JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]

    def openai(self) -> dict[str, Any]:
        """OpenAI's function-calling format (what native tool calling sends)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


# Specs by (name, description, argument class): every session makes its own tools, but their
# specs are the same, and building one (pydantic's JSON schema) took ~110 ms per new session.
_SPECS: dict[tuple[str, str, type], ToolSpec] = {}
_SPECS_KEPT = 256


def compact_spec(tool: BaseTool | ToolSpec) -> ToolSpec:
    """The LLM's view of `tool` (see the module docstring)."""
    if isinstance(tool, ToolSpec):
        return tool
    schema = tool.args_schema
    key = (tool.name, tool.description, schema) if isinstance(schema, type) else None
    spec = _SPECS.get(key) if key is not None else None
    if spec is None:
        function = convert_to_openai_tool(tool)["function"]
        raw = function.get("parameters") or {"type": "object", "properties": {}}
        brief = first_sentence(tool.description or tool.name, limit=400)
        spec = ToolSpec(tool.name, brief, _compact(raw, raw))
        if key is not None:
            if len(_SPECS) >= _SPECS_KEPT:
                _SPECS.clear()
            _SPECS[key] = spec
    # Each caller gets its own parameters: they go on into LLM clients' request bodies, and a
    # change made there must not reach every later conversation.
    return ToolSpec(spec.name, spec.description, copy.deepcopy(spec.parameters))


def compact_specs(tools: Iterable[BaseTool | ToolSpec]) -> list[ToolSpec]:
    return [compact_spec(tool) for tool in tools]


def select_tools(
    message: str, specs: Sequence[ToolSpec], always: Sequence[str] = ALWAYS
) -> list[ToolSpec]:
    """The specs a message needs: `always`, those it names, those whose subject it mentions
    (MENTIONS), and any tool MENTIONS does not know (nothing says it is not needed); in the
    order given."""
    said = message.casefold()
    wanted = set(always)
    for spec in specs:
        pattern = MENTIONS.get(spec.name)
        named = spec.name in said or spec.name.replace("_", " ") in said
        if named or pattern is None or re.search(pattern, said):
            wanted.add(spec.name)
    return [spec for spec in specs if spec.name in wanted]


# --- schemas ----------------------------------------------------------------------------------

_DROP = {"title", "additionalProperties", "minLength", "maxLength"}


def first_sentence(text: str, limit: int = 110) -> str:
    """Up to the first full stop that ends a sentence (one followed by a capital or the end),
    so 'e.g. x' and 'umbrella? is she' do not end it early; cut at `limit` characters."""
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(?=\s+[A-Z]|\s*$)", text)
    sentence = match.group(1) if match else text
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), node)
    return node


def _union_line(node: dict[str, Any], root: dict[str, Any]) -> str | None:
    """`{"op": name, fields}, one of: a|b(x, y); c(z); optional fields: p, q` for a
    discriminated union: each variant's required fields (variants with the same ones share a
    signature), the optional fields named once. None when `node` is no such union."""
    discriminator = node.get("discriminator")
    variants = node.get("oneOf") or node.get("anyOf")
    if not isinstance(discriminator, dict) or not variants:
        return None
    key = discriminator.get("propertyName", "op")
    grouped: dict[str, list[str]] = {}
    optional: dict[str, None] = {}
    for variant in variants:
        variant = _resolve(variant, root)
        properties = variant.get("properties") or {}
        tag = properties.get(key, {})
        name = tag.get("const") or (tag.get("enum") or [None])[0] or tag.get("default")
        required = set(variant.get("required") or [])
        fields = ",".join(f for f in properties if f != key and f in required)
        optional.update((f, None) for f in properties if f != key and f not in required)
        grouped.setdefault(fields, []).append(str(name))
    signatures = [f"{'|'.join(names)}({fields})" for fields, names in grouped.items()]
    line = f'each {{"{key}": name, fields}}, {UNION_MARK} ' + "; ".join(signatures)
    return line + (f"; optional fields: {', '.join(optional)}" if optional else "")


UNION_MARK = "one of:"


def _compact(node: Any, root: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_compact(item, root) for item in node]
    if not isinstance(node, dict):
        return node
    node = _resolve(node, root)
    union = _union_line(node, root)
    if union is not None:
        return {"type": "object", "description": union}
    options = node.get("anyOf")
    if isinstance(options, list):
        real = [o for o in options if o != {"type": "null"}]
        if len(real) == 1:  # Optional[X]: the null is said by 'required'
            merged = {**{k: v for k, v in node.items() if k != "anyOf"}, **_resolve(real[0], root)}
            if "description" in node:
                merged["description"] = node["description"]
            return _compact(merged, root)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs" or (key == "default" and value is None):
            continue
        if key == "description" and isinstance(value, str):
            out[key] = first_sentence(value)
        elif key == "items" and isinstance(value, dict):
            item = _compact(value, root)
            union = item.get("description") if item.get("type") == "object" else None
            if union and UNION_MARK in union and len(item) == 2:  # the union says it all
                out[key] = {"type": "object"}
                out["description"] = union[0].upper() + union[1:]
            else:
                out[key] = item
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _compact(spec, root) for name, spec in value.items()}
        else:
            out[key] = _compact(value, root)
    return out


def spec_tokens(specs: Iterable[ToolSpec], count: Any) -> int:
    """What the specs cost as native tools (their JSON, as a server renders it)."""
    return sum(count(json.dumps(spec.openai())) for spec in specs)


# --- the priors -------------------------------------------------------------------------------


def compact_priors(priors: Any) -> str:
    """The priors in a few lines for a small context: every prior's switch and weight, the
    caption, objects, settings, and each person's pose in words (no joint coordinates:
    `describe_priors` gives those when asked)."""
    from image_interpreter.agent.commands import show_priors
    from image_interpreter.tools.describe import describe_person

    if priors is None:
        return "No priors yet: no photo has been loaded into this session."
    lines = show_priors(priors).splitlines()
    if priors.people is not None:
        aspect = priors.source.width / priors.source.height
        for number, person in enumerate(priors.people.people, 1):
            lines.append("  " + describe_person(person, number, aspect)[0])
    return "\n".join(lines)
