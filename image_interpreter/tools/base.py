"""Making a LangChain tool from an argument model, a description file and a function.

The description is `prompts/tools/<name>.txt`; the pydantic argument model is the schema the LLM
sees. A problem a user or the model can fix (a bad handle, an edit that cannot apply, a model
missing) is raised as `ToolError` or any `ImageInterpreterError` and comes back as the tool's
text, "Error: ...", for the model to read, never as a crash. Arguments that do not validate come
back the same way, naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.tools import StructuredTool, ToolException
from pydantic import BaseModel, ConfigDict, ValidationError

from image_interpreter.errors import ImageInterpreterError
from image_interpreter.prompts import load_prompt


class ToolError(ToolException):
    """A tool cannot do what was asked; the message says why and what to do instead."""


class Args(BaseModel):
    """Base of every tool's arguments: unknown arguments are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


def tool_description(name: str, **values: str) -> str:
    """The description of tool `name` (prompts/tools/<name>.txt), placeholders filled."""
    return load_prompt(f"tools/{name}", **values).strip()


def make_tool(
    name: str, args: type[Args], run: Callable[..., str], **values: str
) -> StructuredTool:
    """A StructuredTool called `name` whose errors come back as text."""

    def guarded(**kwargs: Any) -> str:
        try:
            return run(**kwargs)
        except ToolException:
            raise
        except ImageInterpreterError as error:
            raise ToolError(str(error)) from error

    return StructuredTool.from_function(
        func=guarded,
        name=name,
        description=tool_description(name, **values),
        args_schema=args,
        handle_tool_error=error_text,
        handle_validation_error=validation_text,
    )


def error_text(error: ToolException) -> str:
    return f"Error: {error}"


def validation_text(error: Any) -> str:
    """'Error: the arguments are not valid (edits.0.degrees: ...).' from a ValidationError."""
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
            for e in error.errors()[:4]
        )
        more = error.error_count() - 4
        if more > 0:
            problems += f" (and {more} more)"
    else:
        problems = str(error)
    return f"Error: the arguments are not valid ({problems}). Fix them and call again."
