"""For the browser tests: the Chainlit app as a subprocess on loopback, and Debian's Chromium
driven by Playwright (never a downloaded browser; nothing outside loopback is fetched)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM} (Debian's chromium package; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (a dev dependency) is not installed"
    return None


class ChainlitServer:
    """`chainlit run app.py --headless` on 127.0.0.1:`port`, with `env` on top of a clean
    environment; its output goes to `log`. Start and stop it as often as needed."""

    def __init__(self, port: int, env: dict[str, str], log: Path):
        self.port = port
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> None:
        chainlit = Path(sys.executable).with_name("chainlit")
        command = [str(chainlit)] if chainlit.is_file() else [sys.executable, "-m", "chainlit"]
        command += ["run", "app.py", "--headless", "--port", str(self.port), "--host", "127.0.0.1"]
        ours = ("IMAGE_INTERPRETER_", "CHAINLIT_")
        keep = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, env={**keep, **self.env}, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chainlit exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"chainlit did not answer within {timeout_s:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def chromium(viewport: tuple[int, int] = (1280, 1000)) -> Iterator[object]:
    """A Playwright browser context on Debian's Chromium with a fresh profile; requests leave
    loopback never (fonts and scripts from CDNs are refused)."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": viewport[0], "height": viewport[1]},
            )
            context.route(re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])"), _refuse)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _refuse(route: object) -> None:
    route.abort()  # type: ignore[attr-defined]


class ChatPage:
    """The Chainlit chat, as a user sees it."""

    def __init__(self, page: object, base_url: str, shots: Path):
        self.page = page
        self.base = base_url
        self.shots = shots

    def sign_in(self, user: str, password: str) -> None:
        p = self.page
        p.goto(self.base + "/")
        p.locator("input").first.fill(user)
        p.locator("input[type=password]").fill(password)
        p.get_by_role("button", name="Sign In").click()

    def wait_ready(self) -> None:
        """The chat is connected once the app's welcome message is there."""
        self.page.get_by_text("Upload or paste a photo").first.wait_for(timeout=60_000)

    def upload(self, path: Path) -> None:
        p = self.page
        p.locator("#upload-button-input").set_input_files(str(path))
        p.locator("#chat-submit:enabled").click(timeout=60_000)

    def say(self, text: str) -> None:
        p = self.page
        p.locator("#chat-input").click()
        p.locator("#chat-input").fill(text)
        p.locator("#chat-submit:enabled").click(timeout=60_000)

    def assistant_messages(self) -> object:
        return self.page.locator('[data-step-type="assistant_message"]')

    def wait_text(self, text: str, timeout_s: float = 120.0) -> object:
        found = self.page.locator('[data-step-type="assistant_message"]', has_text=text).last
        found.wait_for(timeout=timeout_s * 1000)
        return found

    def wait_image(self, alt: str, timeout_s: float = 120.0) -> object:
        found = self.page.locator(f'img.inline-image[alt*="{alt}"]').last
        found.wait_for(timeout=timeout_s * 1000)
        found.scroll_into_view_if_needed()
        self.page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=found.element_handle()
        )
        return found

    def shot(self, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path
