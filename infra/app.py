"""CDK entry point, and the only module that reads deployment configuration (CDK context).

Every setting has a default, so `cdk deploy` works without any; override one with
`cdk deploy -c key=value` or in cdk.json. An invalid value stops the synth with a message that
names the context key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_cdk import App, Validations
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import Node

from infra.cdn import CustomDomain
from infra.function import CaptureTuning, FunctionSizing
from infra.stack import ScreenshotServiceStack, ServiceSettings
from lambda_fn import patterns

STACK_NAME = "PreviewScreenshotService"
T = TypeVar("T")

BLANK_POLICIES = {"pixels": "pixels", "content-aware": "content-aware"}
ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}
STAGE_PATTERN = re.compile(patterns.STAGE)
ORIGIN_PATTERN = re.compile(r"https?://[^/\s]+")
HOST_GLOB_PATTERN = re.compile(patterns.HOST_GLOB)
DOMAIN_PATTERN = re.compile(r"[a-z0-9.-]+\.[a-z]{2,}")
# A bus name, not an ARN: the stack builds the ARN in its own account and region.
BUS_NAME_PATTERN = re.compile(r"[\w.-]+")
# CloudFront accepts certificates from us-east-1 only.
CERTIFICATE_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[\w-]+")
TOPIC_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+")
TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no"}


class ContextError(ValueError):
    """A context value is missing, malformed or out of range; the message names the key."""

    def __init__(self, key: str, expected: str, value: object) -> None:
        super().__init__(f"context value {key!r}: expected {expected}, got {value!r}")


@dataclass(frozen=True)
class ContextReader:
    """Typed access to context values; CLI `-c` values always arrive as strings."""

    node: Node

    def _raw(self, key: str) -> Any:
        value = self.node.try_get_context(key)
        return None if value == "" else value

    def string(self, key: str, default: str) -> str:
        return self.optional_string(key) or default

    def optional_string(self, key: str, pattern: re.Pattern[str] | None = None) -> str | None:
        value = self._raw(key)
        if value is None:
            return None
        if not isinstance(value, str) or (pattern and not pattern.fullmatch(value)):
            raise ContextError(key, pattern.pattern if pattern else "a string", value)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise ContextError(key, "true or false", value)
        return word in TRUE_WORDS

    def number(self, key: str, default: float, *, minimum: float, maximum: float) -> float:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            raise ContextError(key, "a number", value)
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ContextError(key, "a number", value) from exc
        if not minimum <= number <= maximum:
            raise ContextError(key, f"a number from {minimum:g} to {maximum:g}", value)
        return number

    def optional_integer(self, key: str, *, minimum: int, maximum: int) -> int | None:
        value = self._raw(key)
        if value is None:
            return None
        if isinstance(value, bool) or not re.fullmatch(r"\d+", str(value).strip()):
            raise ContextError(key, "a whole number", value)
        integer = int(str(value))
        if not minimum <= integer <= maximum:
            raise ContextError(key, f"a whole number from {minimum} to {maximum}", value)
        return integer

    def integer(self, key: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self.optional_integer(key, minimum=minimum, maximum=maximum)
        return default if value is None else value

    def strings(
        self, key: str, default: tuple[str, ...], pattern: re.Pattern[str]
    ) -> tuple[str, ...]:
        """A JSON list (cdk.json) or a comma-separated string (`-c key=a,b`)."""
        value = self._raw(key)
        if value is None:
            return default
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ContextError(key, "a list of strings or a comma-separated string", value)
        stripped = tuple(item.strip() for item in items if item.strip())
        if not all(pattern.fullmatch(item) for item in stripped):
            raise ContextError(key, f"items matching {pattern.pattern}", value)
        return stripped

    def choice(self, key: str, default: str, choices: Mapping[str, T]) -> T:
        value = self.string(key, default)
        if value not in choices:
            raise ContextError(key, f"one of {', '.join(choices)}", value)
        return choices[value]


def read_tuning(context: ContextReader) -> CaptureTuning:
    capture_stages = context.strings("captureStages", ("checks", "ready"), STAGE_PATTERN)
    if not capture_stages:
        raise ContextError("captureStages", "at least one stage", capture_stages)
    return CaptureTuning(
        screenshot_enabled=context.boolean("screenshotEnabled", default=True),
        capture_stages=capture_stages,
        attempt_budget_s=context.number(
            "attemptBudgetSeconds",
            15,
            minimum=patterns.MIN_ATTEMPT_BUDGET_S,
            maximum=patterns.MAX_ATTEMPT_BUDGET_S,
        ),
        blank_min_bytes=context.integer("blankMinBytes", 5120, minimum=0, maximum=10_000_000),
        blank_max_uniform_fraction=context.number(
            "blankMaxUniformFraction", 0.95, minimum=0.01, maximum=1
        ),
        blank_retry_delay_s=context.number("blankRetryDelaySeconds", 2, minimum=0, maximum=10),
        breaker_threshold=context.integer("breakerThreshold", 3, minimum=1, maximum=100),
        allowed_url_hosts=context.strings("allowedUrlHosts", (), HOST_GLOB_PATTERN),
        blank_policy=context.choice("blankPolicy", "pixels", BLANK_POLICIES),
    )


def read_sizing(context: ContextReader) -> FunctionSizing:
    return FunctionSizing(
        memory_size_mb=context.integer("memorySize", 2048, minimum=1024, maximum=10240),
        architecture=context.choice("architecture", "x86_64", ARCHITECTURES),
        reserved_concurrency=context.optional_integer(
            "reservedConcurrency", minimum=1, maximum=10_000
        ),
    )


def read_custom_domain(context: ContextReader) -> CustomDomain | None:
    domain_name = context.optional_string("domainName", DOMAIN_PATTERN)
    certificate_arn = context.optional_string("certificateArn", CERTIFICATE_ARN_PATTERN)
    if domain_name is None and certificate_arn is None:
        return None
    if domain_name is None:
        raise ContextError("domainName", "a value whenever certificateArn is set", None)
    if certificate_arn is None:
        raise ContextError("certificateArn", "a value whenever domainName is set", None)
    return CustomDomain(domain_name=domain_name, certificate_arn=certificate_arn)


def read_settings(node: Node) -> ServiceSettings:
    """The deployment's settings from context, defaults filled in, every value validated."""
    context = ContextReader(node)
    trigger_bus_name = context.optional_string("triggerEventBus", BUS_NAME_PATTERN) or "default"
    return ServiceSettings(
        tuning=read_tuning(context),
        sizing=read_sizing(context),
        trigger_bus_name=trigger_bus_name,
        trigger_source=context.string("triggerSource", "build-pipeline"),
        result_bus_name=(
            context.optional_string("resultEventBus", BUS_NAME_PATTERN) or trigger_bus_name
        ),
        expiration_days=context.optional_integer(
            "screenshotExpirationDays", minimum=1, maximum=36_500
        ),
        discarded_expiration_days=context.integer(
            "discardedExpirationDays", 7, minimum=1, maximum=365
        ),
        cors_allowed_origins=context.strings("corsAllowedOrigins", (), ORIGIN_PATTERN),
        custom_domain=read_custom_domain(context),
        alarm_topic_arn=context.optional_string("alarmTopicArn", TOPIC_ARN_PATTERN),
    )


def build_app(app: App) -> ScreenshotServiceStack:
    """Adds the configured stack to `app`, gated by the cdk-nag security checks."""
    stack = ScreenshotServiceStack(app, STACK_NAME, settings=read_settings(app.node))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return stack


def main() -> None:
    app = App()
    build_app(app)
    app.synth()


if __name__ == "__main__":
    main()
