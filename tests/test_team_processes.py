"""Two app processes sharing a real PostgreSQL server, an S3-compatible store and one Ray cluster
(all started by the test on loopback), as a team's web server and MCP server would: a session
started in one continues in the other, with its pictures, versions and turns, and both draw on
the same generator deployment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from contextlib import ExitStack

import boto3
from ray_head import ray_head
from s3_server import CREDENTIALS, s3_server

# One app process: opens the conversations, runs its messages on the session (starting it with
# the demo when there is none yet), and prints what a user would see.
APP = textwrap.dedent(
    """
    import json, sys
    from image_interpreter.interfaces.conversation import ChatConfig, Conversations
    conversations = Conversations(config=ChatConfig(extract="edges"))
    session_id, messages = sys.argv[1], sys.argv[2:]
    if session_id == "new":
        session = conversations.start("team")
        conversations.demo(session)
        session_id = session.id
    replies = [conversations.say(session_id, text).text for text in messages]
    session = conversations.open(session_id)
    generator = conversations.services.generator
    print(json.dumps({
        "replicas": getattr(generator, "replicas_used", None),
        "session": session_id,
        "replies": replies,
        "versions": [[v.number, v.parent] for v in session.history()],
        "current": session.current.version,
        "images": [image.ref.sha256 for image in session.images()],
        "turns": len(session.turns()),
    }))
    conversations.close()
    """
)


def _run(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", APP, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_session_started_in_one_process_continues_in_another(postgres, tmp_path):
    database = postgres.new_database()
    with s3_server() as endpoint, ExitStack() as stack:
        storage = {**CREDENTIALS, "AWS_ENDPOINT_URL_S3": endpoint}
        # The replicas read artifacts from S3 too: the cluster's nodes get the same variables.
        cluster = stack.enter_context(ray_head(cpus=3, env={**os.environ, **storage}))
        env = {
            **cluster,
            "IMAGE_INTERPRETER_PROFILE": "tiny",
            "IMAGE_INTERPRETER_DEVICE": "cpu",
            "IMAGE_INTERPRETER_DATABASE_URL": database,
            "IMAGE_INTERPRETER_ARTIFACTS_URL": "s3://team-artifacts/editor",
            "IMAGE_INTERPRETER_COMPUTE__BACKEND": "ray",
            "IMAGE_INTERPRETER_COMPUTE__GENERATOR_GPUS": "0",
            "IMAGE_INTERPRETER_COMPUTE__EXTRACTOR_GPUS": "0",
            "IMAGE_INTERPRETER_COMPUTE__RANKER_GPUS": "0",
            "OMP_NUM_THREADS": "1",
        }
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing",
                     ).create_bucket(Bucket="team-artifacts")  # fmt: skip

        first = _run({**env, "IMAGE_INTERPRETER_DATA_DIR": str(tmp_path / "web")},
                     "new", "raise the left arm", "generate 1")  # fmt: skip
        second = _run({**env, "IMAGE_INTERPRETER_DATA_DIR": str(tmp_path / "mcp")},
                      first["session"], "undo", "raise the right arm", "generate 1")  # fmt: skip

        stored = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ).list_objects_v2(Bucket="team-artifacts", Prefix="editor/")  # fmt: skip
        keys = {item["Key"].rsplit("/", 1)[-1] for item in stored.get("Contents", [])}

    assert second["session"] == first["session"]
    assert second["images"] == first["images"] and set(first["images"]) <= keys
    raised_left = first["current"]
    # the second process undid the first's edit and branched from the same parent
    assert [raised_left, raised_left - 1] in second["versions"]
    assert second["versions"][-1] == [second["current"], raised_left - 1]
    assert second["turns"] == first["turns"] + 6
    assert "right arm" in second["replies"][1].lower()
    assert "Generation 1" in first["replies"][1] and "Generation 2" in second["replies"][2]
    # one generator deployment: the second process drew on the replica the first deployed
    assert first["replicas"] == second["replicas"] and len(first["replicas"]) == 1
    assert not (tmp_path / "web" / "artifacts").exists()  # nothing local: all in S3
