"""The capture function: a container image with its role, logs and async failure path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Acknowledgment, Duration, Size, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.dlq import create_dead_letter_queue
from infra.storage import BUCKET_LOGICAL_ID, DISCARDED_PREFIX, SCREENSHOTS_PREFIX

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = "Dockerfile.lambda"
# Two attempts of at most ATTEMPT_BUDGET_S each plus the blank-retry delay must fit, with
# room left for a cold start (Python, Playwright driver).
TIMEOUT = Duration.seconds(60)
COLD_START_ALLOWANCE_S = 15
# Chromium's profile, cache and crash dumps live in /tmp (the only writable path).
EPHEMERAL_STORAGE = Size.mebibytes(1024)
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# A preview URL lives only as long as its build; an event that waited longer is useless.
MAX_EVENT_AGE = Duration.minutes(15)
SERVICE_NAME = "screenshot-service"
METRICS_NAMESPACE = "PreviewScreenshots"

PLATFORMS = {
    lambda_.Architecture.X86_64.name: ecr_assets.Platform.LINUX_AMD64,
    lambda_.Architecture.ARM_64.name: ecr_assets.Platform.LINUX_ARM64,
}


@dataclass(frozen=True, kw_only=True)
class CaptureTuning:
    """The capture knobs of DESIGN.md's configuration table, passed to the function as is."""

    screenshot_enabled: bool
    capture_stages: Sequence[str]
    attempt_budget_s: float
    blank_min_bytes: int
    blank_max_uniform_fraction: float
    blank_retry_delay_s: float
    breaker_threshold: int
    allowed_url_hosts: Sequence[str]
    blank_policy: str

    def worst_case_s(self) -> float:
        """Two attempts plus the delay before the blank retry."""
        return 2 * self.attempt_budget_s + self.blank_retry_delay_s


@dataclass(frozen=True, kw_only=True)
class FunctionSizing:
    memory_size_mb: int
    architecture: lambda_.Architecture
    reserved_concurrency: int | None


class CaptureFunction(Construct):
    """The `DockerImageFunction` built from Dockerfile.lambda, least-privilege by construction."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tuning: CaptureTuning,
        sizing: FunctionSizing,
        bucket: s3.IBucket,
        cdn_domain: str,
        table: dynamodb.ITable,
        result_bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        if tuning.worst_case_s() + COLD_START_ALLOWANCE_S > TIMEOUT.to_seconds():
            raise ValueError(
                f"two capture attempts and the blank retry take up to {tuning.worst_case_s():g} s,"
                f" which leaves less than {COLD_START_ALLOWANCE_S} s of the"
                f" {TIMEOUT.to_seconds():g} s function timeout for a cold start"
            )
        self.dead_letter_queue = create_dead_letter_queue(self, "DeadLetterQueue")
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Capture function: write screenshots, breaker/idempotency state, results",
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            description="Captures a 1280x800 screenshot of a build's preview URL",
            code=lambda_.DockerImageCode.from_image_asset(
                str(REPO_ROOT),
                file=DOCKERFILE,
                platform=PLATFORMS[sizing.architecture.name],
            ),
            architecture=sizing.architecture,
            memory_size=sizing.memory_size_mb,
            reserved_concurrent_executions=sizing.reserved_concurrency,
            timeout=TIMEOUT,
            ephemeral_storage_size=EPHEMERAL_STORAGE,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment=_environment(
                tuning,
                bucket_name=bucket.bucket_name,
                cdn_domain=cdn_domain,
                table_name=table.table_name,
                result_bus_name=result_bus.event_bus_name,
            ),
            # The function owns its retries (at most two attempts); Lambda must not add more.
            retry_attempts=0,
            max_event_age=MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
        )
        self._grant(bucket=bucket, table=table, result_bus=result_bus)
        self._acknowledge_findings()

    def _grant(
        self, *, bucket: s3.IBucket, table: dynamodb.ITable, result_bus: events.IEventBus
    ) -> None:
        self.log_group.grant_write(self.role)
        # Write-once puts, and reads of the previous stage's PNG for the diff, under the prefix
        # only: no Abort*, no Delete*, no listing.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{SCREENSHOTS_PREFIX}*")],
            )
        )
        # Discarded captures kept for tuning: written once, never read back by the function.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{DISCARDED_PREFIX}*")],
            )
        )
        table.grant(
            self.role,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        )
        result_bus.grant_put_events_to(self.role)

    def _acknowledge_findings(self) -> None:
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{BUCKET_LOGICAL_ID}.Arn>/{SCREENSHOTS_PREFIX}*]",
                reason=(
                    "Keys are content-addressed (they contain the PNG's hash) so they cannot be "
                    "listed in advance; the grant is s3:PutObject and s3:GetObject alone, "
                    "under the screenshots/ prefix of this one bucket."
                ),
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{BUCKET_LOGICAL_ID}.Arn>/{DISCARDED_PREFIX}*]",
                reason=(
                    "Discarded captures are content-addressed like screenshots; the grant is "
                    "s3:PutObject alone, under the discarded/ prefix of this one bucket."
                ),
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level "
                    "permissions; they are the only actions granted on *."
                ),
            ),
        )
        Validations.of(self.function).acknowledge(
            Acknowledgment(
                id="Serverless-LambdaDLQ",
                reason=(
                    "Failed asynchronous invocations go to the on-failure destination queue, which "
                    "also records the error; a legacy dead-letter config would duplicate it."
                ),
            ),
        )


def _environment(
    tuning: CaptureTuning,
    *,
    bucket_name: str,
    cdn_domain: str,
    table_name: str,
    result_bus_name: str,
) -> dict[str, str]:
    """Every variable of DESIGN.md's configuration table that a deployment sets."""
    return {
        "SCREENSHOT_ENABLED": "true" if tuning.screenshot_enabled else "false",
        "SCREENSHOTS_BUCKET": bucket_name,
        "SCREENSHOTS_CDN_DOMAIN": cdn_domain,
        "CAPTURE_STAGES": ",".join(tuning.capture_stages),
        "STATE_TABLE": table_name,
        "RESULT_BUS": result_bus_name,
        "ATTEMPT_BUDGET_S": f"{tuning.attempt_budget_s:g}",
        "BLANK_MIN_BYTES": str(tuning.blank_min_bytes),
        "BLANK_MAX_UNIFORM_FRACTION": f"{tuning.blank_max_uniform_fraction:g}",
        "BLANK_RETRY_DELAY_S": f"{tuning.blank_retry_delay_s:g}",
        "BLANK_POLICY": tuning.blank_policy,
        "BREAKER_THRESHOLD": str(tuning.breaker_threshold),
        "ALLOWED_URL_HOSTS": ",".join(tuning.allowed_url_hosts),
        # Loopback pages are for local runs only: on Lambda the runtime API listens there.
        "ALLOW_PRIVATE_URLS": "false",
        # Chromium writes its profile under $HOME and only /tmp is writable on Lambda.
        "HOME": "/tmp",  # noqa: S108
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    }
