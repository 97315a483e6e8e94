"""The app process's side of the Ray backend: connect once, deploy the application if no other
process has, and call the deployments with the same methods the local generator and extraction
service have, so the tools do not know which backend runs them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from image_interpreter.errors import ExtractionError, ImageInterpreterError
from image_interpreter.generate.errors import GenerationError
from image_interpreter.settings import Settings

log = logging.getLogger(__name__)
_connecting = threading.Lock()
_handles: dict[str, Any] = {}


def handles(settings: Settings) -> dict[str, Any]:
    """{"generator": handle, "extractors": handle}, connecting and deploying on first use."""
    with _connecting:
        if _handles:
            return _handles
        import ray
        from ray import serve

        if not ray.is_initialized():
            ray.init(address=settings.compute.address, include_dashboard=False)
        app = settings.compute.app_name
        try:
            serve.get_app_handle(app)
        except Exception:  # not deployed yet by any process: deploy it
            from image_interpreter.compute.deployments import build_app

            serve.run(build_app(settings), name=app, route_prefix=None)
        _handles["generator"] = serve.get_deployment_handle("generator", app_name=app)
        _handles["extractors"] = serve.get_deployment_handle("extractors", app_name=app)
        return _handles


def forget() -> None:
    """Drop the cached handles (after `serve.shutdown`, e.g. between tests)."""
    with _connecting:
        _handles.clear()


def _replica_lost(exc: BaseException) -> bool:
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    return isinstance(exc, RayActorError | ActorDiedError | ActorUnavailableError)


class RemoteGenerator:
    """`Generator.generate` on the generator deployment: progress streams back step by step,
    a cancelled turn cancels the request, and a request whose replica died is sent again
    (`compute.retries` times), with a note saying so."""

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
        say = notes or (lambda text: log.warning(text))
        handle = handles(self.settings)["generator"].options(stream=True)
        attempts = self.settings.compute.retries + 1
        batched = self.settings.compute.batch_wait_s > 0 and latents is None and embeddings is None
        for attempt in range(1, attempts + 1):
            if batched:  # may share a pipeline call with other sessions' requests
                response = handle.generate_batched.remote(request)
            else:
                response = handle.generate.remote(request, latents=latents, embeddings=embeddings)
            try:
                return self._follow(response, progress, say)
            except ImageInterpreterError:
                raise
            except Exception as exc:
                if not _replica_lost(exc) or attempt == attempts:
                    raise GenerationError(
                        f"The generator service failed ({type(exc).__name__}: {exc})."
                        " Check the Ray cluster (`ray status`) and try again."
                    ) from exc
                say(f"a generator replica stopped; sending the request again ({attempt})")
        raise AssertionError("unreachable")

    def _follow(self, response: Any, progress: Any, say: Callable[[str], None]) -> list[Any]:
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


class RemoteExtraction:
    """Runs an extractor's model on the extractor deployment, routed by extractor name."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def run(self, name: str, image: Any, params: dict[str, Any]) -> tuple[Any, list[bytes]]:
        handle = handles(self.settings)["extractors"].options(multiplexed_model_id=name)
        attempts = self.settings.compute.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return handle.extract.remote(image, params).result()
            except ImageInterpreterError:
                raise
            except Exception as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, ImageInterpreterError):
                    raise cause from None
                if not _replica_lost(exc) or attempt == attempts:
                    raise ExtractionError(
                        f"{name} failed on the cluster ({type(exc).__name__}: {exc})."
                    ) from exc
        raise AssertionError("unreachable")
