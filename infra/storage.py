"""The private bucket that keeps the accepted screenshots (and, apart, recent discarded ones)."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_s3 as s3
from constructs import Construct

# Stateful: the logical ID is pinned so that refactoring the construct tree can never replace
# the bucket (and with it every published snapshot URL).
BUCKET_LOGICAL_ID = "ScreenshotsBucket"
SCREENSHOTS_PREFIX = "screenshots/"
# Discarded captures kept for tuning the blank judgement: written by the function, never served
# by the CDN (infra/cdn.py), expired after a configurable number of days.
DISCARDED_PREFIX = "discarded/"


class ScreenshotBucket(Construct):
    """Private, versioned, TLS-only bucket, retained when the stack is deleted."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        expiration_days: int | None,
        discarded_expiration_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=_expiry_rules(expiration_days, discarded_expiration_days),
        )
        cfn_bucket = self.bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.override_logical_id(BUCKET_LOGICAL_ID)
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason=(
                    "The only reader is CloudFront through OAC and the only writer is the capture "
                    "function, which logs every key it stores; server access logs would need a "
                    "second bucket and would record no request the service does not already see."
                ),
            )
        )


def _expiry_rules(
    expiration_days: int | None, discarded_expiration_days: int
) -> list[s3.LifecycleRule]:
    """Expire discarded captures after their age, screenshots after theirs (if one is given);
    noncurrent versions go one day later."""
    rules = [_expire("ExpireDiscarded", DISCARDED_PREFIX, discarded_expiration_days)]
    if expiration_days is not None:
        rules.insert(0, _expire("ExpireScreenshots", SCREENSHOTS_PREFIX, expiration_days))
    return rules


def _expire(rule_id: str, prefix: str, days: int) -> s3.LifecycleRule:
    return s3.LifecycleRule(
        id=rule_id,
        prefix=prefix,
        expiration=Duration.days(days),
        noncurrent_version_expiration=Duration.days(1),
    )
