"""The web app in a real browser: `chainlit run app.py` on loopback with the tiny models, driven by
Playwright on Debian's Chromium, as a user would use it.

A user signs in, uploads a photo (its depth and edges are extracted), uploads an OpenPose file
(a known person: random tiny pose models find nobody), types "raise the left arm" and sees the
new skeleton, asks for two candidates, sees them with their scores and keeps one with its
button; after the server restarts, the conversation is in the thread list and opens where it
was.

The demo walk is what a new user does first: "Try the demo", "raise the left arm", "what do you
see?", "generate 2", pick 1, undo, "drop the depth map"; it checks the pictures' labels, the one
numbering of candidates and that no reply shows tool-call syntax.

Screenshots go to the test's tmp folder (`screenshots/`, printed at the end). With
UPDATE_DOCS_SCREENSHOT=1 the demo walk's replace docs/chat-*.png (linked from the README).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path

import pytest
from PIL import Image
from web_helpers import REPO, ChainlitServer, ChatPage, chromium, chromium_missing, free_port

from image_interpreter.interfaces.chainlit_web import hash_password
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.openpose import export_openpose


@pytest.fixture(autouse=True)
def _needs_chromium() -> None:
    """The browser test is part of the suite: without Chromium it fails and says how to fix it,
    rather than passing silently."""
    problem = chromium_missing()
    if problem is not None:
        pytest.fail(f"The browser test cannot run: {problem}.")


DOCS = REPO / "docs"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    from skimage import data

    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps(export_openpose([example_person()], 512, 512)))
    return {"photo": photo, "pose": pose}


@pytest.fixture
def server(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory):
    env = {
        "IMAGE_INTERPRETER_PROFILE": "tiny",
        "IMAGE_INTERPRETER_DEVICE": "cpu",
        "IMAGE_INTERPRETER_DATA_DIR": str(tmp_path / "data"),
        "IMAGE_INTERPRETER_TINY_DIR": str(tmp_path_factory.getbasetemp() / "generate-tiny-models"),
        "IMAGE_INTERPRETER_CHAT__EXTRACT": "depth,edges",
        "IMAGE_INTERPRETER_CHAT__SIZE": "64",
        "IMAGE_INTERPRETER_CHAT__STEPS": "2",
        "IMAGE_INTERPRETER_CHAT__CANDIDATES": "2",
        "IMAGE_INTERPRETER_WEB__AUTH": "password",
        "IMAGE_INTERPRETER_WEB__USERS": json.dumps({"tester": hash_password("correct horse")}),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    running = ChainlitServer(free_port(), env, tmp_path / "chainlit.log")
    running.start()
    yield running
    running.stop()


def test_photo_pose_edit_generate_and_resume(server, files, tmp_path: Path):
    shots = tmp_path / "screenshots"
    started = time.monotonic()
    with chromium() as browser:
        chat = ChatPage(browser.new_page(), server.url, shots)
        chat.sign_in("tester", "correct horse")
        chat.wait_ready()

        # a photo: stored, depth and edges extracted and shown
        chat.upload(files["photo"])
        chat.wait_text("Extracted depth, edges", timeout_s=600)  # builds the tiny models once
        chat.wait_image("depth · v2 · on")
        chat.wait_image("edges · v2 · on")
        chat.shot("1-photo")

        # a known pose for the person in it
        chat.upload(files["pose"])
        chat.wait_text("Imported 1 person")
        chat.wait_image("people · v3 · on")

        # the edit: a new version, a new skeleton
        chat.say("raise the left arm")
        reply = chat.wait_text("(version 4)")
        assert "left arm" in reply.inner_text()
        skeleton = chat.wait_image("people · v4 · on")
        chat.shot("2-raise-left-arm")
        assert skeleton.is_visible()

        # two candidates, with their scores and buttons
        chat.say("generate 2 candidates")
        reply = chat.wait_text("Generation 1 from version 4", timeout_s=180)
        chat.wait_image("candidate 1 · generation 1")
        chat.wait_image("candidate 2 · generation 1")
        assert "score" in reply.inner_text()
        chat.shot("3-candidates")

        # a button: keep candidate 1 (a new version that draws from it)
        reply.get_by_role("button", name="Pick 1").click()
        chat.wait_text("Picked candidate 1 of generation 1")

        # the server restarts; the conversation is in the thread list and opens where it was
        server.stop()
        server.start()
        chat.page.goto(server.url + "/")
        chat.wait_ready()
        thread = chat.page.locator("#thread-history").get_by_text("astronaut.png").first
        thread.wait_for(timeout=60_000)
        thread.click()
        chat.wait_text("Resumed. Version 5", timeout_s=60)
        said = chat.page.locator('[data-step-type="user_message"]', has_text="raise the left arm")
        said.first.wait_for(timeout=30_000)
        chat.wait_text("Generation 1 from version 4", timeout_s=10)
        chat.wait_image("people · v5 · on")
        chat.shot("4-resumed")

        # and it goes on: the next edit is version 6 of the same session
        chat.say("lower the left arm")
        assert "left arm" in chat.wait_text("(version 6)").inner_text()
    print(f"\nscreenshots in {shots} ({time.monotonic() - started:.0f} s in the browser)")


TOOL_CALL = re.compile(r"\w+\(.*=")  # "choose_candidate(generation=1, ...)" in a reply


def test_the_demo_walk(server, tmp_path: Path):
    """A new user on tiny models: the demo button, an edit, "what do you see?", two
    candidates numbered 1 and 2 everywhere, pick 1, undo; every picture named, no tool syntax."""
    shots = tmp_path / "screenshots"
    with chromium() as browser:
        chat = ChatPage(browser.new_page(), server.url, shots)
        chat.sign_in("tester", "correct horse")
        chat.wait_ready()

        chat.page.get_by_role("button", name="Try the demo").click()
        # the first photo builds the tiny extraction models (once per models folder)
        reply = chat.wait_text("public-domain portrait of astronaut", timeout_s=600)
        assert "Imported 1 person" in reply.inner_text()
        for label in ("people · v3 · on", "depth · v3 · on", "edges · v3 · on"):
            chat.wait_image(label)
        _keep_for_docs(chat.shot("1-demo"), "chat-demo")

        chat.say("raise the left arm")
        assert "left arm" in chat.wait_text("(version 4)").inner_text()
        chat.wait_image("people · v4 · on")
        _keep_for_docs(chat.shot("2-raise-left-arm"), "chat-raise-left-arm")

        chat.say("what do you see?")
        reply = chat.wait_text("Version 4 of astronaut.jpg")
        seen = reply.inner_text()
        assert "1 person: person 1 (the astronaut)" in seen and "0 people" not in seen
        assert "“”" not in seen  # no empty quotes
        assert reply.locator("table").count() == 1  # the priors table
        for label in ("people · v4 · on", "depth · v4 · on", "edges · v4 · on"):
            assert reply.locator(f'img.inline-image[alt*="{label}"]').count() == 1
        _keep_for_docs(chat.shot("3-what-do-you-see"), "chat-what-do-you-see")

        chat.say("generate 2")
        reply = chat.wait_text("Generation 1 from version 4", timeout_s=300)
        second = reply.locator('img.inline-image[alt*="candidate 2 · generation 1"]')
        second.wait_for(timeout=60_000)
        # the chat scrolls to new pictures by itself
        chat.page.wait_for_function(
            "img => { const r = img.getBoundingClientRect();"
            " return img.complete && r.bottom > 0 && r.top < window.innerHeight; }",
            arg=second.element_handle(),
            timeout=15_000,
        )
        text = reply.inner_text()
        # one numbering: the ranked list, the table and the buttons say 1 and 2, never 0
        assert "candidate 1" in text and "candidate 2" in text and "candidate 0" not in text
        assert "“pick" in text
        for n in (1, 2):
            assert reply.get_by_role("button", name=f"Pick {n}").count() == 1
        assert reply.get_by_role("button", name="Pick 0").count() == 0
        chat.wait_image("candidate 1 · generation 1")
        _keep_for_docs(chat.shot("4-candidates"), "chat-candidates")

        reply.get_by_role("button", name="Pick 1").click()
        picked = chat.wait_text("Picked candidate 1 of generation 1")
        assert "Version 5" in picked.inner_text()
        chat.wait_image("people · v5 · on")

        chat.say("undo")
        undone = chat.wait_text("Undid the last change")
        assert "picked candidate 1 of generation 1" in undone.inner_text()
        assert "now at version 4" in undone.inner_text()

        chat.say("drop the depth map")
        chat.wait_image("depth · v6 · off")
        _keep_for_docs(chat.shot("5-undo-and-depth-off"), "chat-depth-off")

        replies = chat.assistant_messages().all_inner_texts()
        leaked = [r for r in replies if TOOL_CALL.search(r)]
        assert not leaked, leaked
    print(f"\nscreenshots in {shots}")


def _keep_for_docs(path: Path, name: str) -> None:
    """A small copy (256 colours) in docs/, when asked to refresh them."""
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") != "1":
        return
    picture = Image.open(path).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    assert len(buffer.getvalue()) < 500_000, "a docs screenshot must stay under 500 KB"
    DOCS.mkdir(exist_ok=True)
    (DOCS / f"{name}.png").write_bytes(buffer.getvalue())
