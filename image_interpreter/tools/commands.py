"""The `edit` tool: the editor's own command language for the LLM.

Its one argument is plain commands ("raise her left arm; drop the depth map; at sunset"), read
by the built-in interpreter exactly as if the user had typed them, so what the LLM writes is
checked by the same rules and the reply says what was understood. When any part is not
understood (or cannot apply) nothing changes, and the error names the part, so the LLM can
say it differently or fall back to `apply_edits` (typed edits) for what the commands cannot say.
A few words cost the model far fewer tokens than the typed `Edit` union's JSON schema.
"""

from __future__ import annotations

from langchain_core.tools import BaseTool
from pydantic import Field

from image_interpreter.agent.commands import MIN_CONFIDENCE, run_actions
from image_interpreter.agent.interpreter import Generate, Help, ShowPriors, interpret
from image_interpreter.tools.base import Args, ToolError, make_tool
from image_interpreter.tools.context import Toolbox

NOT_HERE = (Generate, Help, ShowPriors)  # other tools do these (generate, describe_priors)


class EditCommandsArgs(Args):
    commands: str = Field(
        min_length=1,
        max_length=2000,
        description="Commands separated by ';'.",
    )


def tools(box: Toolbox) -> list[BaseTool]:
    def edit(commands: str) -> str:
        session = box.session
        reading = interpret(commands, session.current, history=list(session.history()))
        reading = reading.model_copy(
            update={"actions": [a for a in reading.actions if not isinstance(a, NOT_HERE)]}
        )
        understood = "; ".join(reading.understood)
        if reading.unparsed or reading.confidence < MIN_CONFIDENCE or not reading.actions:
            said = "; ".join(f"“{u}”" for u in reading.unparsed)
            parts = [f"Not understood: {said}." if said else "Nothing to edit in that."]
            if reading.problems:
                parts.append(" ".join(reading.problems))
            if understood:
                parts.append(f"Understood: {understood}.")
            parts.append(
                "Nothing was changed. Say it as short commands (“raise her left arm a bit”,"
                " “depth weight 0.5”, “at sunset”) or use apply_edits."
            )
            raise ToolError(" ".join(parts))
        outcome = run_actions(session, reading, min_confidence=MIN_CONFIDENCE)
        if not outcome.executed:
            raise ToolError(f"{outcome.reply} Understood: {understood}.")
        return f"Understood: {understood}.\n{outcome.reply}"

    return [make_tool("edit", EditCommandsArgs, edit)]
