"""What people read and see: candidates numbered from 1 with their scores explained, pictures
that carry their names, a no-person reply that says why, progress that says which step of how
many, and no tool-call syntax."""

from __future__ import annotations

import io
import re
from typing import ClassVar

from PIL import Image

from image_interpreter.agent.interpreter import UseCandidate, interpret
from image_interpreter.agent.interpreter.people import no_people_reason
from image_interpreter.demo import demo_photo, demo_pose
from image_interpreter.images import encode_png
from image_interpreter.interfaces.conversation import ChatConfig, Conversations
from image_interpreter.priors.examples import example_priorset
from image_interpreter.priors.openpose import import_openpose
from image_interpreter.priors.render.preview import labelled, prior_label
from image_interpreter.priors.schema import PeoplePrior, Provenance
from image_interpreter.session import CandidateRecord, GenerationRecord
from image_interpreter.settings import load_settings
from image_interpreter.tools.candidates import ranked_lines, score_words

TOOL_CALL = re.compile(r"\w+\(.*=")


def test_pick_and_upscale_are_understood_with_numbers_from_1():
    for said, verb, number, generation in [
        ("pick 2", "pick", 2, None),
        ("choose the second one", "pick", 2, None),
        ("keep candidate 1 of generation 3", "pick", 1, 3),
        ("upscale 2", "upscale", 2, None),
    ]:
        found = interpret(said, None)
        assert found.actions == [UseCandidate(verb=verb, candidate=number, generation=generation)]
    # handles and settings are not candidates
    assert interpret("upscale image 9", None).actions == []
    assert interpret("use 30 steps", None).actions[0].op == "set_steps"


def test_a_target_without_people_says_no_pose_to_compare_not_a_perfect_score():
    priors = example_priorset().model_copy(update={"people": PeoplePrior(people=[])})
    said = score_words({"total": 0.6, "clip": 0.6, "depth": 0.5}, priors)
    assert "pose: no pose to compare" in said and "pose 1.00" not in said
    record = GenerationRecord(
        id=1,
        version=1,
        recipe={},
        candidates=[
            CandidateRecord(sha256="a" * 64, seed=7, scores={"total": 0.2}),
            CandidateRecord(sha256="b" * 64, seed=8, scores={"total": 0.9}),
        ],
        created_at="2026-01-01T00:00:00Z",
    )
    lines = ranked_lines(record, priors)
    assert lines[0].startswith("candidate 2: score 0.90") and lines[0].endswith("· best")
    assert lines[1].startswith("candidate 1: score 0.20")  # numbered from 1, best first


def test_no_person_replies_say_why_and_how_to_import_a_pose():
    priors = example_priorset()
    not_run = no_people_reason(priors.model_copy(update={"people": None}))
    assert "was not run" in not_run and "OpenPose .json" in not_run and "demo" in not_run
    found_nobody = no_people_reason(
        priors.model_copy(
            update={"people": PeoplePrior(people=[], provenance=Provenance(extractor="pose.x"))}
        )
    )
    assert "pose.x, found nobody" in found_nobody
    edited = interpret("raise the left arm", priors.model_copy(update={"people": None}))
    assert "nobody to edit" in edited.reply and "OpenPose" in edited.reply


def test_prior_pictures_carry_their_label():
    assert prior_label("depth", 4, False) == "depth · v4 · off"
    picture = Image.new("RGB", (128, 96), "black")
    named = labelled(picture, prior_label("depth", 4, False))
    assert named.width == 128 and named.height > 96  # a band above the picture
    band = named.crop((0, 0, 128, named.height - 96))
    assert band.convert("L").getextrema()[1] > 100  # text drawn in it


def test_the_demo_pose_fits_its_photo():
    photo = Image.open(io.BytesIO(demo_photo()))
    pose = import_openpose(demo_pose())
    assert (pose.width, pose.height) == photo.size
    person = pose.people[0]
    assert {"nose", "neck", "left_shoulder", "left_elbow", "left_wrist"} <= set(person.body)
    # her left arm is on the picture's right, as she faces the camera
    assert person.body["left_shoulder"].x > person.body["right_shoulder"].x


def test_progress_says_which_step_of_how_many(tmp_path):
    settings = load_settings(profile="tiny", data_dir=tmp_path)
    conversations = Conversations(settings, config=ChatConfig(extract="palette,edges"))
    seen: list[tuple[str, float | None]] = []
    try:
        session = conversations.start("progress")
        photo = encode_png(Image.new("RGB", (64, 48), "teal"))
        reply = conversations.add_photo(
            session, photo, "teal.png", lambda w, d, e: seen.append((w, d))
        )
    finally:
        conversations.close()
    lines = [what for what, _ in seen]
    assert "palette 1/2 done" in lines and "edges 2/2 done" in lines, lines
    first_done = lines.index("palette 1/2 done")
    assert all(done is None or done <= 0.5 for _, done in seen[: first_done + 1])  # not 100%
    assert not TOOL_CALL.search(reply.text)


def test_a_part_whose_model_cannot_load_is_left_out_not_the_whole_ranking():
    from image_interpreter.errors import ModelUnavailable
    from image_interpreter.rank.consistency import prior_consistency

    class NoModels:
        artifacts: ClassVar[dict] = {}  # read_artifact defaults to artifacts.get

        def extract(self, *args, **kwargs):
            raise ModelUnavailable("the pose model is not here")

    target = example_priorset().model_copy(update={"depth": None, "edges": None})
    image = Image.new("RGB", (64, 96), "gray")
    found = prior_consistency(image, target.source, target, NoModels(), kinds=["people"])
    assert found == {}  # pose unmeasured ("pose: not measured"), the ranking goes on
    said = score_words({"total": 0.5, "clip": 0.5}, target)
    assert "pose: not measured" in said


def test_a_turn_that_did_nothing_says_why_in_its_error(tmp_path):
    """Front ends show `Reply.error` as a failure: set when a turn changed nothing and said why,
    never on a turn that did something."""
    settings = load_settings(profile="tiny", data_dir=tmp_path)
    conversations = Conversations(settings, config=ChatConfig(extract="palette"))
    try:
        session = conversations.start()
        photo = encode_png(Image.new("RGB", (64, 48), "teal"))
        first = conversations.add_photo(session, photo, "t.png").version
        refused = conversations.say(session, "pick 3")
        assert refused.error and "no candidates" in refused.error and refused.version == first
        done = conversations.say(session, "make it night")
        assert done.error is None and done.version == first + 1
    finally:
        conversations.close()
