"""A crowd does not fill the disk: a PriorSet holds at most MAX_PEOPLE people (and bounded
objects, regions and texts), refused with the field named, and a version that changes one person
stores that person, not everyone again; every version still reads back exactly as committed,
and databases written before parts existed still read."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from pydantic import ValidationError
from sqlalchemy import insert, select

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.errors import PriorsError
from image_interpreter.images import encode_png
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.schema import (
    MAX_OBJECTS,
    MAX_PEOPLE,
    MAX_TEXT,
    Box,
    CaptionPrior,
    DetectedObject,
    ObjectsPrior,
    PeoplePrior,
    PriorSet,
)
from image_interpreter.session import SessionStore
from image_interpreter.session import tables as t
from image_interpreter.session.common import now


@pytest.fixture
def store(tmp_path):
    opened = SessionStore(f"sqlite:///{tmp_path / 's.db'}", ArtifactStore(tmp_path / "a"))
    yield opened
    opened.close()


def _crowd(session, count: int) -> PriorSet:
    ref = session.add_image(encode_png(Image.new("RGB", (64, 48), "teal"))).ref
    people = [example_person(dx=0.2 * (i % 3 - 1)) for i in range(count)]
    return PriorSet(
        source=ref, caption=CaptionPrior(text="a crowd"), people=PeoplePrior(people=people)
    )


def _stored_bytes(store: SessionStore, session_id: str) -> int:
    total = 0
    with store.engine.connect() as conn:
        for table, column in ((t.versions, "priors"), (t.prior_parts, "data")):
            query = select(table.c[column]).where(table.c.session_id == session_id)
            total += sum(len(json.dumps(v)) for v in conn.scalars(query))
    return total


def _move_wrist(priors: PriorSet, person: int, y: float) -> PriorSet:
    changed = priors.model_copy(deep=True)
    who = changed.people.people[person]
    who.body["left_wrist"] = who.body["left_wrist"].model_copy(update={"y": y})
    return changed


def test_a_version_that_moves_one_person_stores_about_one_person(store):
    session = store.create("crowd")
    first = session.commit(_crowd(session, MAX_PEOPLE))
    whole = len(first.model_dump_json())
    before = _stored_bytes(store, session.id)
    committed = [first]
    for i in range(3):
        committed.append(session.commit(_move_wrist(committed[-1], i * 7, 0.1 * i)))
    per_version = (_stored_bytes(store, session.id) - before) / 3
    one_person = len(first.people.people[0].model_dump_json())
    assert per_version < whole / 20  # was the whole PriorSet (~1 MB) every time
    assert per_version < 12 * one_person
    for stored in committed:  # and each version reads back exactly
        assert session.version(stored.version) == stored
    assert session.current == committed[-1]
    assert session.undo() == committed[-2]
    state = session.state()
    assert [v.priors for v in state.versions] == committed[:-1] + [committed[-1]]


def test_an_export_of_a_parted_session_imports_whole(store, tmp_path):
    session = store.create("crowd")
    first = session.commit(_crowd(session, 5))
    second = session.commit(_move_wrist(first, 2, 0.3))
    folder = store.export(session.id, tmp_path / "out")
    other = SessionStore(f"sqlite:///{tmp_path / 'o.db'}", ArtifactStore(tmp_path / "b"))
    try:
        imported = other.import_folder(folder)
        assert imported.version(2) == second and imported.version(1) == first
    finally:
        other.close()


def test_versions_stored_whole_before_parts_existed_still_read(store):
    session = store.create("old")
    first = session.commit(_crowd(session, 2))
    old = _move_wrist(first, 1, 0.2).model_copy(update={"version": 2, "parent": 1})
    with store.engine.begin() as conn:  # a row as the old layout wrote it: the whole PriorSet
        conn.execute(
            insert(t.versions).values(
                session_id=session.id, number=2, parent=1, priors=old.model_dump(mode="json"),
                edit=None, summary="old layout", created_at=now(),
            )
        )  # fmt: skip
    assert session.version(2) == old
    assert [v.priors for v in session.state().versions] == [first, old]


# --- bounds --------------------------------------------------------------------------------------


def test_more_people_than_the_bound_are_refused_naming_the_field(store):
    session = store.create("too many")
    with pytest.raises(ValidationError, match=f"people\n.*at most {MAX_PEOPLE} items.*not 101"):
        _crowd(session, MAX_PEOPLE + 1)
    crowd = _crowd(session, MAX_PEOPLE)
    crowd.people.people.append(example_person())  # grown after validation: the commit refuses
    with pytest.raises(PriorsError, match="people"):
        session.commit(crowd)
    assert session.current is None


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"caption": CaptionPrior.model_construct(text="x" * (MAX_TEXT + 1))}, "caption.text"),
        ({"caption": CaptionPrior.model_construct(style=["watercolour"] * 300)}, "caption.style"),
        (
            {
                "objects": ObjectsPrior.model_construct(
                    objects=[DetectedObject(label="dot", box=Box(x0=0, y0=0, x1=1, y1=1))]
                    * (MAX_OBJECTS + 1)
                )
            },
            "objects.objects",
        ),
    ],
)
def test_bounded_lists_and_texts_are_refused_when_read(store, update, field):
    """Built past the checks (as a hand-written file would be), then read as a PriorSet."""
    session = store.create("bounds")
    data = json.loads(_crowd(session, 1).model_copy(update=update).model_dump_json())
    with pytest.raises(ValidationError) as caught:
        PriorSet.model_validate(data)
    assert field in str(caught.value)
