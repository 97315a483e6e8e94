"""The app process's side of the Ray backend: connect once, deploy the application if no other
process has, and call the deployments with the same methods the local generator and extraction
service have, so the tools do not know which backend runs them."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from image_interpreter.errors import (
    ComputeUnavailable,
    ExtractionError,
    ImageInterpreterError,
    RankingError,
)
from image_interpreter.generate.errors import GenerationError, Notice
from image_interpreter.settings import Settings

log = logging.getLogger(__name__)
_connecting = threading.Lock()
_handles: dict[str, Any] = {}


def handles(settings: Settings) -> dict[str, Any]:
    """{"generator", "extractors", "ranker"}: deployment handles, connecting and deploying on
    first use."""
    with _connecting:
        if _handles:
            return _handles
        import ray
        from ray import serve

        if not ray.is_initialized():
            _connect(settings.compute.address)
        app = settings.compute.app_name
        _deploy_once(settings, app)
        _handles["generator"] = serve.get_deployment_handle("generator", app_name=app)
        _handles["extractors"] = serve.get_deployment_handle("extractors", app_name=app)
        _handles["ranker"] = serve.get_deployment_handle("ranker", app_name=app)
        return _handles


def _connect(address: str) -> None:
    import ray

    try:
        ray.init(address=address, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:  # what ray.init raises for these
        raise ComputeUnavailable(
            f"Cannot reach the Ray cluster at compute.address = '{address}' ({_said(exc)})."
            " Start one (`ray start --head`), set compute.address to its head (HOST:6379, or"
            " ray://HOST:10001 from outside it), or set compute.backend = 'local' to run the"
            " models in this process."
        ) from exc


def _said(exc: BaseException, limit: int = 300) -> str:
    """An error from the cluster in one short line: the replica's own exception (a task error
    wraps it with the remote traceback and terminal colours), its first line, bounded."""
    cause = getattr(exc, "cause", None) or exc
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(cause)).strip().splitlines()
    line = text[0] if text else ""
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return f"{type(cause).__name__}: {line}" if line else type(cause).__name__


def _deployed(app: str) -> bool:
    from ray import serve
    from ray.serve.exceptions import RayServeException

    try:
        serve.get_app_handle(app)
        return True
    except RayServeException:
        return False


def _deploy_once(settings: Settings, app: str, wait_s: float = 600) -> None:
    """Deploy the application unless it is there. App processes starting together would each
    deploy it, and every deploy replaces the replicas: the first to create a named claim actor
    deploys, the others wait for the application to appear. The claim belongs to its process,
    so a process dying mid-deploy frees it for the next."""
    import time

    import ray
    from ray import serve

    if _deployed(app):
        return

    @ray.remote(num_cpus=0)
    class _Claim:
        def held(self) -> bool:
            return True

    try:
        claim = _Claim.options(name=f"{app}:deploying", namespace="image-interpreter").remote()
        ray.get(claim.held.remote())
    except ValueError:  # the name is taken: another process is deploying
        deadline = time.monotonic() + wait_s
        while not _deployed(app):
            if time.monotonic() > deadline:
                raise GenerationError(
                    f"Another app process started deploying '{app}' on the Ray cluster and it"
                    f" has not appeared in {wait_s:.0f} s; check `serve status`."
                ) from None
            time.sleep(0.5)
        return
    try:
        if not _deployed(app):  # deployed between the first look and the claim
            from image_interpreter.compute.deployments import build_app

            _warn_if_short(settings)
            serve.run(build_app(settings), name=app, route_prefix=None)
    finally:
        ray.kill(claim)


def _warn_if_short(settings: Settings) -> None:
    """`serve.run` waits until every minimum replica runs: on a cluster too small for them (and
    no autoscaler to add nodes) it would wait silently. Say what is missing and what to set."""
    import ray

    from image_interpreter.compute.deployments import needed

    have = ray.cluster_resources()
    short = {k: (v, have.get(k, 0.0)) for k, v in needed(settings).items() if v > have.get(k, 0.0)}
    if short:
        said = ", ".join(f"{v:g} {k} needed, {h:g} in the cluster" for k, (v, h) in short.items())
        log.warning(
            "The Ray cluster is too small for the deployments' minimum replicas (%s): deploying"
            " waits until nodes join. Add nodes, or lower compute.min_*_replicas,"
            " compute.cpus_per_replica or compute.*_gpus.",
            said,
        )


def forget() -> None:
    """Drop the cached handles (after `serve.shutdown`, e.g. between tests)."""
    with _connecting:
        _handles.clear()


def _replica_lost(exc: BaseException) -> bool:
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    return isinstance(exc, RayActorError | ActorDiedError | ActorUnavailableError)


class RemoteGenerator:
    """`Generator.generate` and `Generator.interpolate` on the generator deployment: progress
    streams back step by step, a cancelled turn cancels the request, and a request whose
    replica died is sent again (`compute.retries` times), with a notice saying so."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.replicas_used: list[str] = []  # actor names, in order (a retry adds one)
        self.batches: list[tuple[int, int]] = []  # (requests, images) of each call that drew

    def generate(
        self,
        request: Any,
        *,
        read_artifact: Callable[[str], bytes] | None = None,
        progress: Callable[[int, int, object], Any] | None = None,
        render_cache: Any = None,
        latents: Any = None,
        embeddings: Any = None,
        notes: Callable[[str], None] | None = None,
    ) -> list[Any]:
        """`read_artifact` is not sent: replicas read the shared store (the session's priors
        were checked when committed). `render_cache` stays local: replicas keep their own."""
        del read_artifact, render_cache
        batched = self.settings.compute.batch_wait_s > 0 and latents is None and embeddings is None
        if batched:  # may share a pipeline call with other sessions' requests
            return self.stream("generate_batched", (request,), progress, notes)
        arguments = (request, latents, embeddings)
        return self.stream("generate", arguments, progress, notes)

    def interpolate(
        self,
        a: Any,
        b: Any,
        *,
        read_artifact: Callable[[str], bytes] | None = None,
        render_cache: Any = None,
        progress: Callable[[int, int, object], Any] | None = None,
        **options: Any,
    ) -> Any:
        del read_artifact, render_cache  # as in `generate`
        return self.stream("interpolate", (a, b, options), progress, None)

    def stream(
        self,
        method: str,
        arguments: tuple[Any, ...],
        progress: Callable[[int, int, object], Any] | None,
        notes: Callable[[str], None] | None,
    ) -> Any:
        """The generator deployment's streaming `method`: its result, following its events."""
        say = notes or (lambda text: log.warning(text))
        handle = handles(self.settings)["generator"].options(stream=True)
        return _retrying(
            self.settings,
            lambda: self._follow(getattr(handle, method).remote(*arguments), progress, say),
            lambda said: GenerationError(
                f"The generator service failed ({said}). Check the Ray cluster (`ray status`)"
                " and try again."
            ),
            lambda attempt, retries: say(
                Notice(
                    "a generator replica stopped mid-request; the request was sent again"
                    f" (retry {attempt} of {retries})"
                )
            ),
        )

    def _follow(self, response: Any, progress: Any, say: Callable[[str], None]) -> Any:
        try:
            for event in response:
                kind = event[0]
                if kind == "replica":
                    self.replicas_used.append(event[1])
                elif kind == "progress" and progress is not None:
                    progress(*event[1:])  # may raise GenerationCancelled: cancel below
                elif kind == "note":
                    say(event[1])
                elif kind == "batch":
                    self.batches.append((event[1], event[2]))
                elif kind == "result":
                    return event[1]
        except BaseException:
            response.cancel()
            raise
        raise GenerationError("The generator service ended a request without a result.")


class RemoteUpscaler:
    """`Upscaler.upscale` on the generator deployment (the upscalers live beside the pipelines,
    on the GPUs), with the generator's progress, cancellation and retry."""

    def __init__(self, settings: Settings):
        self.calls = RemoteGenerator(settings)

    def upscale(self, image: Any, *, progress: Any = None, **options: Any) -> Any:
        return self.calls.stream("upscale", (image, options), progress, None)


def _retrying(
    settings: Settings,
    call: Callable[[], Any],
    failed: Callable[[str], Exception],
    retried: Callable[[int, int], None] | None = None,
) -> Any:
    """`call()`'s result, sent again (`compute.retries` times, `retried(attempt, retries)`
    told) when its replica died. The project's own errors raised on a replica come back as
    they were raised there; any other failure becomes `failed(one line saying what)`."""
    attempts = settings.compute.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, ImageInterpreterError):
                raise cause from None
            if isinstance(exc, ImageInterpreterError):
                raise
            if not _replica_lost(exc) or attempt == attempts:
                raise failed(_said(exc)) from exc
            if retried is not None:
                retried(attempt, attempts - 1)
    raise AssertionError("unreachable")


class RemoteExtraction:
    """Runs an extractor's model on the extractor deployment, routed by extractor name."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def run(self, name: str, image: Any, params: dict[str, Any]) -> tuple[Any, list[bytes]]:
        handle = handles(self.settings)["extractors"].options(multiplexed_model_id=name)
        return _retrying(
            self.settings,
            lambda: handle.extract.remote(image, params).result(),
            lambda said: ExtractionError(f"{name} failed on the cluster ({said})."),
        )


class RemoteRanker:
    """The CLIP part of ranking (`rank.clip.clip_cosines`) on the ranker deployment."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def cosines(self, images: list[Any], prompt: str, batch_size: int = 16) -> Any:
        handle = handles(self.settings)["ranker"]
        return _retrying(
            self.settings,
            lambda: handle.cosines.remote(images, prompt, batch_size).result(),
            lambda said: RankingError(f"The ranker failed on the cluster ({said})."),
        )
