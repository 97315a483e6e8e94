"""The tool that asks a question about the picture or one object in it (BLIP VQA through the
extraction service, so the same question twice runs no model)."""

from __future__ import annotations

from langchain_core.tools import BaseTool
from pydantic import Field

from image_interpreter.extract.extractors.captions import answer_question
from image_interpreter.priors.edits.objects import ObjectRef, find_object
from image_interpreter.tools.base import Args, ToolError, make_tool
from image_interpreter.tools.context import Toolbox
from image_interpreter.tools.handles import ImageHandle, current_priors, picture, session_image


class AskArgs(Args):
    question: str = Field(min_length=1, max_length=300, description="An open question.")
    object: ObjectRef | None = Field(
        None,
        description="The object it is about (by label, index from 1, or a point in it), as the"
        " priors list them; default: the whole picture.",
    )
    image: ImageHandle | None = Field(
        None, description="Which image, for a question about a whole picture; default: current."
    )


def tools(box: Toolbox) -> list[BaseTool]:
    def ask_about_object(
        question: str, object: ObjectRef | None = None, image: str | None = None
    ) -> str:
        region = None
        about = "the picture"
        if object is not None:
            priors = current_priors(box)
            if image is not None and session_image(box, image).ref.sha256 != priors.source.sha256:
                raise ToolError(
                    "Objects are those of the current version's image; ask about a whole other"
                    " image without `object`, or go to a version of that image."
                )
            if priors.objects is None:
                raise ToolError(
                    "No objects have been found in this picture: extract_priors(['objects'])"
                    " finds them, or ask about the whole picture."
                )
            found = priors.objects.objects[find_object(priors.objects.objects, object)]
            region, about = found.box, f"the {found.label}"
        target = session_image(box, image)
        pixels = picture(box, target)
        service = box.services.extractor(box.store)
        answer = box.on_device(
            lambda: answer_question(
                service, pixels, target.ref, question, region, put_artifact=box.session.put_artifact
            )
        )
        return f"About {about} in {target.handle}: {answer.strip() or '(no answer)'}"

    return [make_tool("ask_about_object", AskArgs, ask_about_object)]
