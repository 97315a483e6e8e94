"""The artifact store on S3-compatible storage, for several app processes sharing one store.

Same keys as the local store (`prefix/ab/<sha256>`), same verification on read. boto3 rather than
fsspec/s3fs: it is already a dependency (the Bedrock captioner), it reads the usual AWS variables
(`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL_S3`, `AWS_PROFILE`, ...) itself, and s3fs would pin
botocore through aiobotocore. A single PutObject becomes visible whole or not at all, and the
SHA-256 checksum sent with it makes the server refuse a body damaged on the way; reads verify the
hash again, so a partial or corrupt object is never used.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlparse

from image_interpreter.artifacts.store import sha256_of, valid_sha256
from image_interpreter.errors import ArtifactError

# Fail within seconds when the endpoint is down, instead of boto3's long default retries.
_CLIENT_CONFIG = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}}


def _checksum(sha256: str) -> str:
    """S3's ChecksumSHA256 header: the base64 of the raw digest, not the hex."""
    return base64.b64encode(bytes.fromhex(sha256)).decode("ascii")


class S3ArtifactStore:
    """Artifacts as objects `s3://bucket/prefix/ab/<sha256>`."""

    def __init__(self, url: str, client: Any | None = None):
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ArtifactError(f"'{url}' is not an S3 location (expected s3://bucket/prefix).")
        self.url = url.rstrip("/")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("s3", config=Config(**_CLIENT_CONFIG))
        return self._client

    def key_for(self, sha256: str) -> str:
        valid_sha256(sha256)
        return "/".join(part for part in (self.prefix, sha256[:2], sha256) if part)

    def location(self, sha256: str) -> str:
        return f"s3://{self.bucket}/{self.key_for(sha256)}"

    def put(self, data: bytes) -> str:
        """Store `data` (once) and return its sha256."""
        sha = sha256_of(data)
        if self._stored_hash(sha) == sha:
            return sha
        self._call(
            "store",
            sha,
            self.client.put_object,
            Bucket=self.bucket,
            Key=self.key_for(sha),
            Body=data,
            ChecksumSHA256=_checksum(sha),
            Metadata={"sha256": sha},
        )
        return sha

    def get(self, sha256: str) -> bytes:
        """The content of an artifact, verified against its hash."""
        response = self._call(
            "read", sha256, self.client.get_object, Bucket=self.bucket, Key=self.key_for(sha256)
        )
        if response is None:
            raise ArtifactError(
                f"Artifact {sha256[:12]} is missing from {self.url}. It may have been deleted;"
                " extract or generate it again."
            )
        data = response["Body"].read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ArtifactError(
                f"Artifact {sha256[:12]} in {self.url} is corrupt (its content no longer matches"
                " its hash). Delete the object and extract or generate it again."
            )
        return data

    def has(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def _stored_hash(self, sha256: str) -> str | None:
        """The hash the object was stored under; user metadata, which every S3-compatible
        server returns (not all return ChecksumSHA256). An object written by anything else
        has none and is stored again."""
        head = self._head(sha256)
        return None if head is None else head.get("Metadata", {}).get("sha256")

    def _head(self, sha256: str) -> dict[str, Any] | None:
        return self._call(
            "look up",
            sha256,
            self.client.head_object,
            Bucket=self.bucket,
            Key=self.key_for(sha256),
        )

    def _call(self, action: str, sha256: str, method: Any, **kwargs: Any) -> Any:
        """One S3 request; None for a missing object, ArtifactError for everything else."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise ArtifactError(
                f"Could not {action} artifact {sha256[:12]} in {self.url}: S3 answered {code}"
                f" ({exc.response.get('Error', {}).get('Message', 'no message')}). Check the"
                " bucket exists and the AWS credentials may use it."
            ) from None
        except BotoCoreError as exc:
            endpoint = getattr(self.client.meta, "endpoint_url", "the S3 endpoint")
            raise ArtifactError(
                f"Could not {action} artifact {sha256[:12]} in {self.url}: {endpoint} cannot be"
                f" reached ({exc}). Check AWS_ENDPOINT_URL_S3 and that the storage is up;"
                " nothing was saved."
            ) from None
