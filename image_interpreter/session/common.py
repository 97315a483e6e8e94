"""Small helpers shared by the session modules: the clock, JSON normalisation, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from image_interpreter.errors import SessionError

M = TypeVar("M", bound=BaseModel)


def now() -> datetime:
    return datetime.now(UTC)


def no_session(session_id: str) -> SessionError:
    shown = session_id if len(session_id) <= 80 else session_id[:77] + "..."
    return SessionError(
        f"No session '{shown}'. `image-interpreter session list` shows the sessions there are."
    )


def plain_json(value: Any, what: str) -> Any:
    """`value` as it will read back from a JSON column, so what we return equals what reloads."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise SessionError(
            f"{what} must be plain JSON data (strings, finite numbers, booleans, lists and"
            f" dicts with string keys): {exc}."
        ) from None


def validated(model: type[M], what: str, data: dict[str, Any]) -> M:
    """Build a record, turning a validation failure into a SessionError a user can read."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SessionError(f"{what} is invalid: {describe(exc)}.") from None


def describe(exc: ValidationError, limit: int = 3) -> str:
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
        for err in exc.errors()[:limit]
    ]
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
