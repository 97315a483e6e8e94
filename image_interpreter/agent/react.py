"""The ReAct text protocol, for models without native tool calling (OpenAssistant and other
chat models on TGI's /generate):

    Thought: the depth map should matter less
    Action: set_weight
    Action Input: {"kind": "depth", "weight": 0.5}

then, after `Observation: <what the tool said>`, either another action or

    Final Answer: I halved the depth map's weight.

`parse_reply` reads what models really write, not only the ideal: code fences, markdown bold
labels, single quotes, trailing commas, Python literals, unquoted keys, `key=value` lists,
function-call style (`set_weight(kind="depth", weight=0.5)`), LangChain's JSON blob
(`{"action": ..., "action_input": ...}`), prose around the JSON, an `Observation:` the model
invented, and no `Action Input` for a tool that takes no arguments. What it cannot read comes
back as `Malformed` with a sentence saying exactly what was wrong, for one repair round.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from image_interpreter.agent.llm.base import OnToken
from image_interpreter.prompts import load_prompt
from image_interpreter.tools.compact import ToolSpec, compact_spec

Tool = BaseTool | ToolSpec
"""A LangChain tool, or its compact view (what the prompt lists and the parser checks)."""

STOP = ("Observation:",)
"""Where the model's step ends: the observation is ours to write."""


@dataclass(frozen=True)
class Action:
    """Call `tool` with `args`."""

    tool: str
    args: dict[str, Any]
    thought: str = ""
    raw: str = ""
    call_id: str = ""  # the server's id of a native tool call


@dataclass(frozen=True)
class Final:
    """The answer for the user. `labelled`: it came after `Final Answer:` (else it was prose)."""

    answer: str
    thought: str = ""
    labelled: bool = True


@dataclass(frozen=True)
class Malformed:
    """A reply that is neither a usable action nor an answer; `problem` says why, in a sentence
    meant for the model (the repair prompt) and, if repair fails, for the user."""

    problem: str
    raw: str
    tool: str | None = None


Step = Action | Final | Malformed


# --- the tools, as the prompt lists them ------------------------------------------------------


def tool_schema(tool: Tool) -> dict[str, Any]:
    """The tool's argument JSON schema, without titles (noise for a model)."""
    if isinstance(tool, ToolSpec):
        return tool.parameters
    parameters = convert_to_openai_tool(tool)["function"].get("parameters", {})
    return _strip_titles(parameters)


def _strip_titles(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_titles(v) for k, v in value.items() if k != "title"}
    if isinstance(value, list):
        return [_strip_titles(v) for v in value]
    return value


def _type(schema: dict[str, Any]) -> str:
    """A field's type in a few characters: `"a"|"b"`, `{x, y?}`, `[string]`, `number 0-2`."""
    if "enum" in schema:
        return "|".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type") or "value"
    properties = schema.get("properties")
    if kind == "object" and properties:
        required = set(schema.get("required") or [])
        return "{" + ", ".join(n if n in required else f"{n}?" for n in properties) + "}"
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"[{_type(schema['items'])}]"
    low, high = schema.get("minimum"), schema.get("maximum")
    if kind in ("number", "integer") and low is not None and high is not None and high < 1e6:
        return f"{kind} {low:g}-{high:g}"
    return str(kind)


def describe_tools(tools: Sequence[Tool]) -> str:
    """One compact entry per tool: `name(arg: type, optional?: type): what it does`, then what
    each required argument is. Short by design: the prompt must fit a 2,048-token model."""
    parts = []
    for tool in tools:
        spec = compact_spec(tool)
        properties = spec.parameters.get("properties") or {}
        required = set(spec.parameters.get("required") or [])
        args = ", ".join(
            f"{name}{'' if name in required else '?'}: {_type(field)}"
            for name, field in properties.items()
        )
        line = f"{spec.name}({args}): {spec.description}"
        notes = [
            f"{name}: {field['description']}"
            for name, field in properties.items()
            if name in required and field.get("description")
        ]
        if notes:
            line += "\n  " + " ".join(notes)
        parts.append(line)
    return "\n".join(parts)


def react_instructions(tools: Sequence[Tool], others: Sequence[str] = ()) -> str:
    """The ReAct format prompt with the tools listed (`others`: tools that can be called by
    name though not described this turn)."""
    names = [tool.name for tool in tools]
    listed = describe_tools(tools)
    if others:
        listed += "\nAlso callable by name: " + ", ".join(others) + "."
    return load_prompt("react", tools=listed, tool_names=", ".join(names))


def example_input(tool: Tool) -> str:
    """A skeleton of the tool's Action Input: `{"kind": <string>, "weight": <number>}`."""
    schema = tool_schema(tool)
    properties = schema.get("properties") or {}
    if not properties:
        return "{}"
    required = set(schema.get("required") or properties)
    items = []
    for name, spec in properties.items():
        if name not in required:
            continue
        if "enum" in spec:
            kind = "one of " + ", ".join(json.dumps(v) for v in spec["enum"])
        else:
            kind = str(spec.get("type") or "value")
        items.append(f'"{name}": <{kind}>')
    return "{" + ", ".join(items) + "}"


def repair_prompt(problem: str, tools: Sequence[Tool], tool: str | None = None) -> str:
    """What to tell the model after a malformed step: what was wrong and the format expected."""
    known = {t.name: t for t in tools}
    target = known.get(tool or "")
    if target is not None:
        expected = f"Action: {target.name}\nAction Input: {example_input(target)}"
    else:
        expected = "Action: <one of: " + ", ".join(known) + ">\nAction Input: {<JSON object>}"
    return load_prompt("repair", problem=problem, expected=expected)


# --- reading the model's reply ----------------------------------------------------------------

_DECOR = r"[ \t>*_#`-]*"  # markdown bold, bullets, headings, quotes before a label
_COLON = r"[ \t]*[*_]*[ \t]*[:：][*_]*[ \t]*"
_INPUT_NAMES = (
    r"action[ \t_-]*input|action[ \t_-]*args?|action[ \t_-]*arguments|tool[ \t_-]*input"
    r"|arguments|args|input|parameters"
)
LABELS = {
    "thought": re.compile(rf"^{_DECOR}thoughts?{_COLON}", re.IGNORECASE | re.MULTILINE),
    "input": re.compile(rf"^{_DECOR}(?:{_INPUT_NAMES}){_COLON}", re.IGNORECASE | re.MULTILINE),
    "action": re.compile(
        rf"^{_DECOR}(?:action|tool)(?![ \t_-]*(?:input|args?|arguments)\b){_COLON}",
        re.IGNORECASE | re.MULTILINE,
    ),
    "final": re.compile(rf"^{_DECOR}final[ \t_-]*answer{_COLON}", re.IGNORECASE | re.MULTILINE),
    "observation": re.compile(rf"^{_DECOR}observations?{_COLON}", re.IGNORECASE | re.MULTILINE),
}
_SPECIAL = re.compile(r"<\|(?:endoftext|assistant|prompter|system|im_end|im_start|eot_id)\|>|</s>")
_FENCE = re.compile(r"```[ \t]*[\w-]*[ \t]*\n?(.*?)```", re.DOTALL)


def parse_reply(text: str, tools: Sequence[Tool]) -> Step:
    """Read one model step (see the module docstring)."""
    known = {t.name: t for t in tools}
    raw = text
    text = _SPECIAL.sub("", text).replace("\r\n", "\n").strip()
    if not text:
        return Malformed("The reply was empty.", raw)

    blob = _json_blob(text, known, raw)
    if blob is not None:
        return blob

    found = {name: _first(pattern, text) for name, pattern in LABELS.items()}
    action_at = found["action"]
    final_at = found["final"]
    thought = _section(text, found["thought"], LABELS["thought"]) if found["thought"] else ""

    if action_at is not None and (final_at is None or action_at[0] < final_at[0]):
        return _action(text, action_at, known, thought, raw)
    if final_at is not None:
        answer = _section(
            text, final_at, LABELS["final"], until=("thought", "action", "observation")
        )
        answer = answer.strip()
        if not answer:
            return Malformed("“Final Answer:” is there but the answer after it is empty.", raw)
        return Final(answer, thought)
    if found["input"] is not None:
        return Malformed("There is an “Action Input:” but no “Action:” line naming the tool.", raw)
    called = _bare_call(text, known, thought, raw)
    if called is not None:
        return called
    if found["thought"] is not None:
        return Malformed(
            "There is a “Thought:” but neither an “Action:” (with its “Action Input:”) nor a"
            " “Final Answer:”.",
            raw,
        )
    # Plain prose: the model answered without the protocol. Take it as the answer.
    return Final(text, thought, labelled=False)


def _first(pattern: re.Pattern[str], text: str) -> tuple[int, int] | None:
    match = pattern.search(text)
    return (match.start(), match.end()) if match else None


def _section(
    text: str,
    at: tuple[int, int],
    pattern: re.Pattern[str],
    until: Sequence[str] = ("thought", "action", "input", "final", "observation"),
) -> str:
    """The text after a label, up to the next label of the kinds in `until`."""
    start = at[1]
    end = len(text)
    for name in until:
        match = LABELS[name].search(text, start)
        if match and match.start() < end:
            end = match.start()
    return text[start:end].strip()


def _strip_labels(text: str, *names: str) -> str:
    for name in names:
        text = LABELS[name].sub("", text)
    return text


def _clean_name(name: str) -> str:
    name = name.strip().strip("`*_\"'[]<>.:; ").strip()
    return name


def _resolve(name: str, known: dict[str, Tool]) -> str | None:
    """The tool named, forgiving case, spaces/hyphens for underscores and a trailing '()'."""
    if name in known:
        return name
    wanted = re.sub(r"[\s-]+", "_", name.removesuffix("()")).lower()
    for real in known:
        if real.lower() == wanted:
            return real
    return None


def _unknown(name: str, known: dict[str, Tool], raw: str) -> Malformed:
    listed = ", ".join(known) or "(none)"
    return Malformed(f"There is no tool named “{name}”. The tools are: {listed}.", raw)


def _action(
    text: str,
    at: tuple[int, int],
    known: dict[str, Tool],
    thought: str,
    raw: str,
) -> Step:
    line_end = text.find("\n", at[1])
    line = text[at[1] : line_end if line_end != -1 else len(text)].strip()
    if not line and line_end != -1:  # the name on the next line ("Action:\nset_weight")
        following = text[line_end + 1 :].lstrip("\n").split("\n", 1)[0].strip()
        if not any(p.match(following) for p in LABELS.values()):
            line = following
    inline_args: Any = None
    has_inline = False
    # `Action: set_weight(kind="depth")` or `Action: set_weight {"kind": "depth"}`
    call = re.match(r"^[`*]*([A-Za-z_][\w .-]*?)[`*]*\s*(\(.*\)|\{.*\})?\s*[`*]*\s*$", line)
    if call is None:
        name = _clean_name(line.split()[0] if line.split() else "")
    else:
        name = _clean_name(call.group(1))
        if call.group(2):
            has_inline = True
            inline_args = call.group(2)
    if not name:
        return Malformed("The “Action:” line does not name a tool.", raw)
    tool_name = _resolve(name, known)
    if tool_name is None:
        return _unknown(name, known, raw)
    tool = known[tool_name]

    input_at = None
    for match in LABELS["input"].finditer(text, at[1]):
        input_at = (match.start(), match.end())
        break
    if has_inline:
        try:
            args = (
                _call_args(inline_args, tool)
                if inline_args.startswith("(")
                else loads_tolerant(inline_args)
            )
        except ValueError as error:
            return Malformed(
                f"The arguments of {tool_name} could not be read: {error}", raw, tool_name
            )
    elif input_at is not None:
        segment = _section(
            text, input_at, LABELS["input"], until=("thought", "action", "final", "observation")
        )
        if not segment or segment.lower() in ("none", "{}", "null", "n/a", '""'):
            args = {}
        else:
            try:
                args = _input_value(segment, tool)
            except ValueError as error:
                return Malformed(
                    f"The Action Input of {tool_name} could not be read: {error}", raw, tool_name
                )
    else:
        args = {}
    if not isinstance(args, dict):
        return Malformed(
            f"The Action Input of {tool_name} must be a JSON object, not {json.dumps(args)}.",
            raw,
            tool_name,
        )
    missing = _missing(tool, args)
    if missing and input_at is None and not has_inline:
        return Malformed(
            f"The “Action Input:” line is missing; {tool_name} needs "
            + ", ".join(f"“{m}”" for m in missing)
            + ".",
            raw,
            tool_name,
        )
    return Action(tool_name, args, thought, raw)


def _missing(tool: Tool, args: dict[str, Any]) -> list[str]:
    schema = tool_schema(tool)
    return [name for name in schema.get("required") or [] if name not in args]


def _input_value(segment: str, tool: Tool) -> Any:
    """The Action Input as arguments: a JSON(-ish) object, `key=value` pairs, or a lone value
    for a tool with one argument."""
    segment = _unfence(segment).strip()
    properties = list((tool_schema(tool).get("properties") or {}).keys())
    if "{" in segment or segment.startswith("["):
        return loads_tolerant(segment)
    pairs = _pairs(segment)
    if pairs is not None:
        return pairs
    if len(properties) == 1:
        first_line = segment.splitlines()[0].strip()
        try:
            value = json.loads(first_line)
        except json.JSONDecodeError:
            value = first_line.strip("\"'`")
        return {properties[0]: value}
    raise ValueError(
        f"expected a JSON object such as {example_input(tool)}, got “{_snippet(segment)}”"
    )


_PAIR = re.compile(
    r"""\s*([A-Za-z_]\w*)\s*[=:]\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,\n]+?)\s*(?:,|\n|$)"""
)


def _pairs(segment: str) -> dict[str, Any] | None:
    """`kind=depth, weight=0.5` (or `kind: depth`) as a dict; None when it is not only pairs."""
    position, found = 0, {}
    text = segment.strip()
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None or match.end() == position:
            return None
        found[match.group(1)] = _scalar(match.group(2))
        position = match.end()
    return found or None


def _scalar(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _call_args(text: str, tool: Tool) -> dict[str, Any]:
    """`(kind="depth", weight=0.5)` or `({"kind": "depth"})` as arguments."""
    inner = text[1:-1].strip()
    if not inner:
        return {}
    if inner.startswith("{"):
        value = loads_tolerant(inner)
        if not isinstance(value, dict):
            raise ValueError("expected one JSON object in the parentheses")
        return value
    try:
        node = ast.parse(f"f({inner})", mode="eval").body
    except SyntaxError as error:
        raise ValueError(f"“{_snippet(inner)}” is not a list of name=value arguments") from error
    assert isinstance(node, ast.Call)
    properties = list((tool_schema(tool).get("properties") or {}).keys())
    args: dict[str, Any] = {}
    try:
        for index, value in enumerate(node.args):
            if index >= len(properties):
                raise ValueError(f"{tool.name} takes at most {len(properties)} arguments")
            args[properties[index]] = _literal(value)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise ValueError("**arguments are not allowed")
            args[keyword.arg] = _literal(keyword.value)
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"the arguments are not plain values ({error})") from error
    return args


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Name) and node.id in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[node.id]
    if isinstance(node, ast.Name):
        return node.id  # an unquoted word: take it as a string (kind=depth)
    return ast.literal_eval(node)


def _json_blob(text: str, known: dict[str, Tool], raw: str) -> Step | None:
    """LangChain's structured-chat blob or an OpenAI-style call written as text:
    {"action": "set_weight", "action_input": {...}} / {"name": ..., "arguments": {...}}."""
    body = _unfence(text).strip()
    if not body.startswith("{"):
        return None
    try:
        value = loads_tolerant(body)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    name = value.get("action") or value.get("name") or value.get("tool") or value.get("tool_name")
    if not isinstance(name, str):
        return None
    args: Any = None
    for key in ("action_input", "arguments", "args", "parameters", "input", "tool_input"):
        if key in value:
            args = value[key]
            break
    if name.strip().lower() in ("final answer", "final_answer", "finalanswer"):
        answer = args if isinstance(args, str) else json.dumps(args)
        return Final(answer.strip()) if answer and answer.strip() else None
    tool_name = _resolve(_clean_name(name), known)
    if tool_name is None:
        return _unknown(name, known, raw)
    if isinstance(args, str):
        try:
            args = loads_tolerant(args) if args.strip() else {}
        except ValueError:
            try:
                args = _input_value(args, known[tool_name])
            except ValueError as error:
                return Malformed(
                    f"The arguments of {tool_name} could not be read: {error}", raw, tool_name
                )
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return Malformed(
            f"The arguments of {tool_name} must be a JSON object, not {json.dumps(args)}.",
            raw,
            tool_name,
        )
    return Action(tool_name, args, "", raw)


def _bare_call(text: str, known: dict[str, Tool], thought: str, raw: str) -> Step | None:
    """A reply that is only a call: `set_weight(kind="depth", weight=0.5)` or
    `set_weight {"kind": "depth"}` (possibly fenced, after a Thought)."""
    body = _unfence(_strip_labels(text, "thought")).strip()
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        return None
    candidate = lines[-1].strip().strip("`")
    match = re.match(r"^([A-Za-z_]\w*)\s*(\(.*\)|\{.*\})\s*$", candidate)
    if match is None or _resolve(match.group(1), known) is None:
        return None
    tool_name = _resolve(match.group(1), known)
    assert tool_name is not None
    try:
        inner = match.group(2)
        args = (
            _call_args(inner, known[tool_name]) if inner.startswith("(") else loads_tolerant(inner)
        )
    except ValueError as error:
        return Malformed(f"The arguments of {tool_name} could not be read: {error}", raw, tool_name)
    if not isinstance(args, dict):
        return Malformed(f"The arguments of {tool_name} must be a JSON object.", raw, tool_name)
    return Action(tool_name, args, thought, raw)


# --- tolerant JSON ----------------------------------------------------------------------------


def _unfence(text: str) -> str:
    match = _FENCE.search(text)
    if match:
        return match.group(1)
    # an opening fence never closed (the reply was cut at a stop sequence)
    return re.sub(r"^```[ \t]*[\w-]*[ \t]*\n?", "", text.strip())


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _balanced(text: str) -> str:
    """The first {...} or [...] in `text`, respecting quoted strings."""
    start = min((i for i in (text.find("{"), text.find("[")) if i != -1), default=-1)
    if start == -1:
        raise ValueError(f"there is no JSON object in “{_snippet(text)}”")
    depth, quote, escaped = 0, "", False
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
    raise ValueError(
        "the JSON object is not closed (a “}” is missing; was the reply cut off?):"
        f" “{_snippet(text[start:])}”"
    )


_PY_WORDS = {"True": "true", "False": "false", "None": "null"}


def _repair(text: str) -> str:
    """JSON from almost-JSON: single-quoted strings, Python literals, unquoted keys, trailing
    commas, // comments. Strings are copied as they are (only re-quoted)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "\"'":
            j, buf = i + 1, []
            while j < n and text[j] != char:
                c = text[j]
                if c == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    buf.append("'" if (nxt == "'" and char == "'") else c + nxt)
                    j += 2
                    continue
                buf.append('\\"' if (c == '"' and char == "'") else c)
                j += 1
            out.append('"' + "".join(buf) + '"')
            i = j + 1
            continue
        if char == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        if char == "," and re.match(r",\s*[}\]]", text[i:]):
            i += 1
            continue
        if char.isalpha() or char == "_":
            match = re.match(r"[A-Za-z_][\w-]*", text[i:])
            assert match is not None
            word = match.group(0)
            after = text[i + len(word) :].lstrip()
            if after.startswith(":"):
                out.append(json.dumps(word))
            else:
                out.append(_PY_WORDS.get(word, word))
            i += len(word)
            continue
        out.append(char)
        i += 1
    return "".join(out)


def loads_tolerant(text: str) -> Any:
    """The first JSON object (or array) in `text`, forgiving what models get wrong; ValueError
    with a readable reason otherwise."""
    body = _balanced(_unfence(text))
    try:
        return json.loads(body)
    except json.JSONDecodeError as first:
        problem = f"{first.msg} at character {first.pos}"
    try:
        return json.loads(_repair(body))
    except json.JSONDecodeError:
        pass
    try:
        value = ast.literal_eval(body)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(f"“{_snippet(body)}” is not valid JSON ({problem})") from None
    return value


# --- streaming only the answer ----------------------------------------------------------------


@dataclass
class AnswerStream:
    """Passes on streamed text only once `Final Answer:` has appeared, so a UI shows the answer
    as it is written and never the Thought/Action lines."""

    target: OnToken
    buffer: str = ""
    open: bool = False
    sent: list[str] = field(default_factory=list)

    def __call__(self, piece: str) -> None:
        if self.open:
            self._send(piece)
            return
        self.buffer += piece
        match = LABELS["final"].search(self.buffer)
        if match:
            self.open = True
            rest = self.buffer[match.end() :].lstrip()
            if rest:
                self._send(rest)

    def _send(self, text: str) -> None:
        if not self.sent:
            text = text.lstrip()
            if not text:
                return
        self.sent.append(text)
        self.target(text)

    def reset(self) -> None:
        """A new model step begins."""
        self.buffer = ""
        self.open = False

    @property
    def streamed(self) -> bool:
        return bool(self.sent)
