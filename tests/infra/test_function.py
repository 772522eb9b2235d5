"""The capture function: container image, sizing, logs, environment, async failure path."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.infra.helpers import Synthesized, get_att, logical_id, properties, ref

FUNCTION = "AWS::Lambda::Function"
INVOKE_CONFIG = "AWS::Lambda::EventInvokeConfig"


def image_asset(synth: Synthesized) -> dict[str, Any]:
    manifest = synth.read_json(f"{synth.stack.artifact_id}.assets.json")
    ((_, image),) = manifest["dockerImages"].items()
    source: dict[str, Any] = image["source"]
    return source


def test_the_function_is_a_container_image(template: Template) -> None:
    function = properties(template, FUNCTION)
    assert function["PackageType"] == "Image"
    assert "Fn::Sub" in function["Code"]["ImageUri"]
    assert "Runtime" not in function
    assert "Handler" not in function


def test_the_image_is_built_from_dockerfile_lambda_for_x86_64(
    default_synth: Synthesized,
) -> None:
    source = image_asset(default_synth)
    assert source["dockerFile"] == "Dockerfile.lambda"
    assert source["platform"] == "linux/amd64"


def test_the_build_context_is_the_repository_root(default_synth: Synthesized) -> None:
    staged = default_synth.outdir / image_asset(default_synth)["directory"]
    assert (staged / "Dockerfile.lambda").is_file()
    assert (staged / "lambda_fn").is_dir()


def test_default_sizing(template: Template) -> None:
    function = properties(template, FUNCTION)
    assert function["MemorySize"] == 2048
    assert function["Timeout"] == 60
    assert function["EphemeralStorage"] == {"Size": 1024}
    assert function["Architectures"] == ["x86_64"]
    assert "ReservedConcurrentExecutions" not in function


def test_sizing_follows_the_context(custom_synth: Synthesized) -> None:
    function = properties(custom_synth.template, FUNCTION)
    assert function["MemorySize"] == 3008
    assert function["Architectures"] == ["arm64"]
    assert function["ReservedConcurrentExecutions"] == 25
    assert image_asset(custom_synth)["platform"] == "linux/arm64"


def test_tracing_is_active(template: Template) -> None:
    assert properties(template, FUNCTION)["TracingConfig"] == {"Mode": "Active"}


def test_logs_go_to_a_log_group_with_a_retention(template: Template) -> None:
    assert properties(template, "AWS::Logs::LogGroup")["RetentionInDays"] == 30
    assert properties(template, FUNCTION)["LoggingConfig"] == {
        "LogGroup": ref(logical_id(template, "AWS::Logs::LogGroup"))
    }


def test_every_configuration_variable_is_wired_with_its_default(template: Template) -> None:
    assert properties(template, FUNCTION)["Environment"]["Variables"] == {
        "SCREENSHOT_ENABLED": "true",
        "SCREENSHOTS_BUCKET": ref("ScreenshotsBucket"),
        "SCREENSHOTS_CDN_DOMAIN": get_att(
            logical_id(template, "AWS::CloudFront::Distribution"), "DomainName"
        ),
        "CAPTURE_STAGES": "checks,ready",
        "STATE_TABLE": ref(logical_id(template, "AWS::DynamoDB::Table")),
        "RESULT_BUS": "default",
        "ATTEMPT_BUDGET_S": "15",
        "BLANK_MIN_BYTES": "5120",
        "BLANK_MAX_UNIFORM_FRACTION": "0.95",
        "BLANK_RETRY_DELAY_S": "2",
        "BLANK_POLICY": "pixels",
        "BREAKER_THRESHOLD": "3",
        "ALLOWED_URL_HOSTS": "",
        "ALLOW_PRIVATE_URLS": "false",
        "HOME": "/tmp",
        "POWERTOOLS_SERVICE_NAME": "screenshot-service",
        "POWERTOOLS_METRICS_NAMESPACE": "PreviewScreenshots",
    }


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCREENSHOT_ENABLED", "false"),
        ("SCREENSHOTS_CDN_DOMAIN", "shots.example.com"),
        ("CAPTURE_STAGES", "deps,ready"),
        ("RESULT_BUS", "screenshot-results"),
        ("ATTEMPT_BUDGET_S", "12"),
        ("BLANK_MIN_BYTES", "4096"),
        ("BLANK_MAX_UNIFORM_FRACTION", "0.9"),
        ("BLANK_RETRY_DELAY_S", "1.5"),
        ("BLANK_POLICY", "content-aware"),
        ("BREAKER_THRESHOLD", "5"),
        ("ALLOWED_URL_HOSTS", "*.e2b.app,preview.example.com"),
        ("ALLOW_PRIVATE_URLS", "false"),
    ],
)
def test_configuration_variables_follow_the_context(
    custom_template: Template, variable: str, value: str
) -> None:
    assert properties(custom_template, FUNCTION)["Environment"]["Variables"][variable] == value


def test_lambda_does_not_retry_async_invocations(template: Template) -> None:
    config = properties(template, INVOKE_CONFIG)
    assert config["MaximumRetryAttempts"] == 0
    assert config["Qualifier"] == "$LATEST"
    assert config["FunctionName"] == ref(logical_id(template, FUNCTION))


def test_async_events_expire_after_fifteen_minutes(template: Template) -> None:
    assert properties(template, INVOKE_CONFIG)["MaximumEventAgeInSeconds"] == 900


def test_failed_async_invocations_go_to_an_encrypted_tls_only_queue(template: Template) -> None:
    destination = properties(template, INVOKE_CONFIG)["DestinationConfig"]
    queue_id = destination["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert destination == {"OnFailure": {"Destination": get_att(queue_id, "Arn")}}
    queue = template.find_resources("AWS::SQS::Queue")[queue_id]["Properties"]
    assert queue == {"MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True}
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [ref(queue_id)],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": "sqs:*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        "Effect": "Deny",
                        "Principal": {"AWS": "*"},
                        "Resource": get_att(queue_id, "Arn"),
                    }
                ]
            },
        },
    )
