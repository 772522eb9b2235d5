"""Write-once, content-addressed PNG storage in S3 (DESIGN.md, storage contract)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambda_fn.errors import StorageError
from lambda_fn.events import ImageInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CACHE_CONTROL = "max-age=31536000, immutable"
KEY_HASH_CHARS = 16
# One botocore try with short timeouts: the function owns retries, and an upload started with
# UPLOAD_RESERVE_S of the attempt left always finishes inside the attempt's budget.
CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1})
UPLOAD_RESERVE_S = 3.5
ALREADY_STORED = frozenset({"PreconditionFailed", "412"})
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "Throttling",
        "ConditionalRequestConflict",
    }
)


@dataclass(frozen=True, slots=True)
class StoredImage:
    info: ImageInfo
    url: str


# What is stored beside a PNG, by key suffix: the thumbnail and the capture's record.
BESIDE_TYPES = {"webp": "image/webp", "json": "application/json"}


SCREENSHOTS_PREFIX = "screenshots/"
# A stage's last discarded PNG, kept for tuning the blank judgement: never a snapshot URL, never
# served by the CDN, expired by the bucket's lifecycle rule (infra/storage.py).
DISCARDED_PREFIX = "discarded/"


def object_key(
    job_id: str, stage: str, sha256: str, suffix: str = "png", prefix: str = SCREENSHOTS_PREFIX
) -> str:
    return f"{prefix}{job_id}/{stage}-{sha256[:KEY_HASH_CHARS]}.{suffix}"


def content_key(job_id: str, stage: str, png: bytes) -> tuple[str, str]:
    """The key ``png`` is stored under, and its SHA-256 (hex)."""
    sha256 = hashlib.sha256(png).hexdigest()
    return object_key(job_id, stage, sha256), sha256


def make_s3_client(region: str | None = None) -> S3Client:
    """An S3 client; ``AWS_ENDPOINT_URL`` (boto3's own variable) may point it at an emulator.
    Without ``region``, boto3's own lookup (``AWS_DEFAULT_REGION``, the config file) decides."""
    return boto3.client("s3", config=CLIENT_CONFIG, region_name=region)


class S3Store:
    def __init__(self, client: S3Client, *, bucket: str, cdn_domain: str) -> None:
        self.client = client
        self.bucket = bucket
        self.cdn_domain = cdn_domain

    def put(self, job_id: str, stage: str, png: bytes, *, width: int, height: int) -> StoredImage:
        """Store ``png`` once under its content address; identical bytes already there is fine."""
        key, sha256 = content_key(job_id, stage, png)
        self._put_once(key, png, "image/png")
        info = ImageInfo(key=key, sha256=sha256, bytes=len(png), width=width, height=height)
        return StoredImage(info=info, url=self.url(key))

    def put_evidence(self, job_id: str, stage: str, png: bytes) -> str:
        """Keep a discarded ``png`` under ``DISCARDED_PREFIX``; its key (not a URL: not served)."""
        key = object_key(job_id, stage, hashlib.sha256(png).hexdigest(), prefix=DISCARDED_PREFIX)
        self._put_once(key, png, "image/png")
        return key

    def put_beside(self, image: ImageInfo, suffix: str, body: bytes) -> str:
        """Store ``body`` once beside ``image`` (same address, ``suffix`` from ``BESIDE_TYPES``)."""
        key = image.key.removesuffix(".png") + f".{suffix}"
        self._put_once(key, body, BESIDE_TYPES[suffix])
        return self.url(key)

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``StorageError`` when they cannot be read."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise StorageError(f"S3 refused {key}: {exc}", transient=_is_transient(exc)) from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 unreachable for {key}: {exc}", transient=True) from exc

    def url(self, key: str) -> str:
        return f"https://{self.cdn_domain}/{key}"

    def _put_once(self, key: str, body: bytes, content_type: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                CacheControl=CACHE_CONTROL,
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _error_code(exc) not in ALREADY_STORED:
                raise StorageError(
                    f"S3 refused {key}: {exc}", transient=_is_transient(exc)
                ) from exc
        except BotoCoreError as exc:  # connection reset, timeouts, endpoint unreachable
            raise StorageError(f"S3 unreachable for {key}: {exc}", transient=True) from exc


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_transient(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return _error_code(exc) in TRANSIENT_CODES or status >= 500
