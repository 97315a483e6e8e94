"""The priors data model as a user of a priors file meets it: exact JSON round trips, and typos or
impossible values refused with a message that names the field."""

import json

import pytest
from pydantic import ValidationError

from image_interpreter.priors import Box, Keypoint, PeoplePrior, Person, PriorSet
from image_interpreter.priors.examples import example_priorset


def test_json_round_trip_is_exact():
    priors = example_priorset(people=2)
    text = priors.to_json()
    again = PriorSet.from_json(text)
    assert again == priors
    assert again.to_json() == text


def test_round_trip_keeps_awkward_floats_and_unicode():
    priors = example_priorset()
    person = priors.people.people[0]
    person.body["left_wrist"] = Keypoint(x=0.1 + 0.2, y=1 / 3, confidence=0.30000000000000004)
    person.label = "la señora 👩"
    again = PriorSet.from_json(priors.to_json(indent=None))
    assert again.people.people[0].body["left_wrist"].x == 0.1 + 0.2
    assert again.people.people[0].body["left_wrist"].y == 1 / 3
    assert again.people.people[0].label == "la señora 👩"


def test_every_prior_has_enabled_weight_and_provenance():
    priors = example_priorset()
    kinds = priors.priors()
    assert list(kinds) == [
        "caption", "people", "depth", "objects", "segmentation", "edges", "palette",
    ]  # fmt: skip
    for prior in kinds.values():
        assert isinstance(prior.enabled, bool)
        assert 0 <= prior.weight <= 2
        assert hasattr(prior, "provenance")
    assert "segmentation" not in priors.enabled()  # the example has it switched off


def test_joints_are_named_not_numbered():
    priors = example_priorset()
    body = priors.people.people[0].body
    assert {"left_wrist", "right_knee", "neck", "left_heel"} <= set(body)
    with pytest.raises(ValidationError, match="left_wirst"):
        Person(body={"left_wirst": Keypoint(x=0.5, y=0.5)})


def test_unknown_field_in_a_priors_file_is_refused():
    data = json.loads(example_priorset().to_json())
    data["depth"]["wieght"] = 0.5
    with pytest.raises(ValidationError, match="wieght"):
        PriorSet.model_validate(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["depth"].update(weight=5), "less than or equal to 2"),
        (lambda d: d["edges"].update(start=0.8, end=0.2), "before start"),
        (lambda d: d["objects"]["objects"][0]["box"].update(x0=0.9, x1=0.1), "x0 <= x1"),
        (lambda d: d["palette"]["colors"][0].update(hex="blue"), "pattern"),
        (lambda d: d["source"].update(sha256="not-a-hash"), "pattern"),
        (lambda d: d["people"]["people"][0]["face"]["landmarks"].update(chin={"x": 0, "y": 0}),
         "unknown face landmark"),
    ],
)  # fmt: skip
def test_impossible_values_are_refused_with_the_reason(change, message):
    data = json.loads(example_priorset().to_json())
    change(data)
    with pytest.raises(ValidationError, match=message):
        PriorSet.model_validate(data)


def test_non_finite_coordinates_are_refused():
    with pytest.raises(ValidationError, match="finite"):
        Keypoint(x=float("nan"), y=0.2)


def test_artifacts_lists_every_referenced_hash():
    priors = example_priorset()
    expected = {
        priors.source.sha256,
        priors.depth.map.sha256,
        priors.objects.objects[0].mask.sha256,
        priors.segmentation.map.sha256,
        priors.edges.map.sha256,
    }
    assert priors.artifacts() == expected


def test_gestures_are_read_per_hand():
    person = example_priorset().people.people[0]
    assert person.gestures == {"left": {"open_palm": 0.93}, "right": {"open_palm": 0.93}}


def test_box_must_lie_in_the_frame():
    with pytest.raises(ValidationError):
        Box(x0=-0.1, y0=0, x1=0.5, y1=0.5)


def test_empty_people_prior_is_valid():
    assert PeoplePrior().people == []
