"""compute.backend = "ray": the generator, the extractors and the ranker as Ray Serve deployments
on a local Ray cluster the test starts (3 CPUs, a replica each; no dashboard; shut down at the
end). What a user notices: the same seed draws the same pixels as the local generator, progress
arrives step by step, a cancelled turn stops, a replica killed mid-request is replaced and the
request still completes (the reply says so, and the generation is stored once), and extraction
and ranking through the cluster give what they give in-process."""

from __future__ import annotations

import os

import numpy as np
import pytest
from test_generate_support import make_priors, tiny_settings

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.compute import remote
from image_interpreter.extract.service import ExtractionService
from image_interpreter.generate import GenerationCancelled, GenerationRequest, Generator
from image_interpreter.images import load_image
from image_interpreter.priors.schema import referenced_artifacts
from image_interpreter.rank import rank
from image_interpreter.rank.scoring import RankWeights
from image_interpreter.session import SessionStore
from image_interpreter.tools import Toolbox, make_tools

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
                num_cpus=3,
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
    compute = {"backend": "ray", "retries": 1, "generator_gpus": 0, "extractor_gpus": 0}
    compute |= {"ranker_gpus": 0}
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


def test_unbatched_requests_arriving_together_each_draw_what_they_draw_alone(settings, priors):
    """Serve gives one replica several requests at once; they must take its pipelines in turn
    (a diffusers pipeline's scheduler holds the running call's steps)."""
    from concurrent.futures import ThreadPoolExecutor

    unbatched = settings.compute.model_copy(update={"batch_wait_s": 0.0})
    callers = settings.model_copy(update={"compute": unbatched})

    def steps(count):
        update = {"generation": priors.generation.model_copy(update={"steps": count})}
        return priors.model_copy(update=update)

    requests = [_request(steps(12 if n % 2 else 2), seed=40 + n, candidates=1) for n in range(6)]
    with ThreadPoolExecutor(len(requests)) as pool:
        drawn = list(pool.map(lambda r: remote.RemoteGenerator(callers).generate(r), requests))
    local, store = Generator(_local(settings)), ArtifactStore(settings.artifacts_dir)
    for [candidate], request in zip(drawn, requests, strict=True):
        [alone] = local.generate(request, read_artifact=store.get)
        assert np.array_equal(np.asarray(candidate.image), np.asarray(alone.image))


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


def test_a_generation_whose_replica_died_says_so_and_is_stored_once(settings, priors):
    import ray

    with SessionStore.from_settings(settings) as store:
        session, shared = store.create(), ArtifactStore(settings.artifacts_dir)
        session.add_image(shared.get(priors.source.sha256))
        for sha in referenced_artifacts(priors):  # the maps, given to this session
            session.put_artifact(shared.get(sha))
        session.commit(priors, summary="start")
        box = Toolbox.open(session, store, settings)
        killed = []

        def kill_once(what, done):
            if what == "generating" and not killed:
                killed.append(box.services.generator.replicas_used[-1])
                ray.kill(ray.get_actor(killed[0], namespace="serve"), no_restart=True)

        box.progress = kill_once
        generate = {tool.name: tool for tool in make_tools(box)}["generate"]
        said = generate.invoke({"count": 2, "seed": 13})

        assert killed and "sent again" in said
        [record] = session.generations()  # one generation, not one per attempt
        undisturbed = remote.RemoteGenerator(settings).generate(_request(priors, seed=13))
        stored = [load_image(session.read_artifact(c.sha256)) for c in record.candidates]
        assert [np.asarray(image).tolist() for image in stored] == [
            np.asarray(c.image.convert("RGB")).tolist() for c in undisturbed
        ]
        assert all(c.scores.get("clip") is not None for c in record.candidates)  # ranked


def test_ranking_on_the_cluster_gives_the_in_process_scores(settings, priors):
    pictures = [c.image for c in Generator(_local(settings)).generate(
        _request(priors), read_artifact=ArtifactStore(settings.artifacts_dir).get
    )]  # fmt: skip
    only_clip = RankWeights(clip=1, pose=0, depth=0, edges=0, segmentation=0, objects=0)
    on_cluster = rank(pictures, priors, "a person", weights=only_clip, settings=settings)
    local = rank(pictures, priors, "a person", weights=only_clip, settings=_local(settings))
    assert [r.index for r in on_cluster] == [r.index for r in local]
    for a, b in zip(on_cluster, local, strict=True):
        assert a.score.details["clip.cosine"] == pytest.approx(b.score.details["clip.cosine"])


def test_upscaling_and_interpolation_run_on_the_generator_replicas(settings, priors):
    from image_interpreter.generate.interpolate import Endpoint
    from image_interpreter.generate.upscale import Upscaler
    from image_interpreter.priors.schema import CaptionPrior

    store = ArtifactStore(settings.artifacts_dir)
    small = load_image(store.get(priors.source.sha256)).resize((24, 16))
    big = remote.RemoteUpscaler(settings).upscale(small, model="esrgan")
    alone = Upscaler(_local(settings)).upscale(small, model="esrgan")
    assert big.size == (96, 64) and np.array_equal(np.asarray(big), np.asarray(alone))

    other = priors.model_copy(update={"caption": CaptionPrior(text="an old man on a beach")})
    ends = Endpoint.from_priors(priors, seed=3), Endpoint.from_priors(other, seed=4)
    steps = []
    frames = remote.RemoteGenerator(settings).interpolate(
        *ends, frames=3, progress=lambda step, total, preview: steps.append((step, total))
    )
    local = Generator(_local(settings)).interpolate(*ends, frames=3, read_artifact=store.get)
    assert [f.t for f in frames.frames] == [f.t for f in local.frames] and len(frames.frames) == 3
    for a, b in zip(frames.frames, local.frames, strict=True):
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert steps and steps[-1][0] == steps[-1][1]


def test_a_cluster_too_small_for_the_replicas_is_named_before_deploying_waits(settings, caplog):
    compute = settings.compute.model_copy(update={"min_generator_replicas": 4, "generator_gpus": 1})
    with caplog.at_level("WARNING", logger=remote.log.name):
        remote._warn_if_short(settings.model_copy(update={"compute": compute}))
    said = caplog.text
    assert "too small" in said and "1 GPU needed" not in said  # 4 replicas x 1 GPU
    assert "4 GPU needed, 0 in the cluster" in said and "CPU needed" in said
    caplog.clear()
    with caplog.at_level("WARNING", logger=remote.log.name):
        remote._warn_if_short(settings)  # what the other tests deploy fits
    assert "too small" not in caplog.text


def test_no_cluster_to_reach_is_one_clear_error_saying_what_to_set(tmp_path):
    """compute.backend = "ray" and nothing answering at compute.address: the turn's error names
    the address and the ways out, in a line, instead of Ray's traceback (in a process of its
    own: Ray's state is global; Ray Client gives up after about 30 s)."""
    import socket
    import subprocess
    import sys
    import textwrap

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"ray://127.0.0.1:{probe.getsockname()[1]}"  # closed once the probe is
    script = textwrap.dedent(
        f"""
        from image_interpreter.compute.remote import RemoteRanker
        from image_interpreter.errors import ComputeUnavailable
        from image_interpreter.settings import load_settings
        compute = {{"backend": "ray", "address": "{address}"}}
        settings = load_settings(profile="tiny", device="cpu", compute=compute)
        try:
            RemoteRanker(settings).cosines([], "a cat")
        except ComputeUnavailable as error:
            print(error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
        env={**os.environ, "IMAGE_INTERPRETER_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    said = done.stdout.strip()
    assert done.returncode == 0, done.stderr[-2000:]
    assert said.startswith(f"Cannot reach the Ray cluster at compute.address = '{address}'")
    assert "ray start --head" in said and "compute.backend = 'local'" in said
    assert "\n" not in said and "Traceback" not in said
