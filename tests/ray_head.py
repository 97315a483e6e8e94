"""A Ray cluster on loopback for tests and benchmarks that run several app processes: `ray start
--head` in its own temporary folder, with token authentication on, stopped at the end.

The environment it yields is what every process joining the cluster needs: the address (set as
`compute.address`), the shared token, and `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, without which a
driver connecting to 127.0.0.1 is sent to the machine's own address instead of loopback.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(temp: str) -> None:
    """Stop this cluster only (`ray stop` would stop every cluster on the machine): the
    processes that name its temporary folder, and everything they started (agents, workers)."""
    import psutil

    mine: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(temp in part for part in proc.info["cmdline"] or ()):
                for each in [proc, *proc.children(recursive=True)]:
                    mine[each.pid] = each
        except psutil.Error:  # gone meanwhile
            continue
    for proc in mine.values():
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(list(mine.values()), timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)


def _ray(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["ray", *args], env=env, capture_output=True, text=True, timeout=180)


@contextmanager
def ray_head(cpus: int, env: dict[str, str] | None = None, tries: int = 3) -> Iterator[dict]:
    """Start a head with `cpus` CPUs on a free loopback port; yields the joining environment
    (`env` or os.environ, plus the cluster's variables). A busy machine can miss Ray's fixed
    30 s raylet start-up wait, so the start is tried `tries` times."""
    temp = tempfile.mkdtemp(prefix="ray-")
    joined = {
        **(os.environ if env is None else env),
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",  # workers run from this virtual environment
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # one machine, loopback only
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    for attempt in range(1, tries + 1):
        port = _free_port()
        started = _ray(
            ["start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
             f"--num-cpus={cpus}", "--num-gpus=0", "--include-dashboard=false",
             f"--temp-dir={temp}", "--disable-usage-stats"],
            joined,
        )  # fmt: skip
        if started.returncode == 0:
            break
        _stop(temp)
        if attempt == tries:
            raise RuntimeError(f"ray start failed:\n{started.stderr[-2000:]}")
    joined["IMAGE_INTERPRETER_COMPUTE__ADDRESS"] = f"127.0.0.1:{port}"
    try:
        yield joined
    finally:
        _stop(temp)
