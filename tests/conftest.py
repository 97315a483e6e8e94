"""Every test runs as a fresh user would: no network to the model hub, no settings or data from
the machine's own configuration."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path_factory):
    for name in ("IMAGE_INTERPRETER_CONFIG", "IMAGE_INTERPRETER_PROFILE",
                 "IMAGE_INTERPRETER_DATABASE_URL", "IMAGE_INTERPRETER_MODELS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGE_INTERPRETER_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the whole run (started on first use, stopped at the end)."""
    from pg_server import remove, start_postgres

    server = start_postgres()
    yield server
    remove(server)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module of tiny-model tests: tiny models are latency-bound, so
    more threads only contend on a shared CPU (`pytestmark = usefixtures("one_torch_thread")`)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
