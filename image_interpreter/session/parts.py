"""PriorSet versions stored as content-addressed parts, so a version costs what it changed.

A version row keeps a manifest: the PriorSet's JSON with each prior replaced by a reference
`{"$part": sha256}`, and inside the people prior each person replaced by one too. The parts live
in `session_prior_parts`, one row per distinct content per session: an edit that moves one
person's wrist writes that person and the people prior's short list of references, and shares
every other person and prior with the versions before it. Rows written before parts existed hold
the whole PriorSet and read as they are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, insert, select

from image_interpreter.priors.schema import PRIOR_KINDS
from image_interpreter.session import tables as t

PART = "$part"


def split(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """PriorSet JSON data -> (manifest, {sha256: part}); the manifest references every part."""
    manifest = dict(data)
    parts: dict[str, Any] = {}
    for kind in PRIOR_KINDS:
        prior = data.get(kind)
        if not isinstance(prior, dict):
            continue
        if kind == "people" and isinstance(prior.get("people"), list):
            prior = {**prior, "people": [_reference(p, parts) for p in prior["people"]]}
        manifest[kind] = _reference(prior, parts)
    return manifest, parts


def join(manifest: Any, parts: Mapping[str, Any]) -> Any:
    """The PriorSet JSON data a manifest stands for (a whole PriorSet passes through)."""
    if isinstance(manifest, dict):
        if set(manifest) == {PART}:
            sha = manifest[PART]
            if sha not in parts:
                raise KeyError(f"prior part {sha} is missing")
            return join(parts[sha], parts)
        return {key: join(value, parts) for key, value in manifest.items()}
    if isinstance(manifest, list):
        return [join(item, parts) for item in manifest]
    return manifest


def store(conn: Connection, session_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Write the parts of `data` the session does not have yet; returns the manifest to keep."""
    manifest, parts = split(data)
    if parts:
        c = t.prior_parts.c
        query = select(c.sha256).where(c.session_id == session_id, c.sha256.in_(list(parts)))
        have = set(conn.execute(query).scalars())
        new = [
            {"session_id": session_id, "sha256": sha, "data": part}
            for sha, part in parts.items()
            if sha not in have
        ]
        if new:
            conn.execute(insert(t.prior_parts), new)
    return manifest


def fetch(conn: Connection, session_id: str, hashes: Iterable[str] | None = None) -> dict[str, Any]:
    """The session's parts by hash: those named (and the parts they name), or all of them."""
    c = t.prior_parts.c
    if hashes is None:
        query = select(c.sha256, c.data).where(c.session_id == session_id)
        return {sha: data for sha, data in conn.execute(query)}
    found: dict[str, Any] = {}
    wanted = set(hashes)
    while wanted:
        query = select(c.sha256, c.data).where(
            c.session_id == session_id, c.sha256.in_(list(wanted))
        )
        rows = {sha: data for sha, data in conn.execute(query)}
        found |= rows
        wanted = references(list(rows.values())) - set(found)
        if not rows:
            break
    return found


def references(value: Any) -> set[str]:
    """Every part hash `value` refers to directly."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if set(item) == {PART} and isinstance(item[PART], str):
                found.add(item[PART])
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _reference(value: Any, parts: dict[str, Any]) -> dict[str, str]:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    sha = hashlib.sha256(text.encode()).hexdigest()
    parts[sha] = value
    return {PART: sha}
