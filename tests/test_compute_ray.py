"""compute.backend = "ray": the generator and the extractors as Ray Serve deployments on a local
Ray cluster the test starts (2 CPUs, no dashboard, shut down at the end). What a user notices:
the same seed draws the same pixels as the local generator, progress arrives step by step, a
cancelled turn stops, a replica killed mid-request is replaced and the request still completes,
and extraction through the cluster gives the same prior as in-process."""

from __future__ import annotations

import numpy as np
import pytest
from test_generate_support import make_priors, tiny_settings

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.compute import remote
from image_interpreter.extract.service import ExtractionService
from image_interpreter.generate import GenerationCancelled, GenerationRequest, Generator
from image_interpreter.images import load_image

STEPS = 2


@pytest.fixture(scope="module")
def cluster():
    import os

    import ray
    from ray import serve

    # Workers run from this virtual environment; don't ship the working tree to them.
    os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    for attempt in (1, 2):  # a busy machine can miss Ray's fixed 30 s raylet start-up wait
        try:
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",  # loopback only
            )
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    try:
        yield
    finally:
        serve.shutdown()
        remote.forget()
        ray.shutdown()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """As many torch threads here as a replica has (cpus_per_replica = 1): CPU kernels are not
    bit-for-bit invariant to the thread count, and the local draws are compared with the
    cluster's."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def settings(cluster, tmp_path_factory):
    compute = {"backend": "ray", "generator_gpus": 0, "extractor_gpus": 0, "retries": 1}
    # Requests arriving within 2 s share a pipeline call (wide enough for a busy machine).
    compute |= {"batch_wait_s": 2.0, "max_batch_requests": 2}
    return tiny_settings(tmp_path_factory, compute=compute)


@pytest.fixture(scope="module")
def priors(settings):
    priors = make_priors(ArtifactStore(settings.artifacts_dir))
    return priors.model_copy(
        update={"generation": priors.generation.model_copy(update={"steps": STEPS})}
    )


def _local(settings):
    """The same settings with models in this process."""
    compute = settings.compute.model_copy(update={"backend": "local"})
    return settings.model_copy(update={"compute": compute})


def _request(priors, seed=7, candidates=2):
    return GenerationRequest(priors=priors, candidates=candidates, seed=seed)


def test_the_cluster_draws_what_the_local_generator_draws_with_progress(settings, priors):
    steps = []
    drawn = remote.RemoteGenerator(settings).generate(
        _request(priors), progress=lambda step, total, preview: steps.append((step, total))
    )
    alone = Generator(_local(settings)).generate(
        _request(priors), read_artifact=ArtifactStore(settings.artifacts_dir).get
    )
    assert [c.seed for c in drawn] == [c.seed for c in alone]
    for a, b in zip(drawn, alone, strict=True):
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
        assert a.recipe == b.recipe
    assert steps and steps[-1][0] == steps[-1][1]  # every step reported, up to the last


def test_a_cancelled_turn_cancels_its_request_and_the_next_one_runs(settings, priors):
    def stop(step, total, preview):
        raise GenerationCancelled("the user pressed stop")

    with pytest.raises(GenerationCancelled):
        remote.RemoteGenerator(settings).generate(_request(priors), progress=stop)
    assert len(remote.RemoteGenerator(settings).generate(_request(priors, candidates=1))) == 1


def test_a_replica_killed_mid_request_is_replaced_and_the_request_completes(settings, priors):
    import ray

    generator, notes, killed = remote.RemoteGenerator(settings), [], []

    def kill_once(step, total, preview):
        if not killed:
            killed.append(generator.replicas_used[-1])
            ray.kill(ray.get_actor(killed[0], namespace="serve"), no_restart=True)

    drawn = generator.generate(_request(priors, seed=11), progress=kill_once, notes=notes.append)
    assert len(drawn) == 2
    assert any("replica stopped" in note for note in notes)
    assert len(generator.replicas_used) == 2 and generator.replicas_used[1] != killed[0]


def test_two_sessions_requests_arriving_together_are_drawn_in_one_pipeline_call(settings, priors):
    from concurrent.futures import ThreadPoolExecutor

    from image_interpreter.priors.schema import CaptionPrior

    other = priors.model_copy(update={"caption": CaptionPrior(text="an old man on a beach")})
    requests = [_request(priors, seed=21), _request(other, seed=30, candidates=1)]
    sessions = [remote.RemoteGenerator(settings) for _ in requests]
    with ThreadPoolExecutor(2) as pool:
        drawn = list(pool.map(lambda s, r: s.generate(r), sessions, requests))
    assert [s.batches for s in sessions] == [[(2, 3)], [(2, 3)]]  # one call, 3 images
    local, store = Generator(_local(settings)), ArtifactStore(settings.artifacts_dir)
    for candidates, request in zip(drawn, requests, strict=True):
        alone = local.generate(request, read_artifact=store.get)
        assert [c.seed for c in candidates] == [c.seed for c in alone]
        for a, b in zip(candidates, alone, strict=True):  # batch-size rounding at most
            diff = np.abs(np.asarray(a.image).astype(int) - np.asarray(b.image).astype(int))
            assert diff.max() <= 2 and (diff > 0).mean() < 0.005
        again = local.regenerate(
            candidates[-1].recipe, request.priors, read_artifact=store.get, exact=True
        )
        assert np.array_equal(np.asarray(again.image), np.asarray(candidates[-1].image))


def test_extraction_on_the_cluster_gives_the_in_process_prior(settings, priors):
    image = load_image(ArtifactStore(settings.artifacts_dir).get(priors.source.sha256))
    on_cluster = ExtractionService(settings)
    assert on_cluster.remote is not None
    local = ExtractionService(_local(settings))
    local.cache_dir = local.cache_dir.with_name("local-cache")  # computed again, not read back
    for name in ("depth", "edges"):
        assert on_cluster.extract(image, priors.source, name) == local.extract(
            image, priors.source, name
        )
    assert on_cluster.model_runs == 2
