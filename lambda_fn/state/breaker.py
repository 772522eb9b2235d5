"""Per-build circuit breaker persisted in DynamoDB, shared by every execution environment.

One item per job (``id = breaker#<job_id>``) holds the count of consecutive failed stages; an
atomic ``ADD`` counts a failure, a capture resets it, a TTL removes the item after the build.
If DynamoDB cannot be reached the breaker fails open: the capture proceeds, and the log says so.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from lambda_fn.events import Status
from lambda_fn.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TTL_S = 3 * 24 * 3600  # a build is long over by then
FAILURES: frozenset[Status] = frozenset({"discarded", "failed"})


class Breaker:
    def __init__(self, client: DynamoDBClient, *, table: str, threshold: int) -> None:
        self.client = client
        self.table = table
        self.threshold = threshold

    def is_open(self, job_id: str) -> bool:
        try:
            item = self.client.get_item(
                TableName=self.table, Key=_key(job_id), ConsistentRead=True
            ).get("Item", {})
        except (BotoCoreError, ClientError) as exc:
            _fail_open("read", exc)
            return False
        return int(item.get("failures", {}).get("N", "0")) >= self.threshold

    def record(self, job_id: str, status: Status) -> None:
        """Count ``discarded``/``failed``, reset on ``captured``; other statuses change nothing."""
        if status == "captured":
            update, values = "SET failures = :zero, expiration = :ttl", {":zero": {"N": "0"}}
        elif status in FAILURES:
            update, values = "ADD failures :one SET expiration = :ttl", {":one": {"N": "1"}}
        else:
            return
        values[":ttl"] = {"N": str(int(time.time()) + TTL_S)}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=_key(job_id),
                UpdateExpression=update,
                ExpressionAttributeValues=values,
            )
        except (BotoCoreError, ClientError) as exc:
            _fail_open("write", exc)


def _key(job_id: str) -> dict[str, dict[str, str]]:
    return {"id": {"S": f"breaker#{job_id}"}}


def _fail_open(operation: str, exc: Exception) -> None:
    logger.warning(
        "circuit breaker unavailable, failing open",
        extra={"operation": operation, "error": str(exc)[:500]},
    )
    metrics.add_metric(name="BreakerUnavailable", unit="Count", value=1)
