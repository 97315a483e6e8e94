"""Scale-out: many scripted sessions across two app processes sharing PostgreSQL, an S3 store and
one Ray cluster, with 1 and then 2 generator replicas (1 thread each), on the tiny models.

Starts everything itself on loopback: a PostgreSQL server (Debian's package, as an unprivileged
user), moto's S3 server, and a local Ray cluster (`ray start --head`). Each app process runs half
the sessions in threads through the conversation core (`Conversations.say`, as every front end
does): a photo (edges extracted on the cluster), then `--generations` one-candidate generations.
Afterwards every session is read back from PostgreSQL and S3 (every artifact hash-checked).

    uv run python bench/scale.py                      # 40 sessions, 1 then 2 replicas
    uv run python bench/scale.py --sessions 8 --generations 1 --deadline 300

Prints, per replica count: generations per minute, p50/p95 turn latency, errors (must be 0) and
whether every session is intact; then the throughput ratio 2 replicas / 1. Exits 1 on any error.
Cross-session batching is not implemented yet, so there is no batching on/off comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pg_server import remove, start_postgres
from s3_server import CREDENTIALS, s3_server

BUCKET = "scale-bench"

APP = textwrap.dedent(
    """
    import io, json, sys, threading, time
    from PIL import Image
    from image_interpreter.interfaces.conversation import ChatConfig, Conversations
    sessions, generations, deadline = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    name = sys.argv[4]
    chat = ChatConfig(extract="edges", steps=2, size=64, candidates=1)
    conversations = Conversations(config=chat)
    results, lock = [], threading.Lock()

    def one(number):
        record = {"latencies": [], "errors": [], "session": None, "generations": 0}
        try:
            session = conversations.start(f"{name}-{number}")
            record["session"] = session.id
            photo = io.BytesIO()
            Image.new("RGB", (96, 64), (number * 5 % 255, 80, 160)).save(photo, "PNG")
            reply = conversations.add_photo(session, photo.getvalue(), f"photo-{number}.png")
            if reply.error:
                record["errors"].append(reply.error)
            for _ in range(generations):
                if time.time() > deadline:
                    record["errors"].append("deadline")
                    break
                started = time.perf_counter()
                reply = conversations.say(session, "generate 1")
                record["latencies"].append(time.perf_counter() - started)
                record["last_reply"] = reply.text[:300]
                if reply.error or reply.text.startswith("Error:"):
                    record["errors"].append(reply.error or reply.text[:300])
                else:
                    record["generations"] += 1
        except Exception as exc:
            record["errors"].append(f"{type(exc).__name__}: {exc}")
        with lock:
            results.append(record)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(sessions)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"elapsed": time.perf_counter() - started, "sessions": results}))
    """
)


def _ray(*args: str, env: dict[str, str], tries: int = 1) -> None:
    for attempt in range(1, tries + 1):
        done = subprocess.run(["ray", *args], env=env, capture_output=True, text=True, timeout=180)
        if done.returncode == 0:
            return
        if attempt == tries:
            raise SystemExit(f"ray {' '.join(args)} failed:\n{done.stderr[-2000:]}")
        subprocess.run(["ray", "stop", "--force"], env=env, capture_output=True, timeout=120)


def run(replicas: int, args: argparse.Namespace, env: dict[str, str], port: int) -> dict:
    """One measurement: a fresh Ray cluster with `replicas` generator replicas."""
    env = {
        **env,
        "IMAGE_INTERPRETER_COMPUTE__ADDRESS": f"127.0.0.1:{port}",
        "IMAGE_INTERPRETER_COMPUTE__MIN_GENERATOR_REPLICAS": str(replicas),
        "IMAGE_INTERPRETER_COMPUTE__MAX_GENERATOR_REPLICAS": str(replicas),
    }
    _ray("start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         f"--num-cpus={replicas + 1}",
         "--include-dashboard=false", env=env, tries=3)  # fmt: skip
    try:
        deadline = time.time() + args.deadline
        half = args.sessions // 2
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", APP, str(count), str(args.generations), str(deadline), name],
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
    finally:
        _ray("stop", "--force", env=env)
    sessions = [s for o in outputs for s in o["sessions"]]
    latencies = sorted(x for s in sessions for x in s["latencies"])
    elapsed = max(o["elapsed"] for o in outputs)
    made = sum(s["generations"] for s in sessions)
    return {
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--generations", type=int, default=2, help="per session")
    parser.add_argument("--deadline", type=float, default=900, help="seconds per measurement")
    args = parser.parse_args()
    if shutil.which("ray") is None:
        raise SystemExit("`ray` is not on PATH: run through `uv run`.")

    postgres = start_postgres()
    try:
        with s3_server() as endpoint:
            import boto3

            env = {
                **os.environ,
                **CREDENTIALS,
                "AWS_ENDPOINT_URL_S3": endpoint,
                "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
                "IMAGE_INTERPRETER_PROFILE": "tiny",
                "IMAGE_INTERPRETER_DEVICE": "cpu",
                "IMAGE_INTERPRETER_TINY_DIR": tempfile.mkdtemp(prefix="scale-tiny-"),
                "IMAGE_INTERPRETER_ARTIFACTS_URL": f"s3://{BUCKET}/artifacts",
                "IMAGE_INTERPRETER_COMPUTE__BACKEND": "ray",
                "IMAGE_INTERPRETER_COMPUTE__GENERATOR_GPUS": "0",
                "IMAGE_INTERPRETER_COMPUTE__EXTRACTOR_GPUS": "0",
                "IMAGE_INTERPRETER_COMPUTE__CPUS_PER_REPLICA": "1",
                "OMP_NUM_THREADS": "1",
            }
            os.environ.update({k: env[k] for k in (*CREDENTIALS, "AWS_ENDPOINT_URL_S3")})
            boto3.client("s3").create_bucket(Bucket=BUCKET)
            results = []
            for replicas in (1, 2):
                env["IMAGE_INTERPRETER_DATABASE_URL"] = postgres.new_database()
                result = run(replicas, args, env, port=6390 + replicas)
                result["problems"] = damaged(result, env, args.generations)
                result["intact"] = not result["problems"]
                results.append(result)
                print(
                    f"{replicas} generator replica(s): {result['generations']} generations,"
                    f" {result['per_minute']:.1f}/min, turn p50 {result['p50']:.2f} s"
                    f" p95 {result['p95']:.2f} s, errors {len(result['errors'])},"
                    f" sessions intact: {result['intact']}"
                    + "".join(f"\n  {line}" for line in result["problems"][:5]),
                    flush=True,
                )
    finally:
        remove(postgres)
    ratio = results[1]["per_minute"] / max(results[0]["per_minute"], 1e-9)
    print(f"throughput 2 replicas / 1: {ratio:.2f}x (goal >= 1.7x on 2 cores)")
    for result in results:
        for error in result["errors"][:5] + result["problems"][:5]:
            print(f"  error ({result['replicas']} replicas): {error}")
    return 0 if all(not r["errors"] and r["intact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
