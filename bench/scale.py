"""Scale-out: many scripted sessions across two app processes sharing PostgreSQL, an S3 store and
one Ray cluster, with 1 and then 2 generator replicas (1 thread each), on the tiny models.

Starts everything itself on loopback: a PostgreSQL server (Debian's package, as an unprivileged
user), moto's S3 server, and a local Ray cluster (`ray start --head`, token authentication on).
Each app process runs half the sessions in threads through the conversation core
(`Conversations.say`, as every front end does): first, not timed, one warm-up generation and
each session's photo (edges extracted on the cluster); then, timed from the moment both
processes are ready, `--generations` one-candidate generations per session (`--size` px,
`--steps` steps; each ranked on the ranker and extractor deployments). Afterwards every
session is read back from PostgreSQL and S3 (every artifact hash-checked), and a few candidates
drawn beside other sessions' ones are drawn again in-process to check their pixels.

    uv run python bench/scale.py                      # 40 sessions
    uv run python bench/scale.py --sessions 8 --steps 2 --size 64 --deadline 300

Three runs: 1 replica and 2 replicas with cross-session batching (`compute.batch_wait_s` 0.05),
then 1 replica without it. Prints for each: generations per minute, p50/p95 turn latency,
requests per pipeline call, errors (must be 0) and whether every session is intact; then the
ratios 2 replicas / 1 and batching on / off. Exits 1 on any error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pg_server import remove, start_postgres
from ray_head import ray_head
from s3_server import CREDENTIALS, s3_server

BUCKET = "scale-bench"
BATCH_WAIT_S = 0.05  # the default window (compute.batch_wait_s)

APP = textwrap.dedent(
    """
    import io, json, pathlib, sys, threading, time
    from PIL import Image
    from image_interpreter.interfaces.conversation import ChatConfig, Conversations
    sessions, generations, deadline = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    name, sync = sys.argv[4], pathlib.Path(sys.argv[5])
    steps, size = int(sys.argv[6]), int(sys.argv[7])
    chat = ChatConfig(extract="edges", steps=steps, size=size, candidates=1)
    conversations = Conversations(config=chat)
    records = [{"latencies": [], "errors": [], "session": None, "generations": 0}
               for _ in range(sessions)]

    def photo(number, shade):
        data = io.BytesIO()
        Image.new("RGB", (96, 64), (shade, 80, 160)).save(data, "PNG")
        return data.getvalue()

    def start(number):  # not timed: a session and its photo (edges extracted on the cluster)
        record = records[number]
        try:
            session = conversations.start(f"{name}-{number}")
            record["session"] = session.id
            reply = conversations.add_photo(session, photo(number, number * 5 % 255), "p.png")
            if reply.error:
                record["errors"].append(reply.error)
        except Exception as exc:
            record["errors"].append(f"{type(exc).__name__}: {exc}")

    def draw(number):  # timed: the generations
        record = records[number]
        try:
            for _ in range(generations if record["session"] else 0):
                if time.time() > deadline:
                    record["errors"].append("deadline")
                    break
                started = time.perf_counter()
                reply = conversations.say(record["session"], "generate 1")
                record["latencies"].append(time.perf_counter() - started)
                record["last_reply"] = reply.text[:300]
                if reply.error or reply.text.startswith("Error:"):
                    record["errors"].append(reply.error or reply.text[:300])
                else:
                    record["generations"] += 1
        except Exception as exc:
            record["errors"].append(f"{type(exc).__name__}: {exc}")

    def in_threads(work):
        threads = [threading.Thread(target=work, args=(n,)) for n in range(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # Warm-up, not measured: the deployments and this process's handles, one generation.
    warm = conversations.start(f"{name}-warm")
    conversations.add_photo(warm, photo(0, 255), "warm.png")
    conversations.say(warm, "generate 1")
    in_threads(start)
    (sync / name).touch()  # both processes start drawing together
    while len(list(sync.iterdir())) < 2 and time.time() < deadline:
        time.sleep(0.05)
    started = time.perf_counter()
    in_threads(draw)
    elapsed = time.perf_counter() - started
    batches = getattr(conversations.services.generator, "batches", [])[1:]  # after the warm-up
    print(json.dumps({"elapsed": elapsed, "sessions": records,
                      "calls": len(batches), "requests": sum(r for r, _ in batches)}))
    """
)


def run(replicas: int, args: argparse.Namespace, env: dict[str, str]) -> dict:
    """One measurement: a fresh Ray cluster with `replicas` generator replicas (one CPU each,
    and one each for the extractor and ranker replicas)."""
    env = {
        **env,
        "IMAGE_INTERPRETER_COMPUTE__MIN_GENERATOR_REPLICAS": str(replicas),
        "IMAGE_INTERPRETER_COMPUTE__MAX_GENERATOR_REPLICAS": str(replicas),
    }
    with ray_head(cpus=replicas + 2, env=env) as env:
        deadline = time.time() + args.deadline
        half = args.sessions // 2
        sync = tempfile.mkdtemp(prefix="scale-sync-")
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    APP,
                    str(count),
                    str(args.generations),
                    str(deadline),
                    name,
                    sync,
                    str(args.steps),
                    str(args.size),
                ],
                env={**env, "IMAGE_INTERPRETER_DATA_DIR": tempfile.mkdtemp(prefix=f"{name}-")},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, count in (("web", half), ("mcp", args.sessions - half))
        ]
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=args.deadline + 600)
            if proc.returncode != 0:
                raise SystemExit(f"an app process failed:\n{err[-3000:]}")
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    sessions = [s for o in outputs for s in o["sessions"]]
    latencies = sorted(x for s in sessions for x in s["latencies"])
    elapsed = max(o["elapsed"] for o in outputs)
    made = sum(s["generations"] for s in sessions)
    calls = sum(o["calls"] for o in outputs)
    return {
        # each request's stream names the size of the call that drew it: the mean over requests
        # (1 without batching, where no call draws two requests)
        "per_call": sum(o["requests"] for o in outputs) / calls if calls else 1.0,
        "replicas": replicas,
        "generations": made,
        "per_minute": made / elapsed * 60,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
        "errors": [e for s in sessions for e in s["errors"]],
        "sessions": sessions,
    }


def damaged(result: dict, env: dict[str, str], expected: int) -> list[str]:
    """Every session read back from PostgreSQL and S3 (its generations, every artifact checked
    against its hash): what is wrong, one line per problem."""
    os.environ.update(env)
    from image_interpreter.errors import ImageInterpreterError
    from image_interpreter.session import SessionStore
    from image_interpreter.settings import load_settings

    problems = []
    with SessionStore.from_settings(load_settings()) as store:
        for record in result["sessions"]:
            if record["session"] is None:
                problems.append("a session was never started")
                continue
            session = store.open(record["session"])
            made = len(session.generations())
            if made != record["generations"] or made != expected:
                problems.append(
                    f"{session.id[:8]}: {made} generations stored, {expected} asked"
                    f" (last reply: {record.get('last_reply', '')!r})"
                )
            for sha in session.artifacts():
                try:
                    session.read_artifact(sha)
                except ImageInterpreterError as error:
                    problems.append(f"{session.id[:8]}: {error}")
    return problems


def batched_pixels(result: dict, env: dict[str, str], limit: int = 4) -> str:
    """Candidates drawn beside other sessions' ones, drawn again here in-process: with `exact`
    (the same call shape) the pixels must be identical; alone, they may differ by rounding."""
    os.environ.update(env)
    import numpy as np
    import torch

    from image_interpreter.generate.generator import Generator
    from image_interpreter.generate.store import recipe_from_record
    from image_interpreter.images import load_image
    from image_interpreter.session import SessionStore
    from image_interpreter.settings import load_settings

    torch.set_num_threads(1)  # as the replicas ran: CPU kernels depend on the thread count
    settings = load_settings()
    local = settings.model_copy(
        update={"compute": settings.compute.model_copy(update={"backend": "local"})}
    )
    generator, checked, identical, alone_max = Generator(local), 0, 0, 0
    with SessionStore.from_settings(settings) as store:
        for record in result["sessions"]:
            if checked == limit or record["session"] is None:
                continue
            session = store.open(record["session"])
            for generation in session.generations():
                recipe = recipe_from_record(generation, 0)
                if recipe.batch < 2 or checked == limit:
                    continue
                stored = np.asarray(
                    load_image(session.read_artifact(generation.candidates[0].sha256))
                )
                priors = session.version(generation.version)
                again = generator.regenerate(
                    recipe, priors, read_artifact=session.read_artifact, exact=True
                )
                alone = generator.regenerate(recipe, priors, read_artifact=session.read_artifact)
                checked += 1
                identical += bool(np.array_equal(stored, np.asarray(again.image.convert("RGB"))))
                diff = np.abs(
                    stored.astype(int) - np.asarray(alone.image.convert("RGB")).astype(int)
                )
                alone_max = max(alone_max, int(diff.max()))
    if not checked:
        return "no candidate was drawn beside another session's"
    return (
        f"{identical}/{checked} batched candidates identical when drawn again in the same call"
        f" shape; drawn alone, they differ by at most {alone_max} levels"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--generations", type=int, default=1, help="per session")
    # A turn's fixed cost (agent, ranking, PostgreSQL, S3) is the same on a GPU; what a replica
    # adds is the denoising. These make it the larger part of a turn, as real models' steps are:
    # at 64 px and 2 steps the fixed cost dominates and a second replica has little to share.
    parser.add_argument("--steps", type=int, default=24, help="denoising steps per generation")
    parser.add_argument("--size", type=int, default=128, help="picture side in pixels")
    parser.add_argument("--deadline", type=float, default=900, help="seconds per measurement")
    args = parser.parse_args()
    if shutil.which("ray") is None:
        raise SystemExit("`ray` is not on PATH: run through `uv run`.")
    # Stopped (timeout, kill): still stop the servers and the Ray cluster it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    # (generator replicas, cross-session batching window in seconds)
    plans = [(1, BATCH_WAIT_S), (2, BATCH_WAIT_S), (1, 0.0)]
    postgres = start_postgres()
    try:
        with s3_server() as endpoint:
            import boto3

            env = {
                **os.environ,
                **CREDENTIALS,
                "AWS_ENDPOINT_URL_S3": endpoint,
                "IMAGE_INTERPRETER_PROFILE": "tiny",
                "IMAGE_INTERPRETER_DEVICE": "cpu",
                "IMAGE_INTERPRETER_TINY_DIR": tempfile.mkdtemp(prefix="scale-tiny-"),
                "IMAGE_INTERPRETER_ARTIFACTS_URL": f"s3://{BUCKET}/artifacts",
                "IMAGE_INTERPRETER_COMPUTE__BACKEND": "ray",
                "IMAGE_INTERPRETER_COMPUTE__GENERATOR_GPUS": "0",
                "IMAGE_INTERPRETER_COMPUTE__EXTRACTOR_GPUS": "0",
                "IMAGE_INTERPRETER_COMPUTE__RANKER_GPUS": "0",
                "IMAGE_INTERPRETER_COMPUTE__CPUS_PER_REPLICA": "1",
                "OMP_NUM_THREADS": "1",
            }
            os.environ.update({k: env[k] for k in (*CREDENTIALS, "AWS_ENDPOINT_URL_S3")})
            boto3.client("s3").create_bucket(Bucket=BUCKET)
            results = []
            for replicas, wait in plans:
                env["IMAGE_INTERPRETER_DATABASE_URL"] = postgres.new_database()
                env["IMAGE_INTERPRETER_COMPUTE__BATCH_WAIT_S"] = str(wait)
                result = run(replicas, args, env)
                result["batching"] = wait > 0
                result["problems"] = damaged(result, env, args.generations)
                result["intact"] = not result["problems"]
                if wait > 0:
                    result["pixels"] = batched_pixels(result, env)
                results.append(result)
                print(
                    f"{replicas} generator replica(s), batching {'on' if wait else 'off'}:"
                    f" {result['generations']} generations, {result['per_minute']:.1f}/min,"
                    f" turn p50 {result['p50']:.2f} s p95 {result['p95']:.2f} s,"
                    f" {result['per_call']:.2f} requests per pipeline call,"
                    f" errors {len(result['errors'])}, sessions intact: {result['intact']}"
                    + (f"\n  {result['pixels']}" if "pixels" in result else "")
                    + "".join(f"\n  {line}" for line in result["problems"][:5]),
                    flush=True,
                )
    finally:
        remove(postgres)
    one, two, unbatched = results
    ratio = two["per_minute"] / max(one["per_minute"], 1e-9)
    print(
        f"{args.sessions} sessions, {args.generations} generation(s) each, {args.size} px,"
        f" {args.steps} steps"
    )
    print(f"throughput 2 replicas / 1 (batching on): {ratio:.2f}x (goal >= 1.7x on 2 cores)")
    batching = one["per_minute"] / max(unbatched["per_minute"], 1e-9)
    print(f"throughput batching on / off (1 replica): {batching:.2f}x")
    for result in results:
        for error in result["errors"][:5] + result["problems"][:5]:
            print(f"  error ({result['replicas']} replicas): {error}")
    return 0 if all(not r["errors"] and r["intact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
