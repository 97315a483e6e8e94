"""The Ray Serve deployments: the generator (a replica per GPU), the extractors (fractional
GPUs, one replica keeping several extractor models, requests routed by extractor name through
Serve's model multiplexing so they go where that model is already loaded) and the ranker (CLIP
score; a ranking's prior-consistency part extracts the candidates' priors on the extractors).

Replicas read artifacts from the shared store (`artifacts_url`, S3 for a team) and never write a
session: they return candidates and a prior's arrays, and the app process stores them in the
session, so a request retried on another replica stores nothing twice.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ray import serve

from image_interpreter.settings import Settings

_DONE = object()


class GeneratorReplica:
    """One generator (base pipeline + ControlNets, loaded once) and the upscalers per replica.
    `generate`, `interpolate` and `upscale` stream events: ("replica", actor name),
    ("progress", step, total, preview), ("note", text), and last ("result", value).
    `generate_batched` does the same with other sessions' compatible requests in one pipeline
    call (`compute.batch_wait_s` > 0)."""

    def __init__(self, settings: Settings):
        import torch

        from image_interpreter.artifacts import open_artifact_store
        from image_interpreter.generate.generator import Generator
        from image_interpreter.generate.upscale import Upscaler

        self.threads = max(1, int(settings.compute.cpus_per_replica))
        torch.set_num_threads(self.threads)
        self.generator = Generator(settings)
        self.upscaler = Upscaler(settings)  # its models load on first use
        self.artifacts = open_artifact_store(settings)
        # One pipeline call at a time: Serve hands a replica several requests at once, and a
        # diffusers pipeline (its scheduler's state above all) is not safe to share between
        # threads. Batching is how concurrent requests share a call.
        self.device = threading.Lock()
        compute = settings.compute
        if compute.batch_wait_s > 0:
            self._draw_batch.set_max_batch_size(compute.max_batch_requests)
            self._draw_batch.set_batch_wait_timeout_s(compute.batch_wait_s)

    def generate(self, request: Any, latents: Any = None, embeddings: Any = None) -> Iterator:
        yield from self._stream(
            lambda progress, notes: self.generator.generate(
                request,
                read_artifact=self.artifacts.get,
                progress=progress,
                latents=latents,
                embeddings=embeddings,
                notes=notes,
            )
        )

    def interpolate(self, a: Any, b: Any, options: dict[str, Any]) -> Iterator:
        """`Generator.interpolate` here: its frames share this replica's pipelines."""
        yield from self._stream(
            lambda progress, notes: self.generator.interpolate(
                a, b, read_artifact=self.artifacts.get, progress=progress, **options
            )
        )

    def upscale(self, image: Any, options: dict[str, Any]) -> Iterator:
        yield from self._stream(
            lambda progress, notes: self.upscaler.upscale(image, progress=progress, **options)
        )

    def _stream(self, work: Callable[[Callable, Callable], Any]) -> Iterator:
        """`work(progress, notes)` in a thread, its progress and notes yielded as they come, then
        its result; when the caller cancels or goes away, the next progress call stops it."""
        import ray
        import torch

        from image_interpreter.generate.errors import GenerationCancelled

        yield ("replica", ray.get_runtime_context().get_actor_name())
        events: queue.Queue = queue.Queue()
        stop = threading.Event()

        def progress(step: int, total: int, preview: object) -> None:
            if stop.is_set():
                raise GenerationCancelled("The request was cancelled.")
            events.put(("progress", step, total, preview))

        def run() -> None:
            try:
                with self.device:
                    if stop.is_set():  # cancelled while waiting for the pipelines
                        raise GenerationCancelled("The request was cancelled.")
                    torch.set_num_threads(self.threads)  # this worker thread too
                    drawn = work(progress, lambda text: events.put(("note", text)))
                events.put(("result", drawn))
            except BaseException as exc:  # re-raised in the streaming method, for the caller
                events.put(("error", exc))
            finally:
                events.put(_DONE)

        threading.Thread(target=run, name="generator-work", daemon=True).start()
        try:
            while (event := events.get()) is not _DONE:
                if event[0] == "error":
                    raise event[1]
                yield event
        finally:  # the caller cancelled or went away: stop between steps
            stop.set()

    async def generate_batched(self, request: Any) -> AsyncIterator:
        """`generate` for requests that may share a pipeline call with other sessions' ones
        arriving within `compute.batch_wait_s` (`Generator.generate_many`); its stream also
        says ("batch", requests, images) of the call that drew it."""
        import ray

        yield ("replica", ray.get_runtime_context().get_actor_name())
        stop = threading.Event()
        try:
            async for event in self._draw_batch(request, stop):
                if event is None:  # another request's event
                    continue
                if event[0] == "error":
                    raise event[1]
                yield event
        finally:  # the caller cancelled or went away: its rows stop being followed
            stop.set()

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.05)
    async def _draw_batch(self, requests: list[Any], stops: list[threading.Event]) -> AsyncIterator:
        """One event list per step of the batch: request i's event in slot i, None elsewhere."""
        import torch

        from image_interpreter.generate.errors import GenerationCancelled

        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        count = len(requests)

        def put(index: int | None, event: Any) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (index, event))

        def progress_of(index: int) -> Any:
            def progress(step: int, total: int, preview: object) -> None:
                if stops[index].is_set():
                    raise GenerationCancelled("The request was cancelled.")
                put(index, ("progress", step, total, preview))

            return progress

        def on_call(indices: list[int], images: int) -> None:
            for index in indices:
                put(index, ("batch", len(indices), images))

        def work() -> None:
            try:
                with self.device:
                    torch.set_num_threads(self.threads)  # this worker thread too
                    outcomes = self.generator.generate_many(
                        requests,
                        read_artifact=self.artifacts.get,
                        progress=[progress_of(i) for i in range(count)],
                        notes=[lambda text, i=i: put(i, ("note", text)) for i in range(count)],
                        on_call=on_call,
                    )
                for index, outcome in enumerate(outcomes):
                    put(index, ("error" if isinstance(outcome, Exception) else "result", outcome))
            except BaseException as exc:
                for index in range(count):
                    put(index, ("error", exc))
            finally:
                put(None, _DONE)

        worker = asyncio.ensure_future(asyncio.to_thread(work))
        while (item := await events.get())[1] is not _DONE:
            index, event = item
            row: list[Any] = [None] * count
            row[index] = event
            yield row
        await worker


class ExtractorReplica:
    """Extractor models by name, several per replica (multiplexed), one inference at a time per
    model. `extract` returns the prior and the arrays it refers to, not yet stored."""

    def __init__(self, settings: Settings):
        import torch

        self.settings = settings
        torch.set_num_threads(max(1, int(settings.compute.cpus_per_replica)))

    async def load(self, name: str) -> Any:
        """The loaded extractor `name` (`build_app` wraps this in `serve.multiplexed`)."""
        from image_interpreter.extract.registry import find_extractor

        extractor = find_extractor(name)(self.settings)
        await asyncio.to_thread(extractor.ensure_loaded)
        return extractor

    async def extract(self, image: Any, params: dict[str, Any]) -> tuple[Any, list[bytes]]:
        extractor = await self.load(serve.get_multiplexed_model_id())
        return await asyncio.to_thread(_run, extractor, image, params)


def _run(extractor: Any, image: Any, params: dict[str, Any]) -> tuple[Any, list[bytes]]:
    from image_interpreter.artifacts import sha256_of
    from image_interpreter.extract.base import ExtractContext

    blobs: list[bytes] = []

    def keep(data: bytes) -> str:
        blobs.append(data)
        return sha256_of(data)

    with extractor.run_lock:
        prior = extractor.extract(
            image, extractor.Params.model_validate(params), ExtractContext(put_artifact=keep)
        )
    return prior, blobs


class RankerReplica:
    """CLIP, loaded once per replica: image-prompt cosines for ranking candidates."""

    def __init__(self, settings: Settings):
        import torch

        from image_interpreter.rank.clip import load_clip

        torch.set_num_threads(max(1, int(settings.compute.cpus_per_replica)))
        self.clip = load_clip(settings)
        self.lock = threading.Lock()  # one pass at a time through the model

    async def cosines(self, images: list[Any], prompt: str, batch_size: int) -> Any:
        from image_interpreter.rank.clip import clip_cosines

        def run() -> Any:
            with self.lock:
                return clip_cosines(self.clip, images, prompt, batch_size)

        return await asyncio.to_thread(run)


def needed(settings: Settings) -> dict[str, float]:
    """CPUs and GPUs the deployments' minimum replicas take: what the cluster must have free
    before `serve.run` returns (it waits for every minimum replica)."""
    c = settings.compute
    low = {
        "generator": (c.min_generator_replicas, c.generator_gpus),
        "extractors": (c.min_extractor_replicas, c.extractor_gpus),
        "ranker": (c.min_ranker_replicas, c.ranker_gpus),
    }
    return {
        "CPU": sum(n for n, _ in low.values()) * c.cpus_per_replica,
        "GPU": sum(n * gpus for n, gpus in low.values()),
    }


def build_app(settings: Settings) -> Any:
    """The Serve application: the three deployments, sized by `settings.compute`."""
    compute = settings.compute

    def options(gpus: float, low: int, high: int) -> dict[str, Any]:
        return {
            "ray_actor_options": {"num_cpus": compute.cpus_per_replica, "num_gpus": gpus},
            "autoscaling_config": {"min_replicas": low, "max_replicas": high},
        }

    generator = serve.deployment(
        GeneratorReplica,
        name="generator",
        max_ongoing_requests=max(5, compute.max_batch_requests),  # a whole batch at once
        **options(
            compute.generator_gpus, compute.min_generator_replicas, compute.max_generator_replicas
        ),
    )

    async def load(self: ExtractorReplica, name: str) -> Any:
        # Named as the attribute it becomes: Serve tells a method from a function by that name.
        return await ExtractorReplica.load(self, name)

    keep = serve.multiplexed(max_num_models_per_replica=compute.models_per_extractor_replica)
    extractor_cls = type("ExtractorReplica", (ExtractorReplica,), {"load": keep(load)})
    extractors = serve.deployment(
        extractor_cls,
        name="extractors",
        **options(
            compute.extractor_gpus, compute.min_extractor_replicas, compute.max_extractor_replicas
        ),
    )
    ranker = serve.deployment(
        RankerReplica,
        name="ranker",
        **options(compute.ranker_gpus, compute.min_ranker_replicas, compute.max_ranker_replicas),
    )
    return _Ingress.bind(generator.bind(settings), extractors.bind(settings), ranker.bind(settings))


@serve.deployment(name="ingress", ray_actor_options={"num_cpus": 0})
class _Ingress:
    """Holds the deployments so one application deploys them all; callers use their handles
    directly (`serve.get_deployment_handle`)."""

    def __init__(self, generator: Any, extractors: Any, ranker: Any):
        self.generator, self.extractors, self.ranker = generator, extractors, ranker

    def ping(self) -> str:
        return "ok"


def app(args: dict[str, str] | None = None) -> Any:
    """The application builder for `serve run` and a KubeRay RayService's `import_path`
    (`image_interpreter.compute.deployments:app`): settings from the replicas' environment
    (`IMAGE_INTERPRETER_*`), as every other part reads them."""
    from image_interpreter.settings import load_settings

    return build_app(load_settings())
