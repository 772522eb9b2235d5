"""cdk-nag gate: AwsSolutions and Serverless packs, zero unacknowledged findings.

Synthesis itself is the gate (an unacknowledged finding raises in `Template.from_stack`); these
tests pin which findings are acknowledged, that each carries a reason, and that none is stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from infra.app import build_app, read_settings
from infra.stack import ScreenshotServiceStack
from tests.infra.helpers import CUSTOM_CONTEXT, Synthesized, cdk_json_context

DLQ_REASON_RULES = {"AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"}
EXPECTED_ACKNOWLEDGEMENTS = {
    ("Storage/Bucket", "AwsSolutions-S1"),
    ("Cdn/Distribution", "AwsSolutions-CFR1"),
    ("Cdn/Distribution", "AwsSolutions-CFR2"),
    ("Cdn/Distribution", "AwsSolutions-CFR3"),
    ("Cdn/Distribution", "AwsSolutions-CFR4"),
    ("Capture/Role", "AwsSolutions-IAM5[Resource::*]"),
    ("Capture/Role", "AwsSolutions-IAM5[Resource::<ScreenshotsBucket.Arn>/screenshots/*]"),
    ("Capture/Role", "AwsSolutions-IAM5[Resource::<ScreenshotsBucket.Arn>/discarded/*]"),
    ("Capture/Function", "Serverless-LambdaDLQ"),
    *(("Capture/DeadLetterQueue", rule) for rule in DLQ_REASON_RULES),
    *(("Trigger/DeadLetterQueue", rule) for rule in DLQ_REASON_RULES),
}
# With a custom domain the viewer TLS policy is set, so CFR4 is not acknowledged there.
EXPECTED_WITH_CUSTOM_DOMAIN = EXPECTED_ACKNOWLEDGEMENTS - {
    ("Cdn/Distribution", "AwsSolutions-CFR4")
}


def acknowledgements(stack: Stack) -> dict[tuple[str, str], str]:
    """(construct path below the stack, rule id) -> reason, for every acknowledgement."""
    found: dict[tuple[str, str], str] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                continue
            path = construct.node.path.removeprefix(f"{stack.node.path}/")
            for qualified_id, reason in entry.data.items():
                found[(path, qualified_id.removeprefix("Annotation::"))] = reason
    return found


def raw_findings(context: dict[str, Any], outdir: Path) -> set[tuple[str, str]]:
    """(resource path below the stack, rule id) of every finding, acknowledged or not."""
    app = App(
        context={**cdk_json_context(), **context, "aws:cdk:disable-asset-staging": True},
        outdir=str(outdir),
    )
    stack = ScreenshotServiceStack(app, "Raw", settings=read_settings(app.node))
    return {
        (str(resource.construct_path).removeprefix("Raw/"), violation.rule_name)
        for pack in (AwsSolutionsChecks(), ServerlessChecks())
        for violation in pack.validate_scope(stack).violations
        for resource in violation.violating_resources
    }


@pytest.mark.parametrize("synth_name", ["default_synth", "custom_synth"])
def test_no_plugin_reports_a_violation(synth_name: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(synth_name)
    report = synth.read_json("validation-report.json")
    assert [plugin for plugin in report["pluginReports"] if plugin["conclusion"] != "success"] == []


def test_the_default_app_acknowledges_exactly_these_findings(
    default_synth: Synthesized,
) -> None:
    assert set(acknowledgements(default_synth.stack)) == EXPECTED_ACKNOWLEDGEMENTS


def test_the_custom_domain_app_acknowledges_exactly_these_findings(
    custom_synth: Synthesized,
) -> None:
    assert set(acknowledgements(custom_synth.stack)) == EXPECTED_WITH_CUSTOM_DOMAIN


def test_every_acknowledgement_gives_a_specific_reason(default_synth: Synthesized) -> None:
    for key, reason in acknowledgements(default_synth.stack).items():
        assert len(reason) >= 80, key


@pytest.mark.parametrize(
    ("context", "expected"),
    [({}, EXPECTED_ACKNOWLEDGEMENTS), (CUSTOM_CONTEXT, EXPECTED_WITH_CUSTOM_DOMAIN)],
    ids=["default", "custom"],
)
def test_every_acknowledgement_matches_a_real_finding(
    context: dict[str, Any],
    expected: set[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(Validations, "acknowledge", lambda self, *rules: None)
    findings = raw_findings(context, tmp_path)
    for construct_path, rule in expected:
        assert any(
            found_rule == rule and found_path.startswith(f"{construct_path}/")
            for found_path, found_rule in findings
        ), (construct_path, rule)
    assert {rule for _, rule in findings} == {rule for _, rule in expected}


def test_an_unacknowledged_finding_fails_the_synth(tmp_path: Path) -> None:
    app = App(context=cdk_json_context(), outdir=str(tmp_path))
    stack = build_app(app)
    sqs.Queue(stack, "QueueWithoutEncryptionOrTls", encryption=sqs.QueueEncryption.UNENCRYPTED)
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    assert "AwsSolutions-SQS2" in str(failure.value)
    assert "Serverless-SQSRedrivePolicy" in str(failure.value)
