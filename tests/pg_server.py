"""A real PostgreSQL server for the tests, from Debian's `postgresql` package (.ci/run installs it).

PostgreSQL refuses to run as root, and CI runs as root: the server then runs as the package's
unprivileged `postgres` user, in a temporary folder it owns, listening on a loopback port and a
socket in that folder. Each test gets a database of its own.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def available() -> bool:
    return _binaries() is not None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    folder: Path
    port: int
    user: str
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        as_user = ["runuser", "-u", self.user, "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*as_user, *command], check=True, capture_output=True, text=True, timeout=60
        )

    @property
    def bin(self) -> Path:
        found = _binaries()
        assert found is not None
        return found

    def start(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-l",
            str(self.folder / "server.log"), "-w", "-t", "30", "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", mode, "-w", "stop"
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self._run(str(self.bin / "createdb"), "-h", str(self.folder), "-p", str(self.port), name)
        return self.url(name)


def start_postgres() -> PostgresServer:
    """initdb + start in a new temporary folder; the caller stops it (and removes the folder)."""
    if not available():
        raise RuntimeError(
            "PostgreSQL is not installed: `apt-get install postgresql` (.ci/run does this)."
        )
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    folder = Path(tempfile.mkdtemp(prefix="ii-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, user=user)
    server = PostgresServer(folder=folder, port=_free_port(), user=user)
    server._run(
        str(server.bin / "initdb"), "-D", str(folder / "data"), "-U", user,
        "--auth=trust", "--no-sync", "-E", "UTF8",
    )  # fmt: skip
    server.start()
    return server


def remove(server: PostgresServer) -> None:
    try:
        server.stop("immediate")
    finally:
        shutil.rmtree(server.folder, ignore_errors=True)
