"""A local TGI is not the hub: HF_HUB_OFFLINE must not cut the agent off from its own server.

huggingface_hub's InferenceClient sends through the library's shared httpx client, whose request
hook refuses every request while offline mode is on (HF_HUB_OFFLINE=1, common on machines
without internet), including those to a text-generation-inference server on the operator's own
network. `let_through(root)` names the configured server's origin; the library's request hooks
are wrapped so that, for that origin only, the offline refusal is skipped. Requests to the hub
itself (downloads, the hub's API) are refused offline exactly as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
from huggingface_hub import constants, get_session

Origin = tuple[str, str, int | None]

_SERVERS: set[Origin] = set()
_LOCK = threading.Lock()
_WRAPPED = "_image_interpreter_lets_servers_through"


def origin(url: str | httpx.URL) -> Origin:
    parsed = httpx.URL(str(url))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return (parsed.scheme, parsed.host, port)


def let_through(root: str) -> None:
    """Requests to `root`'s origin pass while offline (see the module docstring)."""
    with _LOCK:
        _SERVERS.add(origin(root))
        session = get_session()  # the shared client: recreated when a factory is set, so check
        hooks = dict(session.event_hooks)
        request = list(hooks.get("request", []))
        if any(getattr(h, _WRAPPED, False) for h in request):
            return
        hooks["request"] = [_wrap(h) if _from_hub(h) else h for h in request]
        session.event_hooks = hooks


def _from_hub(hook: Callable[..., Any]) -> bool:
    return getattr(hook, "__module__", "").startswith("huggingface_hub")


def _wrap(hook: Callable[[httpx.Request], Any]) -> Callable[[httpx.Request], Any]:
    def hook_unless_our_server(request: httpx.Request) -> Any:
        if constants.is_offline_mode() and origin(request.url) in _SERVERS:
            return None  # the operator's own server, not the hub
        return hook(request)

    setattr(hook_unless_our_server, _WRAPPED, True)
    return hook_unless_our_server
