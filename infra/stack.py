"""The service's single stack: the capability constructs wired together, and its outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from constructs import Construct

from infra.alarms import ServiceAlarms
from infra.cdn import CustomDomain, ScreenshotCdn
from infra.function import CaptureFunction, CaptureTuning, FunctionSizing
from infra.state import StateTable
from infra.storage import ScreenshotBucket
from infra.trigger import BuildStageTrigger

DESCRIPTION = "Preview screenshot service: capture function, screenshots bucket and CDN"


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """Everything a deployment may configure; `infra.app` builds it from CDK context."""

    tuning: CaptureTuning
    sizing: FunctionSizing
    trigger_bus_name: str
    trigger_source: str
    result_bus_name: str
    expiration_days: int | None
    discarded_expiration_days: int
    cors_allowed_origins: Sequence[str]
    custom_domain: CustomDomain | None
    alarm_topic_arn: str | None


class ScreenshotServiceStack(Stack):
    """Bucket + CDN, state table, capture function, its trigger and its alarms."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: ServiceSettings) -> None:
        super().__init__(scope, construct_id, description=DESCRIPTION)
        storage = ScreenshotBucket(
            self,
            "Storage",
            expiration_days=settings.expiration_days,
            discarded_expiration_days=settings.discarded_expiration_days,
        )
        cdn = ScreenshotCdn(
            self,
            "Cdn",
            bucket=storage.bucket,
            cors_allowed_origins=settings.cors_allowed_origins,
            custom_domain=settings.custom_domain,
        )
        state = StateTable(self, "State")
        capture = CaptureFunction(
            self,
            "Capture",
            tuning=settings.tuning,
            sizing=settings.sizing,
            bucket=storage.bucket,
            cdn_domain=cdn.domain_name,
            table=state.table,
            result_bus=events.EventBus.from_event_bus_name(
                self, "ResultBus", settings.result_bus_name
            ),
        )
        trigger = BuildStageTrigger(
            self,
            "Trigger",
            event_bus=events.EventBus.from_event_bus_name(
                self, "TriggerBus", settings.trigger_bus_name
            ),
            source=settings.trigger_source,
            capture_stages=settings.tuning.capture_stages,
            function=capture.function,
        )
        ServiceAlarms(
            self,
            "Alarms",
            function=capture.function,
            dead_letter_queues={
                "Function": capture.dead_letter_queue,
                "Trigger": trigger.dead_letter_queue,
            },
            topic_arn=settings.alarm_topic_arn,
        )
        outputs = {
            "BucketName": (storage.bucket.bucket_name, "Bucket holding the screenshots"),
            "DistributionDomainName": (
                cdn.distribution.distribution_domain_name,
                "CloudFront domain of the screenshots distribution",
            ),
            "SnapshotDomain": (cdn.domain_name, "Domain of every snapshot_url"),
            "FunctionName": (capture.function.function_name, "Capture function name"),
            "FunctionArn": (
                capture.function.function_arn,
                "Capture function ARN: target of direct asynchronous invokes",
            ),
            "StateTableName": (state.table.table_name, "Breaker and idempotency table"),
            "FunctionDeadLetterQueueUrl": (
                capture.dead_letter_queue.queue_url,
                "Invocations that failed or expired before the function handled them",
            ),
            "TriggerDeadLetterQueueUrl": (
                trigger.dead_letter_queue.queue_url,
                "Build Stage Completed events EventBridge could not deliver to the function",
            ),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
