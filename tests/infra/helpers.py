"""Synthesis and small template readers shared by the infra tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from infra.app import build_app

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = REPO_ROOT / "cdk.json"
CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
)
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:screenshot-alarms"

# Every context key set to a non-default value, as strings, the way `cdk deploy -c` passes them.
CUSTOM_CONTEXT = {
    "screenshotEnabled": "false",
    "captureStages": "deps,ready",
    "allowedUrlHosts": "*.e2b.app,preview.example.com",
    "attemptBudgetSeconds": "12",
    "blankMinBytes": "4096",
    "blankMaxUniformFraction": "0.9",
    "blankRetryDelaySeconds": "1.5",
    "breakerThreshold": "5",
    "memorySize": "3008",
    "architecture": "arm64",
    "reservedConcurrency": "25",
    "triggerEventBus": "builds",
    "triggerSource": "app-generator.pipeline",
    "resultEventBus": "screenshot-results",
    "screenshotExpirationDays": "90",
    "discardedExpirationDays": "3",
    "blankPolicy": "content-aware",
    "corsAllowedOrigins": "https://app.example.com,https://admin.example.com",
    "domainName": "shots.example.com",
    "certificateArn": CERTIFICATE_ARN,
    "alarmTopicArn": TOPIC_ARN,
}


@dataclass(frozen=True)
class Synthesized:
    """A synthesized app: its stack, the stack's template and the cloud assembly directory."""

    stack: Stack
    template: Template
    outdir: Path

    @property
    def template_path(self) -> Path:
        return self.outdir / self.stack.template_file

    def read_json(self, name: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.outdir / name).read_text())
        return document


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


def synthesize(context: dict[str, Any], outdir: Path) -> Synthesized:
    """What `cdk synth` does: cdk.json context, then `-c` values, then `build_app`.

    The cdk-nag packs run as validation plugins: an unacknowledged finding raises here.
    """
    app = App(context={**cdk_json_context(), **context}, outdir=str(outdir))
    stack = build_app(app)
    return Synthesized(stack=stack, template=Template.from_stack(stack), outdir=outdir)


def single_resource(template: Template, resource_type: str) -> tuple[str, Mapping[str, Any]]:
    """The logical ID and definition of the only resource of `resource_type`."""
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, f"expected one {resource_type}, found {sorted(resources)}"
    ((resource_id, resource),) = resources.items()
    return resource_id, resource


def properties(template: Template, resource_type: str) -> dict[str, Any]:
    props: dict[str, Any] = single_resource(template, resource_type)[1]["Properties"]
    return props


def logical_id(template: Template, resource_type: str) -> str:
    return single_resource(template, resource_type)[0]


def get_att(resource_id: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource_id, attribute]}


def ref(resource_id: str) -> dict[str, str]:
    return {"Ref": resource_id}
