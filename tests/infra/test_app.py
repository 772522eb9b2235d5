"""infra.app: context values, their defaults and validation, and a synth with nothing external."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk import aws_lambda as lambda_

from infra.app import STACK_NAME, ContextError, read_settings
from infra.stack import ScreenshotServiceStack, ServiceSettings
from lambda_fn.config import Settings
from tests.infra.helpers import CERTIFICATE_ARN, REPO_ROOT, cdk_json_context


def settings(context: dict[str, Any]) -> ServiceSettings:
    return read_settings(App(context=context).node)


def test_defaults_are_design_md_defaults() -> None:
    tuning = settings({}).tuning
    assert tuning.screenshot_enabled is True
    assert tuning.capture_stages == ("checks", "ready")
    assert tuning.attempt_budget_s == 15
    assert tuning.blank_min_bytes == 5120
    assert tuning.blank_max_uniform_fraction == 0.95
    assert tuning.blank_retry_delay_s == 2
    assert tuning.breaker_threshold == 3
    assert tuning.allowed_url_hosts == ()
    assert tuning.blank_policy == "pixels"


def test_deployment_defaults() -> None:
    defaults = settings({})
    assert defaults.sizing.memory_size_mb == 2048
    assert defaults.sizing.architecture.name == lambda_.Architecture.X86_64.name
    assert defaults.sizing.reserved_concurrency is None
    assert (defaults.trigger_bus_name, defaults.result_bus_name) == ("default", "default")
    assert defaults.trigger_source == "build-pipeline"
    assert defaults.expiration_days is None
    assert defaults.discarded_expiration_days == 7
    assert defaults.cors_allowed_origins == ()
    assert defaults.custom_domain is None
    assert defaults.alarm_topic_arn is None


def test_results_go_to_the_trigger_bus_unless_told_otherwise() -> None:
    assert settings({"triggerEventBus": "builds"}).result_bus_name == "builds"


def test_json_values_from_cdk_json_are_accepted() -> None:
    configured = settings(
        {"captureStages": ["ready"], "screenshotEnabled": False, "memorySize": 4096}
    )
    assert configured.tuning.capture_stages == ("ready",)
    assert configured.tuning.screenshot_enabled is False
    assert configured.sizing.memory_size_mb == 4096


def test_an_empty_value_means_the_default() -> None:
    assert settings({"alarmTopicArn": "", "memorySize": ""}).sizing.memory_size_mb == 2048


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("screenshotEnabled", "maybe"),
        ("captureStages", "Ready"),
        ("captureStages", ","),
        ("captureStages", "ready/../x"),
        ("architecture", "x86"),
        ("memorySize", "512"),
        ("memorySize", "2GB"),
        ("reservedConcurrency", "0"),
        ("attemptBudgetSeconds", "fast"),
        ("blankMaxUniformFraction", "1.5"),
        ("blankMinBytes", True),
        ("screenshotExpirationDays", "-1"),
        ("discardedExpirationDays", "0"),
        ("blankPolicy", "smart"),
        ("allowedUrlHosts", "https://x.example.com"),
        ("allowedUrlHosts", "a_b.example.com"),
        ("allowedUrlHosts", "\u00e9t\u00e9.example.com"),
        ("corsAllowedOrigins", "*"),
        ("corsAllowedOrigins", "https://app.example.com/path"),
        ("alarmTopicArn", "ops-alarms"),
        ("triggerEventBus", "arn:aws:events:eu-west-1:123456789012:event-bus/builds"),
    ],
)
def test_an_invalid_value_fails_naming_its_key(key: str, value: object) -> None:
    with pytest.raises(ContextError, match=f"'{key}'"):
        settings({key: value})


def test_the_edges_the_app_accepts_the_function_accepts_too() -> None:
    tuning = settings(
        {"attemptBudgetSeconds": "1", "allowedUrlHosts": "*.e2b.app,a[0-9]?.dev"}
    ).tuning
    function = Settings.from_env(
        {
            "ATTEMPT_BUDGET_S": f"{tuning.attempt_budget_s:g}",
            "ALLOWED_URL_HOSTS": ",".join(tuning.allowed_url_hosts),
        }
    )
    assert function.attempt_budget_s == 1
    assert function.allowed_url_hosts == ("*.e2b.app", "a[0-9]?.dev")


def test_a_certificate_outside_us_east_1_is_refused() -> None:
    elsewhere = CERTIFICATE_ARN.replace("us-east-1", "eu-west-1")
    with pytest.raises(ContextError, match="'certificateArn'"):
        settings({"domainName": "shots.example.com", "certificateArn": elsewhere})


@pytest.mark.parametrize(
    ("given", "missing"),
    [("domainName", "certificateArn"), ("certificateArn", "domainName")],
)
def test_domain_and_certificate_come_together(given: str, missing: str) -> None:
    value = {"domainName": "shots.example.com", "certificateArn": CERTIFICATE_ARN}[given]
    with pytest.raises(ContextError, match=f"'{missing}'"):
        settings({given: value})


def test_attempts_that_do_not_fit_the_function_timeout_are_refused() -> None:
    app = App(context={"attemptBudgetSeconds": "25"})
    with pytest.raises(ValueError, match="function timeout"):
        ScreenshotServiceStack(app, STACK_NAME, settings=read_settings(app.node))


def test_the_app_synthesizes_without_credentials_docker_or_lookups(tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    environment = {
        "PATH": os.environ["PATH"],
        # jsii keeps its unpacked-package cache under HOME; credentials are pointed away below.
        "HOME": os.environ["HOME"],
        # What the CDK CLI hands the app: the output directory and cdk.json's context.
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps(cdk_json_context()),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "DOCKER_HOST": f"unix://{tmp_path / 'no-docker.sock'}",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, "-m", "infra.app"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert (outdir / f"{STACK_NAME}.template.json").is_file()
    assert "missing" not in manifest
