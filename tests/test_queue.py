"""The per-device GPU queue: one job at a time per device, round-robin between sessions,
cancellable, with results and errors delivered through futures."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import CancelledError

import pytest

from image_interpreter.generate.queue import (
    GPUQueue,
    JobCancelled,
    cancellable,
    current_job,
    device_key,
    shared_queue,
)

TIMEOUT = 10


@pytest.fixture
def queue():
    q = GPUQueue()
    yield q
    q.shutdown(cancel_pending=True)


def _gate(queue: GPUQueue, device: str = "cuda:0"):
    """Occupy `device` until the returned event is set, so later jobs all wait in the queue."""
    release, started = threading.Event(), threading.Event()

    def hold() -> str:
        started.set()
        release.wait(TIMEOUT)
        return "gate"

    job = queue.submit(hold, session="gate", device=device)
    assert started.wait(TIMEOUT)
    return release, job


def test_sessions_alternate_round_robin(queue):
    order: list[str] = []
    release, gate = _gate(queue)
    jobs = [
        queue.submit(order.append, f"{session}{i}", session=session, device="cuda:0")
        for session in ("A", "B")
        for i in range(1, 4)
    ]  # all of A's jobs queued before any of B's: FIFO would run A1 A2 A3 B1 B2 B3
    jobs.append(queue.submit(order.append, "C1", session="C", device="cuda:0"))
    assert [j.session for j in queue.pending("cuda:0")] == ["A", "B", "C", "A", "B", "A", "B"]
    release.set()
    for job in [gate, *jobs]:
        job.result(TIMEOUT)
    assert order == ["A1", "B1", "C1", "A2", "B2", "A3", "B3"]


def test_no_two_jobs_overlap_on_one_device_and_devices_run_in_parallel(queue):
    spans: dict[str, list[tuple[float, float]]] = {"cuda:0": [], "cuda:1": []}
    both_busy = threading.Barrier(2, timeout=TIMEOUT)

    def work(device: str, first: bool) -> None:
        start = time.perf_counter()
        if first:
            both_busy.wait()  # would time out if the two devices did not run at once
        time.sleep(0.01)
        spans[device].append((start, time.perf_counter()))

    jobs = []
    for i in range(4):
        for session in ("s1", "s2"):
            for device in spans:
                first = i == 0 and session == "s1"
                jobs.append(queue.submit(work, device, first, session=session, device=device))
    for job in jobs:
        job.result(TIMEOUT)
    for device, device_spans in spans.items():
        assert len(device_spans) == 8
        ordered = sorted(device_spans)
        for (_, end), (next_start, _) in itertools.pairwise(ordered):
            assert end <= next_start, f"jobs overlapped on {device}"


def test_cancel_a_queued_job_removes_it(queue):
    ran: list[str] = []
    release, gate = _gate(queue)
    keep = queue.submit(ran.append, "keep", session="A", device="cuda:0")
    drop = queue.submit(ran.append, "drop", session="A", device="cuda:0")
    assert drop.cancel() is True
    assert drop.cancelled()
    assert drop not in queue.pending()
    release.set()
    keep.result(TIMEOUT)
    gate.result(TIMEOUT)
    assert ran == ["keep"]
    with pytest.raises(CancelledError):
        drop.result(TIMEOUT)


def test_cancel_a_running_job_sets_its_flag_and_the_progress_check_stops_it(queue):
    started, flagged = threading.Event(), threading.Event()
    steps: list[int] = []

    def generate() -> str:
        job = current_job()
        assert job is not None
        report = cancellable(lambda step: steps.append(step))
        started.set()
        for step in range(1000):
            report(step)
            if step == 2:
                assert flagged.wait(TIMEOUT)
        return "finished"

    job = queue.submit(generate, session="A", device="cpu")
    assert started.wait(TIMEOUT)
    assert job.running()
    assert job.cancel() is False  # a running job cannot be cancelled outright: it is flagged
    assert job.cancel_requested.is_set()
    flagged.set()
    with pytest.raises(JobCancelled):
        job.result(TIMEOUT)
    assert isinstance(job.exception(), CancelledError)
    assert steps == [0, 1, 2]  # stopped at the first check after the flag


def test_a_failing_job_reports_its_error_and_the_worker_goes_on(queue):
    def fail() -> None:
        raise ValueError("out of luck")

    bad = queue.submit(fail, session="A", device="cuda:0")
    good = queue.submit(lambda x: x * 2, 21, session="B", device="cuda:0")
    with pytest.raises(ValueError, match="out of luck"):
        bad.result(TIMEOUT)
    assert good.result(TIMEOUT) == 42
    assert queue.submit(str, 7, session="A", device="cuda:0").result(TIMEOUT) == "7"


def test_cancel_session_and_shutdown(queue):
    release, gate = _gate(queue)
    a = [queue.submit(time.sleep, 0, session="A", device="cuda:0") for _ in range(3)]
    b = queue.submit(lambda: "b", session="B", device="cuda:0")
    assert queue.cancel_session("A") == 3
    assert all(job.cancelled() for job in a)
    release.set()
    assert b.result(TIMEOUT) == "b"
    gate.result(TIMEOUT)
    queue.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        queue.submit(print, session="A", device="cpu")


def test_device_names():
    assert device_key("CUDA:1") == "cuda:1"
    assert device_key("cpu") == "cpu"
    torch = pytest.importorskip("torch")
    assert device_key(torch.device("cuda", 1)) == "cuda:1"


def test_one_shared_queue_per_process():
    assert shared_queue() is shared_queue()
    assert shared_queue().submit(len, "abc", session="s", device="cpu").result(TIMEOUT) == 3
