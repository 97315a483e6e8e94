"""LangChain tools: thin, typed wrappers over a `Session`; the argument model and the description
(prompts/tools/<name>.txt) are the whole contract the LLM sees. They take session-scoped handles
(image ids, version numbers, generation ids, candidate indices), never paths or URLs.

    box = Toolbox(session, store, Services(settings))
    agent = Agent(session, make_tools(box), backend, describe_priors=describe_priors)
"""

from __future__ import annotations

from langchain_core.tools import BaseTool

from image_interpreter.tools import ask, commands, generation, history, priors
from image_interpreter.tools.base import ToolError, make_tool, tool_description
from image_interpreter.tools.context import Services, Toolbox
from image_interpreter.tools.describe import describe_kinds, describe_person, describe_priors

TOOL_NAMES: tuple[str, ...] = (
    "extract_priors",
    "describe_priors",
    "edit",
    "apply_edits",
    "set_prior",
    "generate",
    "choose_candidate",
    "ask_about_object",
    "upscale",
    "interpolate",
    "undo",
    "redo",
    "go_to_version",
    "history",
    "export_session",
)


def make_tools(box: Toolbox) -> list[BaseTool]:
    """Every tool, bound to `box`'s session, in the order of TOOL_NAMES."""
    made = [
        *priors.tools(box),
        *commands.tools(box),
        *generation.tools(box),
        *ask.tools(box),
        *history.tools(box),
    ]
    by_name = {tool.name: tool for tool in made}
    return [by_name[name] for name in TOOL_NAMES]


__all__ = [
    "TOOL_NAMES",
    "Services",
    "ToolError",
    "Toolbox",
    "describe_kinds",
    "describe_person",
    "describe_priors",
    "make_tool",
    "make_tools",
    "tool_description",
]
