"""A local AWS for development and tests: moto's server on a loopback port, with the bucket,
state table and result bus the function expects (plus a queue that receives the result events).

The function never knows: it reaches the emulator through boto3's ``AWS_ENDPOINT_URL``.
moto is a development dependency; it is not in the Lambda image.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

REGION = "us-east-1"
RESULT_SOURCE = "screenshot-service"


@dataclass(frozen=True, slots=True)
class LocalAws:
    endpoint: str
    bucket: str = "preview-screenshots-local"
    table: str = "preview-screenshots-state"
    bus: str = "preview-results"
    cdn_domain: str = "cdn.preview.localhost"
    results_queue: str = "preview-results-queue"

    def environment(self) -> dict[str, str]:
        """What the function's environment holds when it runs against this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "SCREENSHOTS_BUCKET": self.bucket,
            "SCREENSHOTS_CDN_DOMAIN": self.cdn_domain,
            "STATE_TABLE": self.table,
            "RESULT_BUS": self.bus,
        }

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credentials
        )

    def create_resources(self) -> None:
        self.client("s3").create_bucket(Bucket=self.bucket)
        dynamodb = self.client("dynamodb")
        dynamodb.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=self.table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
        )
        self._route_results_to_queue()

    def _route_results_to_queue(self) -> None:
        events, sqs = self.client("events"), self.client("sqs")
        events.create_event_bus(Name=self.bus)
        queue_url = sqs.create_queue(QueueName=self.results_queue)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        events.put_rule(
            Name="results-to-queue",
            EventBusName=self.bus,
            EventPattern=json.dumps({"source": [RESULT_SOURCE]}),
        )
        events.put_targets(
            Rule="results-to-queue",
            EventBusName=self.bus,
            Targets=[{"Id": "queue", "Arn": arn["Attributes"]["QueueArn"]}],
        )

    def received_results(self) -> list[dict[str, Any]]:
        """Drain the result events that reached the bus (through the queue)."""
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=self.results_queue)["QueueUrl"]
        found: list[dict[str, Any]] = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found


@contextmanager
def local_aws() -> Iterator[LocalAws]:
    """Start the emulator on a free loopback port, create the resources, stop it on exit."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # the Lambda image ships without development tools
        raise RuntimeError(
            "the local AWS emulator needs the dev extra: pip install -e .[dev]"
        ) from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws = LocalAws(endpoint=f"http://{host}:{port}")
        aws.create_resources()
        yield aws
    finally:
        # moto keeps its state in this process: wipe it, so the next emulator starts empty.
        urllib.request.urlopen(
            urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
        ).close()
        server.stop()
