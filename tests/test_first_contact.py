"""First contact on `tiny`: the first photo says why it is slow (the miniature models are being
built, once), and a new session generates small and fast unless the user says otherwise."""

from __future__ import annotations

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
