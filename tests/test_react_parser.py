"""The ReAct parser reads what models really write: the replies below are in the shapes seen from
OpenAssistant, Llama-2-chat, Mistral-instruct and Falcon-instruct models, quirks included."""

from __future__ import annotations

import pytest
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from image_interpreter.agent.react import (
    Action,
    AnswerStream,
    Final,
    Malformed,
    describe_tools,
    loads_tolerant,
    parse_reply,
    react_instructions,
    repair_prompt,
)


class WeightArgs(BaseModel):
    kind: str = Field(description="Which prior.")
    weight: float = Field(ge=0, le=2)


class CaptionArgs(BaseModel):
    text: str


def _noop(**_: object) -> str:
    return "ok"


TOOLS = [
    StructuredTool.from_function(
        _noop, name="set_weight", args_schema=WeightArgs, description="Set a prior's weight."
    ),
    StructuredTool.from_function(lambda: "ok", name="show_priors", description="Show priors."),
    StructuredTool.from_function(
        _noop, name="set_caption", args_schema=CaptionArgs, description="Replace the caption."
    ),
]
WEIGHT = {"kind": "depth", "weight": 0.5}

ACTIONS = {
    "canonical": (
        'Thought: lower the depth\nAction: set_weight\nAction Input: {"kind": "depth",'
        ' "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "whole reply fenced": (
        '```\nThought: ok\nAction: set_weight\nAction Input: {"kind": "depth", "weight": 0.5}\n```',
        "set_weight",
        WEIGHT,
    ),
    "input fenced as json": (
        'Action: set_weight\nAction Input:\n```json\n{"kind": "depth", "weight": 0.5}\n```',
        "set_weight",
        WEIGHT,
    ),
    "single quotes": (
        "Action: set_weight\nAction Input: {'kind': 'depth', 'weight': 0.5}",
        "set_weight",
        WEIGHT,
    ),
    "trailing comma": (
        'Action: set_weight\nAction Input: {"kind": "depth", "weight": 0.5,}',
        "set_weight",
        WEIGHT,
    ),
    "apostrophe inside a single-quoted string's neighbour": (
        "Action: set_caption\nAction Input: {'text': \"a dog's red ball\"}",
        "set_caption",
        {"text": "a dog's red ball"},
    ),
    "escaped quote in single quotes": (
        "Action: set_caption\nAction Input: {'text': 'the dog\\'s ball'}",
        "set_caption",
        {"text": "the dog's ball"},
    ),
    "unquoted keys": (
        'Action: set_weight\nAction Input: {kind: "depth", weight: 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "prose after the json": (
        'Action: set_weight\nAction Input: {"kind": "depth", "weight": 0.5} (halves its pull)',
        "set_weight",
        WEIGHT,
    ),
    "prose before the thought": (
        'Sure! Happy to help.\n\nThought: lower it\nAction: set_weight\nAction Input: {"kind":'
        ' "depth", "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "markdown bold labels": (
        '**Thought:** lower it\n**Action:** set_weight\n**Action Input:** {"kind": "depth",'
        ' "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "bold with colon inside": (
        '**Action**: set_weight\n**Action Input**: {"kind": "depth", "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "backticks around the name": (
        'Action: `set_weight`\nAction Input: `{"kind": "depth", "weight": 0.5}`',
        "set_weight",
        WEIGHT,
    ),
    "lower-case labels, odd case name": (
        'thought: hm\naction: Set_Weight\naction input: {"kind": "depth", "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "name with spaces": (
        'Action: set weight\nAction Input: {"kind": "depth", "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "invented observation and answer after the call": (
        'Action: set_weight\nAction Input: {"kind": "depth", "weight": 0.5}\nObservation: done'
        "\nThought: I know\nFinal Answer: all done",
        "set_weight",
        WEIGHT,
    ),
    "no Action Input for a tool without arguments": (
        "Thought: look first\nAction: show_priors",
        "show_priors",
        {},
    ),
    "Action Input: none": ("Action: show_priors\nAction Input: none", "show_priors", {}),
    "Action Input: {}": ("Action: show_priors\nAction Input: {}", "show_priors", {}),
    "function-call style on the Action line": (
        "Action: set_weight(kind='depth', weight=0.5)",
        "set_weight",
        WEIGHT,
    ),
    "function call with positional arguments": (
        'Action: set_weight("depth", 0.5)',
        "set_weight",
        WEIGHT,
    ),
    "bare function call, no labels": (
        'Thought: lower it\nset_weight(kind="depth", weight=0.5)',
        "set_weight",
        WEIGHT,
    ),
    "name and json on the Action line": (
        'Action: set_weight {"kind": "depth", "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "langchain structured-chat blob": (
        '```json\n{"action": "set_weight", "action_input": {"kind": "depth", "weight": 0.5}}\n```',
        "set_weight",
        WEIGHT,
    ),
    "openai-style call written as text": (
        '{"name": "set_weight", "arguments": {"kind": "depth", "weight": 0.5}}',
        "set_weight",
        WEIGHT,
    ),
    "blob whose input is a json string": (
        '{"action": "set_weight", "action_input": "{\\"kind\\": \\"depth\\", \\"weight\\": 0.5}"}',
        "set_weight",
        WEIGHT,
    ),
    "key=value pairs": (
        "Action: set_weight\nAction Input: kind=depth, weight=0.5",
        "set_weight",
        WEIGHT,
    ),
    "yaml-ish pairs": (
        "Action: set_weight\nAction Input: kind: depth, weight: 0.5",
        "set_weight",
        WEIGHT,
    ),
    "a lone string for a one-argument tool": (
        'Action: set_caption\nAction Input: "a rainy street at night"',
        "set_caption",
        {"text": "a rainy street at night"},
    ),
    "pretty-printed json over lines": (
        'Action: set_weight\nAction Input: {\n  "kind": "depth",\n  "weight": 0.5\n}\n',
        "set_weight",
        WEIGHT,
    ),
    "special tokens left in": (
        '<|assistant|>Action: set_weight\nAction Input: {"kind": "depth", "weight": 0.5}'
        "<|endoftext|>",
        "set_weight",
        WEIGHT,
    ),
    "Action_Input with an underscore and a space before the colon": (
        'Action : set_weight\nAction_Input : {"kind": "depth", "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "a // comment in the json": (
        'Action: set_weight\nAction Input: {"kind": "depth", // the depth map\n "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "windows line ends": (
        'Thought: x\r\nAction: set_weight\r\nAction Input: {"kind": "depth", "weight": 0.5}\r\n',
        "set_weight",
        WEIGHT,
    ),
    "the name on the line after Action:": (
        'Action:\nset_weight\nAction Input: {"kind": "depth", "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
    "python literals": (
        "Action: set_caption\nAction Input: {'text': 'x', 'extra': None, 'flag': True}",
        "set_caption",
        {"text": "x", "extra": None, "flag": True},
    ),
    "bullet before the labels": (
        '- Action: set_weight\n- Action Input: {"kind": "depth", "weight": 0.5}',
        "set_weight",
        WEIGHT,
    ),
}


@pytest.mark.parametrize("reply,tool,args", ACTIONS.values(), ids=ACTIONS.keys())
def test_actions_are_read_from_real_looking_replies(reply, tool, args):
    step = parse_reply(reply, TOOLS)
    assert isinstance(step, Action), step
    assert (step.tool, step.args) == (tool, args)


FINALS = {
    "labelled": ("Thought: nothing to do\nFinal Answer: Hello there!", "Hello there!", True),
    "several lines": (
        "Final Answer:\nFirst line.\nSecond line.",
        "First line.\nSecond line.",
        True,
    ),
    "bold label": ("**Final Answer:** Done.", "Done.", True),
    "plain prose without the protocol": ("I can't change the weather.", None, False),
    "final-answer blob": ('{"action": "Final Answer", "action_input": "Hi!"}', "Hi!", True),
    "answer that mentions an action later": (
        "Final Answer: Say 'Action: undo' to go back.",
        "Say 'Action: undo' to go back.",
        True,
    ),
    "answer with a trailing end token": ("Final Answer: Sure.<|endoftext|>", "Sure.", True),
}


@pytest.mark.parametrize("reply,answer,labelled", FINALS.values(), ids=FINALS.keys())
def test_final_answers(reply, answer, labelled):
    step = parse_reply(reply, TOOLS)
    assert isinstance(step, Final), step
    assert step.answer == (answer if answer is not None else reply)
    assert step.labelled is labelled


MALFORMED = {
    "empty": ("", "empty"),
    "only special tokens": ("<|endoftext|>", "empty"),
    "a thought and nothing else": ("Thought: I should lower the depth map.", "neither"),
    "unknown tool": (
        'Action: set_depth\nAction Input: {"value": 1}',
        "no tool named “set_depth”. The tools are: set_weight, show_priors, set_caption",
    ),
    "json cut off by the token limit": (
        'Action: set_weight\nAction Input: {"kind": "depth", "weight":',
        "not closed",
    ),
    "words instead of json": (
        "Action: set_weight\nAction Input: the depth one, halfway please",
        "expected a JSON object",
    ),
    "missing Action Input when arguments are needed": (
        "Thought: lower it\nAction: set_weight",
        "“Action Input:” line is missing; set_weight needs “kind”, “weight”",
    ),
    "Action Input without Action": (
        'Thought: hm\nAction Input: {"kind": "depth"}',
        "no “Action:” line",
    ),
    "an array instead of an object": (
        'Action: set_weight\nAction Input: ["depth", 0.5]',
        "must be a JSON object",
    ),
    "empty final answer": ("Thought: done\nFinal Answer:", "empty"),
    "action without a name": ("Action:\nAction Input: {}", "does not name a tool"),
    "broken function call": (
        "Action: set_weight(kind=depth weight=0.5)",
        "could not be read",
    ),
    "unknown tool in a blob": ('{"action": "paint", "action_input": {}}', "no tool named “paint”"),
    "hopeless json": (
        'Action: set_weight\nAction Input: {"kind" "depth" "weight" 0.5}',
        "not valid JSON",
    ),
}


@pytest.mark.parametrize("reply,problem", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_replies_say_exactly_what_is_wrong(reply, problem):
    step = parse_reply(reply, TOOLS)
    assert isinstance(step, Malformed), step
    assert problem in step.problem


def test_a_malformed_call_names_its_tool_so_the_repair_shows_its_arguments():
    step = parse_reply("Action: set_weight\nAction Input: {'kind': 'depth', 'weight'", TOOLS)
    assert isinstance(step, Malformed) and step.tool == "set_weight"
    prompt = repair_prompt(step.problem, TOOLS, step.tool)
    assert step.problem in prompt
    assert 'Action: set_weight\nAction Input: {"kind": <string>, "weight": <number>}' in prompt
    assert "Final Answer:" in prompt


def test_repair_without_a_known_tool_lists_them_all():
    prompt = repair_prompt("There is no tool named “x”.", TOOLS)
    assert "one of: set_weight, show_priors, set_caption" in prompt


@pytest.mark.parametrize(
    "text,value",
    [
        ('{"a": 1}', {"a": 1}),
        ("{'a': 'it\\'s'}", {"a": "it's"}),
        ('{"a": [1, 2,], "b": {"c": None,},}', {"a": [1, 2], "b": {"c": None}}),
        ('noise {"a": "}"} more', {"a": "}"}),
        ("```json\n{a: true}\n```", {"a": True}),
        ('{"quote": "say \\"hi\\""}', {"quote": 'say "hi"'}),
    ],
)
def test_loads_tolerant(text, value):
    assert loads_tolerant(text) == value


def test_loads_tolerant_explains_failures():
    with pytest.raises(ValueError, match="no JSON object"):
        loads_tolerant("nothing here")
    with pytest.raises(ValueError, match="not closed"):
        loads_tolerant('{"a": [1, 2')


def test_the_tools_are_listed_as_short_signatures():
    listed = describe_tools(TOOLS)
    assert "set_weight(kind: string, weight: number 0-2): Set a prior's weight." in listed
    assert "show_priors(): Show priors." in listed
    assert '"title"' not in listed and "properties" not in listed
    prompt = react_instructions(TOOLS)
    assert "one of: set_weight, show_priors, set_caption" in prompt
    assert listed in prompt and "Final Answer:" in prompt and "$" not in prompt
    others = react_instructions(TOOLS[:1], ["show_priors"])
    assert "Also callable by name: show_priors." in others and "show_priors()" not in others


def test_streaming_passes_on_only_the_final_answer():
    seen: list[str] = []
    stream = AnswerStream(seen.append)
    for piece in ["Thought: say hi\nFin", "al Ans", "wer: Hel", "lo", " there"]:
        stream(piece)
    assert "".join(seen) == "Hello there" and stream.streamed
    stream.reset()
    seen.clear()
    for piece in ["Action: show_priors\n", "Action Input: {}"]:
        stream(piece)
    assert seen == []
