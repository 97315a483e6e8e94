"""What an LLM with a small context sees of the tools: the `edit` tool that speaks the editor's
own command language (checked by the interpreter, nothing applied when a part is not
understood), the compact tool views, the tools a turn is offered, the compact priors."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from image_interpreter.agent.llm.tokens import estimate_tokens
from image_interpreter.agent.react import parse_reply
from image_interpreter.images import encode_png
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.schema import (
    ArtifactRef,
    CaptionPrior,
    DepthPrior,
    PeoplePrior,
    PriorSet,
)
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings
from image_interpreter.tools import Toolbox, make_tools
from image_interpreter.tools.compact import (
    ALWAYS,
    compact_priors,
    compact_specs,
    first_sentence,
    select_tools,
)
from image_interpreter.tools.describe import describe_priors


@pytest.fixture
def tools(tmp_path):
    settings = load_settings(data_dir=tmp_path, profile="tiny", device="cpu")
    with SessionStore.from_settings(settings) as store:
        session = store.create()
        image = session.add_image(encode_png(Image.new("RGB", (64, 96), "gray")), name="p.png")
        depth = session.put_artifact(encode_png(Image.new("RGB", (8, 8), "gray")))
        priors = PriorSet(
            source=image.ref,
            caption=CaptionPrior(text="a woman in a park"),
            people=PeoplePrior(people=[example_person()]),
            depth=DepthPrior(map=ArtifactRef(sha256=depth, width=8, height=8)),
        )
        session.commit(priors, summary="start")
        made = make_tools(Toolbox.open(session, store, settings))
        yield session, {tool.name: tool for tool in made}


def test_edit_applies_plain_commands_as_one_version_and_says_what_it_understood(tools):
    session, by_name = tools
    said = by_name["edit"].invoke({"commands": "raise her left arm; depth weight 0.5"})
    assert "Understood:" in said and "version 2" in said
    assert session.current.version == 2 and session.current.depth.weight == 0.5
    assert session.current.people.people[0].body["left_wrist"].y < 0.4


def test_edit_changes_nothing_when_a_part_is_not_understood(tools):
    session, by_name = tools
    said = by_name["edit"].invoke({"commands": "raise her left arm; make it feel wistful"})
    assert said.startswith("Error: Not understood:") and "wistful" in said
    assert "Understood: “raise her left arm”" in said and "apply_edits" in said
    assert session.current.version == 1  # the understood part was not applied either


def test_the_compact_views_keep_every_argument_at_a_fraction_of_the_tokens(tools):
    _, by_name = tools
    specs = {spec.name: spec for spec in compact_specs(by_name.values())}
    edits = specs["apply_edits"].parameters["properties"]["edits"]
    union = edits["description"]
    assert "rotate_limb(limb,degrees)" in union and "set_time_of_day(time)" in union
    assert "set_caption|amend_caption|set_negative_prompt(text)" in union  # alike, one line
    assert "optional fields: person," in union
    compact = sum(estimate_tokens(json.dumps(s.openai())) for s in specs.values())
    assert compact < 4000, compact  # the full schemas are over 8,000 (apply_edits alone 6,300)
    for spec in specs.values():
        assert "title" not in json.dumps(spec.parameters)
        full = by_name[spec.name].args_schema.model_json_schema()
        assert set(spec.parameters.get("properties", {})) == set(full.get("properties", {}))


def test_a_model_may_call_a_tool_it_was_not_offered_by_name(tools):
    _, by_name = tools
    specs = compact_specs(by_name.values())
    step = parse_reply('Action: apply_edits\nAction Input: {"edits": []}', specs)
    assert step.tool == "apply_edits"


@pytest.mark.parametrize(
    ("message", "wanted", "not_wanted"),
    [
        ("make it feel like a rainy evening", {"apply_edits"}, {"upscale", "export_session"}),
        ("upscale the one I picked", {"upscale"}, {"interpolate", "export_session"}),
        ("morph between the first two candidates", {"interpolate"}, {"export_session"}),
        ("save everything so I can share it", {"export_session"}, {"upscale"}),
        ("what colour is her umbrella?", {"ask_about_object"}, {"export_session"}),
        ("go back to version 3", {"go_to_version"}, {"upscale"}),
    ],
)
def test_a_turn_is_offered_the_tools_its_message_needs(tools, message, wanted, not_wanted):
    _, by_name = tools
    offered = {s.name for s in select_tools(message, compact_specs(by_name.values()))}
    assert set(ALWAYS) <= offered and wanted <= offered and not (not_wanted & offered)


def test_first_sentences_do_not_end_at_abbreviations_or_inner_questions():
    assert first_sentence("Use it, e.g. 'img2', here. More.") == "Use it, e.g. 'img2', here."
    assert first_sentence("Ask (is she holding something?) now. Then.") == (
        "Ask (is she holding something?) now."
    )


def test_the_compact_priors_say_the_pose_in_words_without_coordinates(tools):
    session, _ = tools
    brief = compact_priors(session.current)
    assert "person 1" in brief and "left arm" in brief and "depth: on, weight 1" in brief
    assert "joints (x,y)" not in brief
    assert estimate_tokens(brief) < estimate_tokens(describe_priors(session.current))


def test_another_sessions_tools_get_the_same_views_and_their_own_copies(tools, tmp_path):
    """The views are built once per tool (they were rebuilt for every new conversation); each
    caller may still trim its copy for a prompt budget without changing the next one's."""
    _, by_name = tools
    first = compact_specs(by_name.values())
    first[0].parameters.clear()  # a caller trimming its copy
    again = compact_specs(by_name.values())
    settings = load_settings(data_dir=tmp_path / "other", profile="tiny", device="cpu")
    with SessionStore.from_settings(settings) as store:
        session = store.create()
        other = compact_specs(make_tools(Toolbox.open(session, store, settings)))
    assert [s.name for s in again] == [s.name for s in other] == list(by_name)
    assert again == other and again[0].parameters  # the trimmed copy did not leak
