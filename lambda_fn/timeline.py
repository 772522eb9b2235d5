"""The stage timeline: each captured stage is compared with the job's previous captured stage,
and gets a thumbnail and a record stored beside its PNG.

The last captured key of each job lives in the state table (``id = last#<job_id>``, the breaker's
TTL). Nothing here fails a capture: a missing, unreadable or incomparable previous screenshot,
or an unreachable table, leaves ``diff`` null with ``diff_reason`` saying why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_fn.breaker import TTL_S
from lambda_fn.diff import DiffError, compare
from lambda_fn.errors import StorageError
from lambda_fn.events import ImageInfo
from lambda_fn.observability import logger
from lambda_fn.record import record
from lambda_fn.storage import S3Store
from lambda_fn.thumbnail import thumbnail

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class StateUnavailable(Exception):
    pass


class LastCaptures:
    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self.client = client
        self.table = table

    def get(self, job_id: str) -> tuple[str, str] | None:
        """The previous captured (key, stage) of ``job_id``, or ``None`` for its first capture."""
        try:
            item = self.client.get_item(
                TableName=self.table, Key=_key(job_id), ConsistentRead=True
            ).get("Item")
        except (BotoCoreError, ClientError) as exc:
            raise StateUnavailable(str(exc)) from exc
        if not item:
            return None
        return item["image_key"]["S"], item["stage"]["S"]

    def put(self, job_id: str, key: str, stage: str) -> None:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **_key(job_id),
                    "image_key": {"S": key},
                    "stage": {"S": stage},
                    "expiration": {"N": str(int(time.time()) + TTL_S)},
                },
            )
        except (BotoCoreError, ClientError) as exc:
            logger.warning("last capture not recorded", extra={"error": str(exc)[:500]})


def _key(job_id: str) -> dict[str, dict[str, str]]:
    return {"id": {"S": f"last#{job_id}"}}


def annotate(
    result: dict[str, Any], png: bytes, *, store: S3Store, last: LastCaptures | None
) -> dict[str, Any]:
    """``result`` of a stored capture with ``diff``, ``thumbnail_url`` and ``record_url`` added."""
    image = ImageInfo(**result["image"])
    job_id = result["job_id"]
    diff, reason = _diff(job_id, image, png, store, last)
    annotated = {**result, "diff": diff, "diff_reason": reason}
    annotated["thumbnail_url"] = _beside(store, image, "webp", lambda: thumbnail(png))
    annotated["record_url"] = _beside(store, image, "json", lambda: record(annotated))
    if last is not None and reason != "state_unavailable":
        last.put(job_id, image.key, result["stage"])
    return annotated


def _diff(
    job_id: str, image: ImageInfo, png: bytes, store: S3Store, last: LastCaptures | None
) -> tuple[dict[str, Any] | None, str | None]:
    if last is None:
        return None, "no_state_table"
    try:
        previous = last.get(job_id)
    except StateUnavailable:
        return None, "state_unavailable"
    if previous is None:
        return None, "first_capture"
    key, stage = previous
    if key == image.key:
        return None, "same_capture"
    try:
        comparison = compare(store.get(key), png)
    except StorageError:
        return None, "previous_unreadable"
    except DiffError as exc:
        return None, exc.reason
    return {"against": key, "stage": stage, **asdict(comparison)}, None


def _beside(store: S3Store, image: ImageInfo, suffix: str, make: Callable[[], bytes]) -> str | None:
    try:
        return store.put_beside(image, suffix, make())
    except StorageError as exc:
        logger.warning(
            "not stored beside the screenshot", extra={"suffix": suffix, "error": str(exc)[:500]}
        )
        return None
