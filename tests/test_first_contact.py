"""First contact on `tiny`: the first photo says why it is slow (the miniature models are being
built, once), and a new session generates small and fast unless the user says otherwise."""

from __future__ import annotations

import io

from PIL import Image

from image_interpreter.images import encode_png
from image_interpreter.interfaces.conversation import ChatConfig, Conversations
from image_interpreter.models import tiny as tiny_module
from image_interpreter.settings import load_settings

BUILDING = "Building the miniature models, once"


def _add_photo(tmp_path, kinds: str, name: str = "teal.png"):
    settings = load_settings(profile="tiny", data_dir=tmp_path)
    conversations = Conversations(settings, config=ChatConfig(extract=kinds))
    heard: list[str] = []
    try:
        session = conversations.start("first contact")
        photo = encode_png(Image.new("RGB", (64, 48), "teal"))
        reply = conversations.add_photo(session, photo, name, lambda w, d, e: heard.append(w))
        again = conversations.add_photo(session, photo, "again.png", lambda w, d, e: None)
    finally:
        conversations.close()
    return reply, again, heard


def test_the_first_photo_says_the_miniature_models_are_being_built(tmp_path, monkeypatch):
    monkeypatch.setattr(tiny_module, "_announced", False)  # as in a fresh process
    reply, again, heard = _add_photo(tmp_path, "depth")
    assert any(what.startswith(BUILDING) for what in heard), heard  # progress, while it builds
    assert reply.text.startswith(BUILDING), reply.text  # and the reply says why it took long
    assert str(tmp_path) in reply.text.splitlines()[0]
    assert BUILDING not in again.text  # once: the models are there now


def test_a_photo_that_builds_no_model_says_nothing_of_it(tmp_path, monkeypatch):
    monkeypatch.setattr(tiny_module, "_announced", False)
    reply, _, heard = _add_photo(tmp_path, "palette")
    assert not any(BUILDING in what for what in heard)
    assert BUILDING not in reply.text


def _new_session(tmp_path, profile: str, config: ChatConfig, say: str | None = None):
    """A new session from a 640x480 photo: its generation settings, a turn's reply and the
    recipes of its generations."""
    settings = load_settings(profile=profile, data_dir=tmp_path)
    conversations = Conversations(settings, config=config)
    try:
        session = conversations.start()
        photo = encode_png(Image.new("RGB", (640, 480), "teal"))
        conversations.add_photo(session, photo, "teal.png")
        reply = conversations.say(session, say) if say else None
        recipes = [g.recipe for g in session.generations()]
        return session.current.generation, reply, recipes
    finally:
        conversations.close()


def test_a_new_tiny_session_generates_small_and_fast(tmp_path):
    generation, reply, recipes = _new_session(
        tmp_path, "tiny", ChatConfig(extract="palette"), say="generate 1"
    )
    assert generation.steps == 4
    assert (generation.width, generation.height) == (128, 96)  # the photo's aspect, 128 long
    assert reply.candidates, reply.text
    drawn = Image.open(io.BytesIO(reply.candidates[0].png))
    assert drawn.size == (128, 96)
    assert recipes[-1]["steps"] == 4


def test_the_chat_configuration_wins_over_the_tiny_defaults(tmp_path):
    config = ChatConfig(extract="palette", steps=9, size=256)
    generation, _, _ = _new_session(tmp_path, "tiny", config)
    assert generation.steps == 9
    assert (generation.width, generation.height) == (256, 192)


def test_full_size_profiles_keep_the_schema_defaults(tmp_path):
    generation, _, _ = _new_session(tmp_path, "sd15", ChatConfig(extract="palette"))
    assert generation.steps == 25
    assert (generation.width, generation.height) == (None, None)  # the photo's size


def test_what_the_user_says_wins_over_the_tiny_defaults(tmp_path):
    generation, reply, _ = _new_session(
        tmp_path, "tiny", ChatConfig(extract="palette"), say="use 30 steps"
    )
    assert generation.steps == 30, reply.text
    assert (generation.width, generation.height) == (128, 96)
