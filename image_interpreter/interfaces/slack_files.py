"""Photos posted in Slack, fetched with the bot token — from Slack's own file host only.

A file in a message event names its bytes by `url_private_download` (or `url_private`), which
needs `Authorization: Bearer <bot token>`. The token must never go anywhere else, and the bot must
never be a way to make the server fetch a URL someone typed, so a URL is used only when

- it is on the configured file host (`https://files.slack.com/` unless configured otherwise),
  with no user name, password, or other port;
- its path is `/files-pri/<team>-<file id>/...` for the bot's own workspace (team or enterprise
  id from auth.test) and the very file the event names;
- the file says it is an image (or an OpenPose JSON file, at most 5 MiB) no larger than
  `Limits.max_bytes`.

Redirects are followed only to URLs that pass the same checks; the body is read in chunks and
abandoned as soon as it passes the byte limit. Decoding (pixel limits, formats) is left to the
session's safe loader.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from image_interpreter.errors import ImageInterpreterError, ImageRejected
from image_interpreter.settings import Limits

SLACK_FILES_URL = "https://files.slack.com/"
MAX_POSE_BYTES = 5 * 1024 * 1024
_MAX_REDIRECTS = 3
_SAFE_NAME = re.compile(r"[^\w.\- ]+")


class SlackFileRefused(ImageInterpreterError):
    """A file in a Slack message is not one the bot will fetch (not an image, too large, or not
    hosted by this workspace on Slack's file host)."""


@dataclass(frozen=True)
class SlackFile:
    """The parts of a Slack file object the bot uses."""

    id: str
    name: str
    mimetype: str
    size: int | None
    url: str | None

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> SlackFile:
        size = data.get("size")
        return cls(
            id=str(data.get("id") or ""),
            name=safe_name(str(data.get("name") or data.get("title") or "photo")),
            mimetype=str(data.get("mimetype") or ""),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            url=data.get("url_private_download") or data.get("url_private") or None,
        )

    @property
    def is_image(self) -> bool:
        return self.mimetype.lower().startswith("image/")

    @property
    def is_pose(self) -> bool:
        """An OpenPose JSON file (to import as the people of the current version)."""
        kind = self.mimetype.lower()
        return self.name.lower().endswith(".json") and (
            kind in ("application/json", "text/plain", "text/json", "")
        )


def safe_name(name: str) -> str:
    """A file name for display and storage: no path, no odd characters, not too long."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _SAFE_NAME.sub("_", base).strip(" .") or "photo"
    return cleaned[:120]


def check_file_url(
    url: str, *, file_id: str, teams: Collection[str], files_url: str = SLACK_FILES_URL
) -> str:
    """`url` if the bot may fetch it with its token (see the module docstring); else
    SlackFileRefused."""
    refused = SlackFileRefused(
        "That file is not hosted by this Slack workspace, so I won't fetch it. Upload the photo"
        " into the thread itself (not a link to it)."
    )
    if not isinstance(url, str) or len(url) > 2048 or any(c in url for c in "\r\n\t\\ "):
        raise refused
    try:
        got, allowed = urlsplit(url), urlsplit(files_url)
        ports = (got.port, allowed.port)
    except ValueError:
        raise refused from None
    if (
        got.scheme != allowed.scheme
        or got.scheme not in {"https", "http"}
        or (got.hostname or "").lower() != (allowed.hostname or "").lower()
        or ports[0] != ports[1]
        or got.username is not None
        or got.password is not None
        or got.fragment
    ):
        raise refused
    root = allowed.path.rstrip("/") + "/files-pri/"
    path = unquote(got.path)
    if not path.startswith(root) or "/../" in path or "/./" in path or "//" in path[1:]:
        raise refused
    owner = path[len(root) :].split("/", 1)[0]
    team, _, named = owner.rpartition("-")
    if not file_id or named != file_id or team not in set(teams):
        raise refused
    return url


def fetch_file(
    file: SlackFile,
    *,
    token: str,
    teams: Collection[str],
    limits: Limits,
    files_url: str = SLACK_FILES_URL,
    timeout_s: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> bytes:
    """The bytes of an image (or OpenPose JSON) posted in Slack, fetched with the bot token
    (module docstring)."""
    if not (file.is_image or file.is_pose):
        raise SlackFileRefused(
            f"'{file.name}' is not a picture ({file.mimetype or 'unknown type'}); send a PNG or"
            " JPEG photo (or an OpenPose .json pose)."
        )
    if file.is_pose and not file.is_image:
        limits = limits.model_copy(update={"max_bytes": min(limits.max_bytes, MAX_POSE_BYTES)})
    if file.size is not None and file.size > limits.max_bytes:
        raise ImageRejected(
            f"'{file.name}' is {file.size / 2**20:.1f} MiB; the limit is"
            f" {limits.max_bytes / 2**20:.1f} MiB. Compress or resize it before uploading."
        )
    if not file.url:
        raise SlackFileRefused(
            f"Slack did not give me a download link for '{file.name}'. Upload it again."
        )
    url = check_file_url(file.url, file_id=file.id, teams=teams, files_url=files_url)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(
        timeout=timeout_s, follow_redirects=False, transport=transport, trust_env=False
    ) as client:
        for _ in range(_MAX_REDIRECTS + 1):
            with client.stream("GET", url, headers=headers) as response:
                if response.is_redirect and "location" in response.headers:
                    target = urljoin(url, response.headers["location"])
                    url = check_file_url(target, file_id=file.id, teams=teams, files_url=files_url)
                    continue
                return _body(response, file, limits)
    raise SlackFileRefused(f"Slack redirected the download of '{file.name}' too many times.")


def _body(response: httpx.Response, file: SlackFile, limits: Limits) -> bytes:
    if response.status_code in (401, 403, 404):
        raise SlackFileRefused(
            f"Slack refused to let me download '{file.name}' ({response.status_code}). Check that"
            " the app has the files:read scope and is in this channel."
        )
    if response.status_code != 200:
        raise SlackFileRefused(
            f"Slack could not serve '{file.name}' right now ({response.status_code}); try again."
        )
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "text/html":  # Slack's sign-in page: the token was not accepted for this file
        raise SlackFileRefused(
            f"Slack answered with a sign-in page instead of '{file.name}'. Check that the app has"
            " the files:read scope and reinstall it."
        )
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > limits.max_bytes:
        raise _too_large(file, limits)
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limits.max_bytes:
            raise _too_large(file, limits)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(file: SlackFile, limits: Limits) -> ImageRejected:
    return ImageRejected(
        f"'{file.name}' is larger than {limits.max_bytes / 2**20:.1f} MiB, the limit"
        " (IMAGE_INTERPRETER_LIMITS__MAX_BYTES). Compress or resize it before uploading."
    )
