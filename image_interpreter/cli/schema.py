"""`schema` and `validate`: the PriorSet contract, for people writing priors files by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from image_interpreter.cli.common import console
from image_interpreter.errors import PriorsError


def register(app: typer.Typer) -> None:
    app.command()(schema)
    app.command()(validate)


def schema(
    example: Annotated[
        bool, typer.Option("--example", help="Print a filled-in PriorSet instead.")
    ] = False,
) -> None:
    """Print the JSON Schema of a PriorSet (or an example of one).

    Example: image-interpreter schema > priorset.schema.json
    """
    if example:
        from image_interpreter.priors.examples import example_priorset

        typer.echo(example_priorset().to_json())
    else:
        from image_interpreter.priors import PriorSet

        typer.echo(json.dumps(PriorSet.model_json_schema(), indent=2))


def validate(path: Annotated[Path, typer.Argument(help="A PriorSet JSON file.")]) -> None:
    """Check a priors file against the schema and say what is wrong, field by field.

    Example: image-interpreter validate priors.json
    """
    from image_interpreter.agent.files import read_json_file
    from image_interpreter.priors import PriorSet
    from image_interpreter.priors.openpose import parse_json

    data = read_json_file(path)
    try:
        priors = PriorSet.model_validate(parse_json(data))
    except PriorsError as exc:  # not UTF-8, not JSON, too large or too deep
        raise PriorsError(f"{path}: {exc}") from None
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise PriorsError(f"{path} is not a valid PriorSet:\n{problems}") from None
    kinds = ", ".join(
        f"{kind}{'' if prior.enabled else ' (off)'}" for kind, prior in priors.priors().items()
    )
    console.print(
        f"{path}: valid PriorSet, version {priors.version}; priors: {kinds or 'none'}",
        soft_wrap=True,
    )
