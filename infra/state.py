"""The DynamoDB table behind the circuit breaker and Powertools idempotency."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

PARTITION_KEY = "id"
TTL_ATTRIBUTE = "expiration"


class StateTable(Construct):
    """On-demand table keyed by `id`, whose items expire through the `expiration` TTL."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Every item is short-lived breaker or idempotency state: nothing outlives a build.
            removal_policy=RemovalPolicy.DESTROY,
        )
