"""The EventBridge rule that turns "Build Stage Completed" events into capture invocations."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.dlq import create_dead_letter_queue

DETAIL_TYPE = "Build Stage Completed"
# Delivery failures (throttling, a missing permission) are retried by EventBridge for a few
# minutes; past that the preview is likely gone and the event goes to the queue.
DELIVERY_RETRY_ATTEMPTS = 4
DELIVERY_MAX_EVENT_AGE = Duration.minutes(15)


class BuildStageTrigger(Construct):
    """Matches the pipeline's events for the capture stages only, so others cost no invocation."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus,
        source: str,
        capture_stages: Sequence[str],
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = create_dead_letter_queue(self, "DeadLetterQueue")
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"{DETAIL_TYPE} of a capture stage invokes the screenshot function",
            event_bus=event_bus,
            event_pattern=events.EventPattern(
                source=[source],
                detail_type=[DETAIL_TYPE],
                detail={"stage": list(capture_stages)},
            ),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                function,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=DELIVERY_RETRY_ATTEMPTS,
                max_event_age=DELIVERY_MAX_EVENT_AGE,
            )
        )
