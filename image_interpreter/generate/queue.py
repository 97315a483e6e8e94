"""The per-device GPU queue: many sessions share one accelerator without running out of memory.

Each device ("cuda:0", "cpu", ...) has one worker thread that runs one job at a time, so two
requests never interleave on a device. Jobs wait per session, and the worker takes them
round-robin across sessions (A1 B1 A2 B2 ..., not A1 A2 A3 B1 ...), so one session asking for
many candidates does not starve the others. A queued job can be cancelled (it is removed and never
runs); a running job cannot be stopped from outside, so cancelling it sets its flag, which the
job's progress callback checks between steps (see `cancellable`) to stop early.

    queue = GPUQueue()
    job = queue.submit(lambda: generator.generate(request, progress=cancellable(report)),
                       session="s1", device="cuda:0")
    job.result()        # the return value, or the job's exception re-raised
    job.cancel()        # queued: removed; running: flagged

Results and errors arrive through `Job`, a `concurrent.futures.Future`. A job stopped by its flag
ends with `JobCancelled` (a `GenerationCancelled` and a `CancelledError`); a job that raises
`GenerationCancelled` itself (a UI's own stop button) ends the same way.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from typing import Any, Generic, TypeVar

from image_interpreter.generate.errors import GenerationCancelled

T = TypeVar("T")

_local = threading.local()


class JobCancelled(GenerationCancelled, CancelledError):
    """A job stopped because it was cancelled: a GenerationCancelled (so the generator stops
    between steps without retrying) and a futures CancelledError."""


class Job(Future, Generic[T]):
    """One unit of work on one device for one session: a Future with a cancel flag.

    `cancel()` removes a queued job (it never runs and the future is cancelled) and returns True;
    on a running job it sets `cancel_requested` and returns False, as a Future cannot be
    cancelled once running; the job ends when it next checks the flag."""

    def __init__(
        self, queue: GPUQueue, fn: Callable[[], T], session: str, device: str, number: int
    ) -> None:
        super().__init__()
        self._queue = queue
        self._fn = fn
        self.session = session
        self.device = device
        self.number = number
        self.cancel_requested = threading.Event()

    def __repr__(self) -> str:
        if self.done():
            state = "cancelled" if self.cancelled() else "done"
        else:
            state = "running" if self.running() else "waiting"
        if self.cancel_requested.is_set() and not self.done():
            state += ", cancel requested"
        return f"<Job {self.number} session={self.session!r} device={self.device!r} {state}>"

    def cancel(self) -> bool:
        self.cancel_requested.set()
        return self._queue._cancel(self)

    def check_cancelled(self) -> None:
        """Raise `JobCancelled` if cancelling was asked for (call it between steps)."""
        if self.cancel_requested.is_set():
            raise JobCancelled(f"Job {self.number} of session '{self.session}' was cancelled.")

    def _super_cancel(self) -> bool:
        return super().cancel()


class _DeviceLane:
    """Waiting jobs of one device, per session, and the worker thread that runs them."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.waiting: dict[str, deque[Job[Any]]] = {}
        self.turns: deque[str] = deque()  # sessions with waiting jobs, in round-robin order
        self.running: Job[Any] | None = None
        self.thread: threading.Thread | None = None

    def push(self, job: Job[Any]) -> None:
        jobs = self.waiting.setdefault(job.session, deque())
        if not jobs:
            self.turns.append(job.session)
        jobs.append(job)

    def pop(self) -> Job[Any] | None:
        """The next job: the first of the session whose turn it is; that session goes last."""
        while self.turns:
            session = self.turns.popleft()
            jobs = self.waiting.get(session)
            if not jobs:
                self.waiting.pop(session, None)
                continue
            job = jobs.popleft()
            if jobs:
                self.turns.append(session)
            else:
                del self.waiting[session]
            return job
        return None

    def remove(self, job: Job[Any]) -> bool:
        jobs = self.waiting.get(job.session)
        if not jobs or job not in jobs:
            return False
        jobs.remove(job)
        if not jobs:
            del self.waiting[job.session]
            self.turns.remove(job.session)
        return True

    def order(self) -> list[Job[Any]]:
        """Waiting jobs in the order they will run (if nothing else arrives)."""
        copies = {session: list(jobs) for session, jobs in self.waiting.items()}
        turns = deque(self.turns)
        out: list[Job[Any]] = []
        while turns:
            session = turns.popleft()
            out.append(copies[session].pop(0))
            if copies[session]:
                turns.append(session)
        return out


class GPUQueue:
    """Per-device job queues, fair between sessions, one job at a time per device.

    Workers are threads started on a device's first job; `shutdown()` stops them (waiting jobs
    are cancelled if asked, else run first). Usable as a context manager."""

    def __init__(self, *, name: str = "gpu-queue") -> None:
        self._name = name
        self._lock = threading.Condition()
        self._lanes: dict[str, _DeviceLane] = {}
        self._numbers = itertools.count(1)
        self._closed = False

    def __enter__(self) -> GPUQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(cancel_pending=True)

    def submit(
        self, fn: Callable[..., T], /, *args: Any, session: str, device: Any, **kwargs: Any
    ) -> Job[T]:
        """Queue `fn(*args, **kwargs)` for `session` on `device` ("cuda:0", "cpu", or a
        torch.device). Returns its `Job`."""
        if not isinstance(session, str) or not session:
            raise ValueError("GPUQueue.submit needs session='<session id>'.")
        key = device_key(device)
        with self._lock:
            if self._closed:
                raise RuntimeError("This GPU queue is shut down; no new jobs are accepted.")
            job: Job[T] = Job(self, lambda: fn(*args, **kwargs), session, key, next(self._numbers))
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = _DeviceLane(key)
            lane.push(job)
            if lane.thread is None:
                lane.thread = threading.Thread(
                    target=self._work, args=(lane,), name=f"{self._name}[{key}]", daemon=True
                )
                lane.thread.start()
            self._lock.notify_all()
        return job

    def pending(self, device: Any | None = None) -> list[Job[Any]]:
        """Waiting jobs (of one device, or all), each device's in the order they will run."""
        with self._lock:
            if device is None:
                lanes = list(self._lanes.values())
            else:
                lane = self._lanes.get(device_key(device))
                lanes = [lane] if lane is not None else []
            return [job for lane in lanes for job in lane.order()]

    def running(self) -> list[Job[Any]]:
        """The job running on each busy device."""
        with self._lock:
            return [lane.running for lane in self._lanes.values() if lane.running is not None]

    def cancel_session(self, session: str) -> int:
        """Cancel every job of `session`: waiting ones are removed, running ones flagged.
        Returns how many jobs were touched."""
        with self._lock:
            jobs = [job for lane in self._lanes.values() for job in lane.waiting.get(session, ())]
            jobs += [job for job in self.running() if job.session == session]
        for job in jobs:
            job.cancel()
        return len(jobs)

    def shutdown(self, *, wait: bool = True, cancel_pending: bool = False) -> None:
        """Accept no more jobs; cancel the waiting ones if asked (and flag the running ones),
        else let them run; with `wait`, return when the workers have stopped."""
        with self._lock:
            self._closed = True
            lanes = list(self._lanes.values())
            if cancel_pending:
                for lane in lanes:
                    for job in lane.order():
                        lane.remove(job)
                        job.cancel_requested.set()
                        job._super_cancel()
                    if lane.running is not None:
                        lane.running.cancel_requested.set()
            self._lock.notify_all()
        if wait:
            for lane in lanes:
                if lane.thread is not None and lane.thread is not threading.current_thread():
                    lane.thread.join()

    # --- internals ------------------------------------------------------------------------

    def _cancel(self, job: Job[Any]) -> bool:
        with self._lock:
            lane = self._lanes.get(job.device)
            if lane is not None and lane.remove(job):
                return job._super_cancel()
            return job.done() and job.cancelled()

    def _work(self, lane: _DeviceLane) -> None:
        while True:
            with self._lock:
                job = lane.pop()
                while job is None:
                    if self._closed:
                        lane.thread = None
                        return
                    self._lock.wait()
                    job = lane.pop()
                if not job.set_running_or_notify_cancel():
                    continue
                lane.running = job
            try:
                self._run(job)
            finally:
                with self._lock:
                    lane.running = None

    @staticmethod
    def _run(job: Job[Any]) -> None:
        previous = getattr(_local, "job", None)
        _local.job = job
        try:
            job.check_cancelled()
            result = job._fn()
        except BaseException as exc:  # the worker outlives every job; the caller gets the error
            if isinstance(exc, (CancelledError, GenerationCancelled)) and not isinstance(
                exc, JobCancelled
            ):
                cancelled = JobCancelled(str(exc) or f"Job {job.number} was cancelled.")
                cancelled.__cause__ = exc
                exc = cancelled
            job.set_exception(exc)
        else:
            job.set_result(result)
        finally:
            _local.job = previous
            job._fn = _done  # drop references to the work's inputs


def _done() -> None:
    return None


_SHARED: GPUQueue | None = None
_SHARED_LOCK = threading.Lock()


def shared_queue() -> GPUQueue:
    """The process's one queue, so every adapter (web, Slack, CLI) shares each device fairly."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED._closed:
            _SHARED = GPUQueue(name="shared-gpu-queue")
        return _SHARED


def device_key(device: Any) -> str:
    """One name per device: 'cuda' and 'cuda:0' are one GPU, as are torch.device and str."""
    text = str(device).strip().lower()
    if text == "cuda":
        try:
            import torch

            index = torch.cuda.current_device() if torch.cuda.is_available() else 0
        except Exception:  # no CUDA build: the name is all we have
            index = 0
        return f"cuda:{index}"
    return text


def current_job() -> Job[Any] | None:
    """The job running in this thread, if it runs under a GPUQueue."""
    return getattr(_local, "job", None)


def check_cancelled() -> None:
    """Raise `JobCancelled` if the job running in this thread was cancelled; else nothing."""
    job = current_job()
    if job is not None:
        job.check_cancelled()


def cancellable(progress: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """A progress callback that first checks the running job's cancel flag, then calls
    `progress` (if any) with the same arguments: pass it to the generator so a cancelled job
    stops at its next step."""
    job = current_job()

    def report(*args: Any, **kwargs: Any) -> Any:
        (job or current_job() or _NoJob).check_cancelled()
        return progress(*args, **kwargs) if progress is not None else None

    return report


class _NoJob:
    @staticmethod
    def check_cancelled() -> None:
        return None
