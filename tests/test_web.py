"""The web app in a real browser: `chainlit run app.py` on loopback with the tiny models, driven by
Playwright on Debian's Chromium, as a user would use it.

A user signs in, uploads a photo (its depth and edges are extracted), uploads an OpenPose file
(a known person: random tiny pose models find nobody), types "raise the left arm" and sees the
new skeleton, asks for two candidates, sees them with their scores and keeps one with its
button; after the server restarts, the conversation is in the thread list and opens where it
was.

Screenshots go to the test's tmp folder (`screenshots/`, printed at the end). With
UPDATE_DOCS_SCREENSHOT=1 the one after "raise the left arm" replaces docs/chat-raise-left-arm.png.
"""

from __future__ import annotations

import io
import json
import os
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


DOCS_SHOT = REPO / "docs" / "chat-raise-left-arm.png"


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
        chat.wait_text("Extracted depth, edges")
        chat.wait_image("v2 depth")
        chat.wait_image("v2 edges")
        chat.shot("1-photo")

        # a known pose for the person in it
        chat.upload(files["pose"])
        chat.wait_text("Imported 1 person")
        chat.wait_image("v3 people (skeleton over the photo)")

        # the edit: a new version, a new skeleton
        chat.say("raise the left arm")
        reply = chat.wait_text("(version 4)")
        assert "left arm" in reply.inner_text()
        skeleton = chat.wait_image("v4 people (skeleton over the photo)")
        path = chat.shot("2-raise-left-arm")
        _keep_for_docs(path)
        assert skeleton.is_visible()

        # two candidates, with their scores and buttons
        chat.say("generate 2 candidates")
        reply = chat.wait_text("Generation 1 from version 4", timeout_s=180)
        chat.wait_image("generation 1 · candidate 0")
        chat.wait_image("generation 1 · candidate 1")
        assert "score" in reply.inner_text()
        chat.shot("3-candidates")

        # a button: keep candidate 0
        reply.get_by_role("button", name="Pick 0").click()
        chat.wait_text("Chose candidate 0 of generation 1")

        # the server restarts; the conversation is in the thread list and opens where it was
        server.stop()
        server.start()
        chat.page.goto(server.url + "/")
        chat.wait_ready()
        thread = chat.page.locator("#thread-history").get_by_text("astronaut.png").first
        thread.wait_for(timeout=60_000)
        thread.click()
        chat.wait_text("Resumed. Version 4", timeout_s=60)
        said = chat.page.locator('[data-step-type="user_message"]', has_text="raise the left arm")
        said.first.wait_for(timeout=30_000)
        chat.wait_text("Generation 1 from version 4", timeout_s=10)
        chat.wait_image("v4 people (skeleton over the photo)")
        chat.shot("4-resumed")

        # and it goes on: the next edit is version 5 of the same session
        chat.say("lower the left arm")
        assert "left arm" in chat.wait_text("(version 5)").inner_text()
    print(f"\nscreenshots in {shots} ({time.monotonic() - started:.0f} s in the browser)")


def _keep_for_docs(path: Path) -> None:
    """A small copy (256 colours) for docs/, when asked to refresh it."""
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") != "1":
        return
    picture = Image.open(path).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    assert len(buffer.getvalue()) < 500_000, "the docs screenshot must stay under 500 KB"
    DOCS_SHOT.parent.mkdir(exist_ok=True)
    DOCS_SHOT.write_bytes(buffer.getvalue())
