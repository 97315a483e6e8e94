"""What the tools work on: `Services` (the models, loaded once per process and shared by every
conversation) and `Toolbox` (one conversation: its session, the services, and a few choices
such as how candidates are ranked). Tools hold no state of their own; everything is here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from image_interpreter.compute import is_remote
from image_interpreter.priors.render import RenderCache
from image_interpreter.rank.scoring import RankWeights
from image_interpreter.session import Session, SessionStore
from image_interpreter.settings import Settings

if TYPE_CHECKING:
    from image_interpreter.extract.service import ExtractionService
    from image_interpreter.generate.generator import Generator
    from image_interpreter.generate.queue import GPUQueue
    from image_interpreter.generate.upscale import Upscaler

T = TypeVar("T")
Progress = Callable[[str, float], None]
"""progress(what, fraction done): for a UI to show long tool calls as they run."""


@dataclass
class Services:
    """The model-backed services, each built on first use (a conversation that only edits
    loads nothing). One per process is enough; many toolboxes may share it."""

    settings: Settings
    extraction: ExtractionService | None = None
    generator: Generator | None = None
    upscaler: Upscaler | None = None
    _building: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def extractor(self, store: SessionStore) -> ExtractionService:
        with self._building:
            if self.extraction is None:
                from image_interpreter.extract.service import ExtractionService

                self.extraction = ExtractionService(self.settings, store.artifacts)
            return self.extraction

    def generating(self) -> Generator:
        with self._building:
            if self.generator is None:
                if is_remote(self.settings):  # the generator deployment, same method
                    from image_interpreter.compute.remote import RemoteGenerator

                    self.generator = RemoteGenerator(self.settings)  # type: ignore[assignment]
                else:
                    from image_interpreter.generate.generator import Generator

                    self.generator = Generator(self.settings)
            return self.generator

    def upscaling(self) -> Upscaler:
        with self._building:
            if self.upscaler is None:
                if is_remote(self.settings):  # on the generator deployment, same method
                    from image_interpreter.compute.remote import RemoteUpscaler

                    self.upscaler = RemoteUpscaler(self.settings)  # type: ignore[assignment]
                else:
                    from image_interpreter.generate.upscale import Upscaler

                    self.upscaler = Upscaler(self.settings)
            return self.upscaler


@dataclass
class Toolbox:
    """One conversation's tools' world, built once per conversation.

    `rank_weights` decide how candidates are ordered (a part weighted 0 is not measured);
    `extract_params` give extractors non-default parameters by the name a user types
    ({"pose": {"hands": False}}); `queue`, when given, runs model work on the per-device GPU
    queue; `model_seconds` adds up the time spent inside models (extraction, generation,
    ranking, upscaling, questions), so the loop's own overhead can be told apart."""

    session: Session
    store: SessionStore
    services: Services
    rank_weights: RankWeights = field(default_factory=RankWeights)
    extract_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_candidates: int = 8
    queue: GPUQueue | None = None
    progress: Progress | None = None
    render_cache: RenderCache = field(default_factory=RenderCache)
    model_seconds: float = 0.0

    @classmethod
    def open(
        cls, session: Session, store: SessionStore, settings: Settings, **options: Any
    ) -> Toolbox:
        """A toolbox with its own services (share `Services` across sessions instead)."""
        return cls(session=session, store=store, services=Services(settings), **options)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def report(self, what: str, done: float) -> None:
        if self.progress is not None:
            self.progress(what, done)

    @contextmanager
    def model_time(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.model_seconds += time.perf_counter() - started

    def on_device(self, work: Callable[[], T]) -> T:
        """Run model work, on the GPU queue when there is one (directly when this thread already
        is a queue job: waiting on the queue from inside it would wait forever), timed."""
        from image_interpreter.generate.queue import current_job

        with self.model_time():
            if self.queue is None or current_job() is not None:  # already on a device's worker
                return work()
            if is_remote(self.settings):  # the cluster queues it; waiting here would hold a lane
                return work()
            from image_interpreter.models import resolve_device

            device = resolve_device(self.settings)
            return self.queue.submit(work, session=self.session.id, device=device).result()
