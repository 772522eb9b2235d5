"""Publishing results as ``Screenshot Result`` events; a failed publish never fails a capture."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_fn.observability import SERVICE, logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

DETAIL_TYPE = "Screenshot Result"


class ResultPublisher:
    def __init__(self, client: EventBridgeClient, *, bus: str) -> None:
        self.client = client
        self.bus = bus

    def publish(self, result: dict[str, Any]) -> bool:
        """Put ``result`` on the bus; log and count a failure instead of raising."""
        entry = {
            "Source": SERVICE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(result),
            "EventBusName": self.bus,
        }
        try:
            response = self.client.put_events(Entries=[entry])  # type: ignore[list-item]
        except (BotoCoreError, ClientError) as exc:
            return _failed(str(exc))
        if response.get("FailedEntryCount", 0):
            return _failed(str(response["Entries"][0].get("ErrorMessage")))
        return True


def _failed(error: str) -> bool:
    logger.error("result event not published", extra={"error": error[:500]})
    metrics.add_metric(name="ResultPublishFailed", unit="Count", value=1)
    return False
