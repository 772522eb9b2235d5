"""Settings from the environment: the design defaults, CSV lists, failures naming the variable."""

from __future__ import annotations

import pytest

from lambda_fn.config import Settings
from lambda_fn.errors import ConfigError

STORAGE = {"SCREENSHOTS_BUCKET": "preview-shots", "SCREENSHOTS_CDN_DOMAIN": "d123.cloudfront.net"}


def test_defaults_are_the_design_table() -> None:
    settings = Settings.from_env({})
    assert settings.screenshot_enabled is True
    assert settings.screenshots_bucket is None
    assert settings.screenshots_cdn_domain is None
    assert settings.capture_stages == ("checks", "ready")
    assert settings.state_table is None
    assert settings.result_bus is None
    assert settings.attempt_budget_s == 15
    assert settings.blank_min_bytes == 5120
    assert settings.blank_max_uniform_fraction == 0.95
    assert settings.blank_retry_delay_s == 2
    assert settings.blank_policy == "pixels"
    assert settings.breaker_threshold == 3
    assert settings.allowed_url_hosts == ()
    assert settings.allow_private_urls is False
    assert settings.chromium_executable is None
    assert settings.aws_region is None


def test_every_variable_is_read_by_its_name() -> None:
    settings = Settings.from_env(
        {
            "SCREENSHOT_ENABLED": "false",
            "SCREENSHOTS_BUCKET": "preview-shots",
            "SCREENSHOTS_CDN_DOMAIN": "d123.cloudfront.net",
            "CAPTURE_STAGES": "ready",
            "STATE_TABLE": "screenshot-state",
            "RESULT_BUS": "arn:aws:events:us-east-1:111122223333:event-bus/builds",
            "ATTEMPT_BUDGET_S": "12.5",
            "BLANK_MIN_BYTES": "4096",
            "BLANK_MAX_UNIFORM_FRACTION": "0.9",
            "BLANK_RETRY_DELAY_S": "0",
            "BLANK_POLICY": "content-aware",
            "BREAKER_THRESHOLD": "5",
            "ALLOWED_URL_HOSTS": "*.e2b.app",
            "ALLOW_PRIVATE_URLS": "true",
            "CHROMIUM_EXECUTABLE": "/usr/bin/chromium-headless-shell",
            "AWS_REGION": "eu-central-1",
        }
    )
    assert settings.model_dump() == {
        "screenshot_enabled": False,
        "screenshots_bucket": "preview-shots",
        "screenshots_cdn_domain": "d123.cloudfront.net",
        "capture_stages": ("ready",),
        "state_table": "screenshot-state",
        "result_bus": "arn:aws:events:us-east-1:111122223333:event-bus/builds",
        "attempt_budget_s": 12.5,
        "blank_min_bytes": 4096,
        "blank_max_uniform_fraction": 0.9,
        "blank_retry_delay_s": 0,
        "blank_policy": "content-aware",
        "breaker_threshold": 5,
        "allowed_url_hosts": ("*.e2b.app",),
        "allow_private_urls": True,
        "chromium_executable": "/usr/bin/chromium-headless-shell",
        "aws_region": "eu-central-1",
    }


def test_unrelated_environment_variables_are_ignored() -> None:
    settings = Settings.from_env({"PATH": "/usr/bin", "HOME": "/tmp", "screenshot_enabled": "no"})
    assert settings == Settings.from_env({})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("checks,ready", ("checks", "ready")),
        (" checks , ready ", ("checks", "ready")),
        ("ready,,deploy,", ("ready", "deploy")),
        ("ready", ("ready",)),
        ("", ()),
    ],
)
def test_capture_stages_is_a_comma_separated_list(value: str, expected: tuple[str, ...]) -> None:
    assert Settings.from_env({"CAPTURE_STAGES": value}).capture_stages == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("*.e2b.app", ("*.e2b.app",)),
        ("*.e2b.app, preview.example.com ,", ("*.e2b.app", "preview.example.com")),
        ("", ()),
    ],
)
def test_allowed_url_hosts_is_a_comma_separated_list(value: str, expected: tuple[str, ...]) -> None:
    assert Settings.from_env({"ALLOWED_URL_HOSTS": value}).allowed_url_hosts == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("false", False), ("0", False)]
)
def test_boolean_flags_accept_the_usual_spellings(value: str, expected: bool) -> None:
    settings = Settings.from_env({"SCREENSHOT_ENABLED": value, "ALLOW_PRIVATE_URLS": value})
    assert (settings.screenshot_enabled, settings.allow_private_urls) == (expected, expected)


@pytest.mark.parametrize(
    "variable",
    ["SCREENSHOTS_BUCKET", "SCREENSHOTS_CDN_DOMAIN", "STATE_TABLE", "RESULT_BUS", "AWS_REGION"],
)
def test_empty_optional_variable_counts_as_unset(variable: str) -> None:
    assert Settings.from_env({variable: ""}) == Settings.from_env({})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCREENSHOT_ENABLED", "maybe"),
        ("SCREENSHOTS_BUCKET", "ab"),
        ("SCREENSHOTS_CDN_DOMAIN", "https://d123.cloudfront.net"),
        ("SCREENSHOTS_CDN_DOMAIN", "d123.cloudfront.net/"),
        ("CAPTURE_STAGES", "checks,Ready"),
        ("CAPTURE_STAGES", "checks;ready"),
        ("STATE_TABLE", "ab"),
        ("ATTEMPT_BUDGET_S", "fifteen"),
        ("ATTEMPT_BUDGET_S", "0"),
        ("ATTEMPT_BUDGET_S", "nan"),
        ("ATTEMPT_BUDGET_S", "inf"),
        ("BLANK_MIN_BYTES", "-1"),
        ("BLANK_MIN_BYTES", "5k"),
        ("BLANK_MAX_UNIFORM_FRACTION", "0"),
        ("BLANK_MAX_UNIFORM_FRACTION", "1.5"),
        ("BLANK_MAX_UNIFORM_FRACTION", "95%"),
        ("BLANK_RETRY_DELAY_S", "-1"),
        ("BLANK_POLICY", "strict"),
        ("BREAKER_THRESHOLD", "0"),
        ("BREAKER_THRESHOLD", "2.5"),
        ("ALLOW_PRIVATE_URLS", "sometimes"),
        ("AWS_REGION", "Frankfurt"),
    ],
)
def test_invalid_variable_fails_with_a_message_naming_it(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable) as caught:
        Settings.from_env({**STORAGE, variable: value})
    assert caught.value.reason == "invalid_config"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCREENSHOTS_BUCKET", "Preview Shots!"),
        ("STATE_TABLE", "screenshot state!"),
        ("RESULT_BUS", "build results!"),
        ("ALLOWED_URL_HOSTS", "https://*.e2b.app/"),
    ],
)
def test_name_that_aws_or_the_url_guard_can_never_use_fails_at_cold_start(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({**STORAGE, variable: value})


def test_require_storage_names_the_missing_bucket() -> None:
    with pytest.raises(ConfigError, match="SCREENSHOTS_BUCKET"):
        Settings.from_env({}).require_storage()


def test_require_storage_names_the_missing_cdn_domain() -> None:
    settings = Settings.from_env({"SCREENSHOTS_BUCKET": "preview-shots"})
    with pytest.raises(ConfigError, match="SCREENSHOTS_CDN_DOMAIN") as caught:
        settings.require_storage()
    assert "SCREENSHOTS_BUCKET" not in str(caught.value)


def test_require_storage_treats_an_empty_bucket_as_missing() -> None:
    settings = Settings.from_env({**STORAGE, "SCREENSHOTS_BUCKET": ""})
    with pytest.raises(ConfigError, match="SCREENSHOTS_BUCKET"):
        settings.require_storage()


def test_require_storage_passes_when_both_are_set() -> None:
    Settings.from_env(STORAGE).require_storage()
