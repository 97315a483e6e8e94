"""The agent's prompts are text files in image_interpreter/prompts, filled by load_prompt."""

from __future__ import annotations

from importlib.resources import files

import pytest

from image_interpreter.errors import ImageInterpreterError
from image_interpreter.prompts import load_prompt

FILLED = {
    "system": {"priors": "PRIORS"},
    "tool_guidance": {"max_tool_calls": "6"},
    "react": {"tools": "TOOLS", "tool_names": "a, b"},
    "repair": {"problem": "PROBLEM", "expected": "EXPECTED"},
    "repair_tools": {"problem": "PROBLEM", "expected": "EXPECTED"},
    "summary": {"words": "120", "previous": "BEFORE", "turns": "TURNS"},
}


@pytest.mark.parametrize("name", FILLED)
def test_every_agent_prompt_fills_all_its_placeholders(name):
    text = load_prompt(name, **FILLED[name])
    assert "$" not in text
    for value in FILLED[name].values():
        assert value in text


@pytest.mark.parametrize("name", FILLED)
def test_every_placeholder_is_required(name):
    values = FILLED[name]
    for missing in values:
        partial = {k: v for k, v in values.items() if k != missing}
        with pytest.raises(ImageInterpreterError, match=rf"\${missing}"):
            load_prompt(name, **partial)


def test_the_system_prompt_keeps_its_priors_contract():
    source = files("image_interpreter.prompts").joinpath("system.txt").read_text("utf-8")
    assert "$priors" in source


def test_the_react_format_names_the_protocol_lines():
    text = load_prompt("react", **FILLED["react"])
    for line in ("Thought:", "Action:", "Action Input:", "Observation:", "Final Answer:"):
        assert line in text
    assert "one of: a, b" in text


def test_repair_prompts_say_what_was_wrong_and_what_is_expected():
    text = load_prompt("repair", problem="The JSON is not closed.", expected="Action: x")
    assert text.startswith("Your last reply could not be used: The JSON is not closed.")
    assert "Action: x" in text and "Final Answer:" in text
