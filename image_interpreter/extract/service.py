"""Running extractors: one loaded instance per extractor per process, results cached on disk.

A result is cached under a key of (image hash, extractor, parameters, model ids): asking twice
costs a file read, for any session. Cached priors refer to artifacts by hash; handing one to a
session links those artifacts to it through its own `put_artifact`, so access control holds.
Failures are never cached. Several sessions may call at once: loading is once per extractor and
inference is serialised per loaded model.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import TypeAdapter, ValidationError

from image_interpreter.artifacts import ArtifactStore, open_artifact_store
from image_interpreter.compute import is_remote
from image_interpreter.durable import write_atomic
from image_interpreter.errors import ExtractionError, ImageInterpreterError
from image_interpreter.extract.base import ExtractContext, Extractor, Params, Progress
from image_interpreter.extract.registry import find_extractor
from image_interpreter.models.hub import require_models
from image_interpreter.priors.schema import (
    ImageRef,
    Prior,
    PriorSet,
    Provenance,
    referenced_artifacts,
)
from image_interpreter.settings import Settings

CACHE_FORMAT = 1


class ExtractionService:
    def __init__(self, settings: Settings, artifacts: ArtifactStore | None = None):
        self.settings = settings
        self.artifacts = artifacts or open_artifact_store(settings)
        self.cache_dir = settings.data_dir / "extract-cache"
        self._instances: dict[str, Extractor] = {}
        self._lock = threading.Lock()
        self.remote = None  # compute.backend = "ray": models run on the extractor deployment
        if is_remote(settings):
            from image_interpreter.compute.remote import RemoteExtraction

            self.remote = RemoteExtraction(settings)
        self.model_runs = 0  # how many times a model actually ran (cache misses), for tests/bench

    def instance(self, name: str) -> Extractor:
        cls = find_extractor(name)
        with self._lock:
            if cls.name not in self._instances:
                self._instances[cls.name] = cls(self.settings)
            return self._instances[cls.name]

    def params_for(self, extractor: Extractor, params: dict[str, Any] | Params | None) -> Params:
        if isinstance(params, extractor.Params):
            return params
        try:
            return extractor.Params.model_validate(dict(params or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
                for err in exc.errors()
            )
            fields = ", ".join(extractor.Params.model_fields) or "none"
            raise ExtractionError(
                f"Wrong parameters for {extractor.name} ({problems}). Its parameters: {fields}."
            ) from None

    def extract(
        self,
        image: Image.Image,
        source: ImageRef,
        name: str,
        params: dict[str, Any] | Params | None = None,
        *,
        put_artifact=None,
        progress: Progress | None = None,
    ) -> Prior:
        """One prior from one image. `put_artifact` is the session's (default: the shared store)."""
        extractor = self.instance(name)
        checked = self.params_for(extractor, params)
        put = put_artifact or self.artifacts.put
        key = self.cache_key(extractor, source, checked)
        cached = self._read_cache(extractor, key)
        if cached is not None:
            prior, blobs = cached
            for blob in blobs:
                put(blob)  # link to the caller's session (stored once, not written again)
            return prior
        ctx = ExtractContext(put_artifact=put, progress=progress or (lambda what, done: None))
        if self.remote is not None:
            ctx.progress(f"running {extractor.name} on the cluster", 0.1)
            prior, blobs = self.remote.run(extractor.name, image, checked.model_dump(mode="json"))
            for blob in blobs:
                put(blob)
            self.model_runs += 1
            return self._finish(extractor, checked, key, prior, ctx)
        ctx.progress(f"loading {extractor.name}", 0.0)
        try:
            extractor.ensure_loaded()
        except ImageInterpreterError:
            raise
        except Exception as exc:
            raise ExtractionError(
                f"{extractor.name} could not load its model ({type(exc).__name__}: {exc})."
                f" Model ids: {extractor.model_ids() or 'none'}. If the files are damaged,"
                " delete them from the cache and download them again."
            ) from exc
        with extractor.run_lock:
            ctx.progress(f"running {extractor.name}", 0.1)
            try:
                prior = extractor.extract(image, checked, ctx)
            except ImageInterpreterError:
                raise
            except Exception as exc:
                raise ExtractionError(
                    f"{extractor.name} failed on this image: {type(exc).__name__}: {exc}"
                ) from exc
            self.model_runs += 1
        return self._finish(extractor, checked, key, prior, ctx)

    def _finish(
        self, extractor: Extractor, checked: Params, key: str, prior: Prior, ctx: ExtractContext
    ) -> Prior:
        """Provenance, the cache entry, and the last progress report of a computed prior."""
        prior = prior.model_copy(
            update={
                "provenance": Provenance(
                    extractor=extractor.name,
                    model_id=", ".join(sorted(set(extractor.model_ids().values()))) or None,
                    parameters=checked.model_dump(mode="json"),
                )
            }
        )
        self._write_cache(key, prior)
        ctx.progress(f"done {extractor.name}", 1.0)
        return prior

    def extract_into(
        self,
        priors: PriorSet,
        image: Image.Image,
        names: list[str],
        params: dict[str, dict[str, Any]] | None = None,
        *,
        put_artifact=None,
        progress: Progress | None = None,
    ) -> PriorSet:
        """A new PriorSet with the named extractors' priors merged in (input unchanged)."""
        self.require_models(priors.source, names, params)
        update: dict[str, Prior] = {}
        for name in names:
            extractor = self.instance(name)
            prior = self.extract(
                image,
                priors.source,
                name,
                (params or {}).get(name),
                put_artifact=put_artifact,
                progress=progress,
            )
            existing = update.get(extractor.kind) or getattr(priors, extractor.kind)
            update[extractor.kind] = extractor.merge(existing, prior)
        return priors.model_copy(update=update)

    def require_models(
        self, source: ImageRef, names: list[str], params: dict[str, dict[str, Any]] | None = None
    ) -> None:
        """One `ModelUnavailable` naming every model that the named extractors would load and
        cannot (offline, not cached), before any of them runs; cached results need no model."""
        if self.remote is not None:
            return  # the models live on the cluster's replicas, not here
        roles: list[str] = []
        for name in names:
            extractor = self.instance(name)
            if extractor.loaded or not extractor.roles:
                continue
            checked = self.params_for(extractor, (params or {}).get(name))
            if not self._cache_path(self.cache_key(extractor, source, checked)).is_file():
                roles.extend(extractor.roles)
        require_models(roles, self.settings)

    # --- cache -----------------------------------------------------------------------------------

    def cache_key(self, extractor: Extractor, source: ImageRef, params: Params) -> str:
        material = json.dumps(
            [
                CACHE_FORMAT,
                source.sha256,
                extractor.name,
                params.model_dump(mode="json"),
                extractor.model_ids(),
                self.settings.profile,
            ],
            sort_keys=True,
        )
        return hashlib.sha256(material.encode()).hexdigest()

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def _read_cache(self, extractor: Extractor, key: str) -> tuple[Prior, list[bytes]] | None:
        """The cached prior and its artifacts' verified bytes, or None (a damaged entry is
        dropped, to be computed again)."""
        path = self._cache_path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            prior_type = PriorSet.model_fields[extractor.kind].annotation
            prior = _validate(prior_type, text)
            blobs = [self.artifacts.get(sha) for sha in sorted(referenced_artifacts(prior))]
        except (ValidationError, ImageInterpreterError, ValueError):
            path.unlink(missing_ok=True)
            return None
        return prior, blobs

    def _write_cache(self, key: str, prior: Prior) -> None:
        write_atomic(self._cache_path(key), prior.model_dump_json().encode())


def _validate(annotation: Any, text: str) -> Prior:
    prior = TypeAdapter(annotation).validate_json(text)
    if prior is None:
        raise ValueError("empty cache entry")
    return prior
