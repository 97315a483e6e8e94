"""The LangChain tools over a session, without models: what the LLM sees (names, descriptions,
schemas), handles refused when they are not this session's, edits as one version each, the
version tree, export by name, and errors returned as text. Tools that run models are played
end to end by the scripted dialogues (test_dialogues.py)."""

from __future__ import annotations

import json
import re

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from PIL import Image

from image_interpreter.images import encode_png
from image_interpreter.priors.edits import apply
from image_interpreter.priors.examples import example_person, example_priorset
from image_interpreter.priors.schema import (
    Box,
    CaptionPrior,
    DetectedObject,
    GenerationSettings,
    ObjectsPrior,
    PeoplePrior,
    PriorSet,
)
from image_interpreter.session import CandidateRecord, SessionStore
from image_interpreter.settings import load_settings
from image_interpreter.tools import TOOL_NAMES, Toolbox, describe_priors, make_tools


def png(color: str = "gray", size: tuple[int, int] = (64, 96)) -> bytes:
    return encode_png(Image.new("RGB", size, color))


@pytest.fixture
def store(tmp_path):
    settings = load_settings(data_dir=tmp_path, profile="tiny", device="cpu")
    with SessionStore.from_settings(settings) as opened:
        yield opened, settings


def start(store, settings, **update):
    session = store.create()
    image = session.add_image(png(), name="park.png")
    priors = PriorSet(
        source=image.ref,
        caption=CaptionPrior(text="a woman in a park"),
        people=PeoplePrior(people=[example_person()]),
        objects=ObjectsPrior(
            objects=[DetectedObject(label="umbrella", box=Box(x0=0.6, y0=0.2, x1=0.9, y1=0.4))]
        ),
        generation=GenerationSettings(width=64, height=64, steps=2, candidates=1),
    )
    session.commit(priors.model_copy(update=update), summary="started from park.png")
    box = Toolbox.open(session, store, settings)
    return session, {tool.name: tool for tool in make_tools(box)}


def test_every_tool_has_a_description_file_and_a_schema_an_llm_server_accepts(store):
    _, tools = start(*store)
    assert list(tools) == list(TOOL_NAMES)
    for name, tool in tools.items():
        spec = convert_to_openai_tool(tool)["function"]
        assert spec["name"] == name
        assert len(tool.description) > 80 and "$" not in tool.description
        assert spec["parameters"]["type"] == "object"
        fields = _property_names(spec["parameters"])
        assert not [f for f in fields if any(w in f for w in ("path", "url", "file"))], name
    edits = convert_to_openai_tool(tools["apply_edits"])["function"]["parameters"]
    assert "rotate_limb" in json.dumps(edits) and "set_time_of_day" in json.dumps(edits)
    assert "pose, " in tools["extract_priors"].description  # the extractor choices, filled in


def _property_names(schema) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        found |= set(schema.get("properties", {}))
        for value in schema.values():
            found |= _property_names(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _property_names(value)
    return found


def test_describe_priors_puts_people_and_their_limbs_into_words():
    priors = apply(
        {"op": "pose_preset", "person": 1, "preset": "arm_over_head", "side": "left"},
        example_priorset(2),
    )
    text = describe_priors(priors)
    first, second = (line for line in text.splitlines() if line.strip().startswith("person "))
    assert first.startswith("  person 1 (the woman, on the left): facing the camera;")
    assert "left arm raised straight up" in first and "hand above the head" in first
    assert "right arm down, elbow straight (shoulder 9°" in first
    assert "smiling; hands: left open palm, right open palm" in first
    assert "person 2 (the woman, on the right)" in second and "left arm down" in second
    assert "joints (x,y): nose 0.38,0.16; neck 0.38,0.26;" in text
    assert "Switched off (ignored when generating): segmentation." in text
    assert "1. umbrella at (0.55,0.20)–(0.80,0.45), score 0.88 — a red umbrella" in text
    assert "edges (on, weight 1, steps 0%–60%): canny edge map" in text
    assert text.endswith("4 candidates, img2img strength 0.75")
    assert describe_priors(None).startswith("There are no priors yet")


def test_an_edit_is_one_version_and_the_answer_says_how_the_person_stands_now(store):
    session, tools = start(*store)
    said = tools["apply_edits"].invoke(
        {
            "edits": [
                {"op": "pose_preset", "preset": "arm_over_head", "side": "left"},
                {"op": "set_time_of_day", "time": "dusk"},
            ]
        }
    )
    assert said.startswith("Version 2: put person 1's left arm over their head; set the time")
    assert "Now person 1 (the woman, in the centre): facing the camera; left arm raised" in said
    assert session.current.caption.time_of_day == "dusk"
    assert [v.number for v in session.history()] == [1, 2]
    edit = session.history()[1].edit
    assert edit["tool"] == "apply_edits" and edit["actions"][0]["op"] == "pose_preset"


def test_edits_apply_all_or_nothing(store):
    session, tools = start(*store)
    said = tools["apply_edits"].invoke(
        {
            "edits": [
                {"op": "set_time_of_day", "time": "dusk"},
                {"op": "rotate_limb", "person": 2, "limb": "left_forearm", "degrees": 30},
            ]
        }
    )
    assert said.startswith("Error: Edit 2 of 2")
    assert "There is no person 2: this picture has 1 person" in said
    assert session.current.version == 1 and session.current.caption.time_of_day is None


def test_arguments_that_do_not_validate_come_back_as_text_naming_the_field(store):
    _, tools = start(*store)
    said = tools["apply_edits"].invoke(
        {"edits": [{"op": "rotate_limb", "limb": "tail", "degrees": 5}]}
    )
    assert said.startswith("Error: the arguments are not valid (edits.0.rotate_limb.limb:")
    assert (
        tools["set_prior"]
        .invoke({"kind": "people"})
        .startswith(
            "Error: the arguments are not valid (arguments: Value error, give at least one of"
        )
    )
    assert "Extra inputs are not permitted" in tools["undo"].invoke({"steps": 1, "hard": True})


def test_an_error_in_a_tool_call_becomes_an_error_tool_message(store):
    _, tools = start(*store)
    call = {"name": "go_to_version", "args": {"version": 7}, "id": "call_1", "type": "tool_call"}
    message = tools["go_to_version"].invoke(call)
    assert isinstance(message, ToolMessage) and message.status == "error"
    assert message.content.startswith("Error: No version 7 in this session")


def test_set_prior_switches_weighs_and_keeps_the_other_end_of_the_step_range(store):
    session, tools = start(*store)
    said = tools["set_prior"].invoke({"kind": "people", "enabled": False, "weight": 0.4})
    assert said == ("Version 2: disabled the people prior; set the people prior's weight to 0.4.")
    tools["set_prior"].invoke({"kind": "people", "end": 0.5})
    tools["set_prior"].invoke({"kind": "people", "start": 0.1})
    people = session.current.people
    assert (people.enabled, people.weight, people.start, people.end) == (False, 0.4, 0.1, 0.5)
    assert "this picture has no depth prior" in tools["set_prior"].invoke(
        {"kind": "depth", "weight": 1}
    )


def test_undo_redo_and_go_to_version_check_before_moving(store):
    session, tools = start(*store)
    tools["apply_edits"].invoke({"edits": [{"op": "set_time_of_day", "time": "dusk"}]})
    tools["apply_edits"].invoke({"edits": [{"op": "add_style", "style": "watercolor"}]})
    assert tools["undo"].invoke({"steps": 5}) == (
        "Error: Only 2 changes can be undone (version 1 is the first)."
    )
    assert session.current.version == 3
    assert tools["undo"].invoke({"steps": 2}).startswith("Undid 2 changes: now at version 1")
    assert tools["redo"].invoke({"steps": 3}) == "Error: Only 2 changes can be redone."
    assert tools["redo"].invoke({}).startswith("Redid the last change: now at version 2")
    assert tools["go_to_version"].invoke({"version": 1}).endswith("The next edit branches from it.")
    assert tools["redo"].invoke({}).startswith("Error: Nothing to redo")
    history = tools["history"].invoke({})
    assert " *1: started from park.png" in history and "  3: added the style" in history
    assert "Images: img1 (park.png, 64×96)" in history


def _generation(session, colors=("red", "blue")):
    records = [
        CandidateRecord(
            sha256=session.put_artifact(png(c, (64, 64))), seed=i, scores={"total": 0.5}
        )
        for i, c in enumerate(colors)
    ]
    return session.record_generation(session.current.version, {"prompt": "x"}, records)


def test_choosing_a_candidate_records_the_pick_and_makes_it_an_image(store):
    session, tools = start(*store)
    record = _generation(session)
    before = session.current.version
    said = tools["choose_candidate"].invoke({"generation": record.id, "candidate": 2})
    assert said.startswith("Picked candidate 2 of generation 1 (score 0.50): it is image img2")
    assert session.generations()[0].chosen == 1  # stored from 0; numbered from 1 for people
    # the pick is a version drawing from the picture, so "undo" takes it back
    assert session.current.source.sha256 == record.candidates[1].sha256
    assert session.current.parent == before and "undo" in said
    assert not re.search(r"\w+\(.*=", said)  # no tool-call syntax
    again = tools["choose_candidate"].invoke({"generation": 1, "candidate": 2})
    assert "image img2" in again and len(session.images()) == 2  # one image per picture
    assert tools["choose_candidate"].invoke({"generation": 1, "candidate": 3}) == (
        "Error: Generation 1 has candidates 1 to 2; there is no candidate 3."
    )
    assert (
        tools["choose_candidate"]
        .invoke({"generation": 1, "candidate": 0})
        .startswith("Error: the arguments are not valid")
    )


def test_another_sessions_handles_are_refused_as_if_they_did_not_exist(store):
    opened, settings = store
    mine, _ = start(opened, settings)
    _generation(mine)
    mine.add_image(png("white"), name="second.png")
    theirs, tools = start(opened, settings)
    assert tools["choose_candidate"].invoke({"generation": 1, "candidate": 1}) == (
        "Error: There is no generation 1 in this session (generations: none yet)."
        " `generate` makes one; `history` lists them."
    )
    assert tools["upscale"].invoke({"image": "img2"}) == (
        "Error: There is no image 'img2' in this session (images: img1)."
    )
    assert (
        tools["ask_about_object"]
        .invoke({"question": "what?", "image": "img2"})
        .startswith("Error: There is no image 'img2'")
    )
    assert (
        tools["extract_priors"]
        .invoke({"kinds": ["palette"], "image": "img2"})
        .startswith("Error: There is no image 'img2'")
    )
    for path in ("../img1", "/tmp/x.png", "file:///etc/passwd", "https://example.com/a.jpg"):
        said = tools["upscale"].invoke({"image": path})
        assert said.startswith("Error: the arguments are not valid (image: String should match")
    assert theirs.generations() == [] and len(theirs.images()) == 1


def test_extracting_adds_a_version_and_another_image_starts_its_own_priors(store):
    session, tools = start(*store)
    said = tools["extract_priors"].invoke({"kinds": ["palette", "edges"]})
    assert said.startswith("Extracted palette, edges from img1: version 2.")
    assert "edges (on, weight 1): canny edge map" in said
    assert session.current.people is not None and session.current.palette is not None
    session.add_image(png("white", (32, 32)), name="plain.png")
    said = tools["extract_priors"].invoke({"kinds": ["palette"], "image": "img2"})
    assert said.startswith("Extracted palette from img2: version 3.")
    current = session.current
    assert current.source.name == "plain.png" and current.people is None
    assert current.generation.steps == 2  # the settings carry over
    assert "ask_about_object" in tools["extract_priors"].invoke({"kinds": ["ask"]})
    assert "Unknown extractor or kind 'nonsense'" in tools["extract_priors"].invoke(
        {"kinds": ["nonsense"]}
    )


def test_export_writes_into_the_data_folders_exports_under_a_name_it_returns(store):
    opened, settings = store
    _, tools = start(opened, settings)
    said = tools["export_session"].invoke({"label": "Park walk"})
    name = said.split("'")[1]
    assert name.startswith("park-walk-") and "/" not in name
    folder = settings.data_dir / "exports" / name
    assert (folder / "session.json").is_file()
    assert opened.import_folder(folder).current.caption.text == "a woman in a park"
    for label in ("../../escape", "/tmp/x", "a" * 41):
        assert tools["export_session"].invoke({"label": label}).startswith("Error: the arguments")


def test_asking_about_an_object_needs_objects_and_finds_them_by_label(store):
    opened, settings = store
    _, tools = start(opened, settings, objects=None)
    said = tools["ask_about_object"].invoke({"question": "what colour?", "object": {"index": 1}})
    assert said.startswith("Error: No objects have been found in this picture")
    _, tools = start(opened, settings)
    said = tools["ask_about_object"].invoke({"question": "what?", "object": {"label": "dog"}})
    assert said == "Error: No object is labelled 'dog'. The labels found: umbrella."


def test_tools_on_a_session_without_priors_say_what_to_do_first(store):
    opened, settings = store
    session = opened.create()
    tools = {t.name: t for t in make_tools(Toolbox.open(session, opened, settings))}
    assert tools["describe_priors"].invoke({}).startswith("There are no priors yet")
    assert (
        tools["apply_edits"]
        .invoke({"edits": [{"op": "set_time_of_day", "time": "dusk"}]})
        .startswith("Error: This session has no priors yet.")
    )
    assert tools["generate"].invoke({}).startswith("Error: This session has no priors yet.")
    assert (
        tools["extract_priors"]
        .invoke({"kinds": ["palette"]})
        .startswith("Error: This session has no images yet")
    )
    assert tools["undo"].invoke({}).startswith("Error: Nothing to undo")
    assert tools["history"].invoke({}) == "No versions yet."


def test_export_reuses_an_unchanged_export_and_makes_at_most_one_new_one_a_minute(
    store, monkeypatch
):
    from image_interpreter.tools import history

    now = [1000.0]
    monkeypatch.setattr(history, "_clock", lambda: now[0])
    opened, settings = store
    _, tools = start(opened, settings)
    exports = settings.data_dir / "exports"
    first = tools["export_session"].invoke({"label": "walk"})
    name = first.split("'")[1]
    for _ in range(5):  # asking again and again writes nothing new
        again = tools["export_session"].invoke({"label": "walk"})
        assert "Nothing changed" in again and f"'{name}'" in again
    assert [p.name for p in exports.iterdir()] == [name]

    tools["set_prior"].invoke({"kind": "caption", "enabled": False})  # a new version
    now[0] += 10
    refused = tools["export_session"].invoke({})
    assert refused.startswith("Error:") and "possible in 50 s" in refused
    assert len(list(exports.iterdir())) == 1

    now[0] += 50
    fresh = tools["export_session"].invoke({})
    assert fresh.startswith("Exported") and fresh.split("'")[1] != name
    assert len(list(exports.iterdir())) == 2
