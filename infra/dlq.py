"""Dead-letter queues for events the service could not process."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# Long enough for an operator to notice the alarm and inspect the failed events.
DEAD_LETTER_RETENTION = Duration.days(14)


def create_dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """An SQS queue encrypted at rest, reachable over TLS only, that keeps messages 14 days."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
    )
    reason = (
        "This queue is itself the dead-letter destination of failed events; a further "
        "redrive queue would only move the same messages again. Its depth is alarmed instead."
    )
    Validations.of(queue).acknowledge(
        Acknowledgment(id="AwsSolutions-SQS3", reason=reason),
        Acknowledgment(id="Serverless-SQSRedrivePolicy", reason=reason),
    )
    return queue
