"""The EventBridge rule: capture stages only, on the configured bus and source, with a DLQ."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk.assertions import Template

from tests.infra.helpers import get_att, logical_id, properties, ref

RULE = "AWS::Events::Rule"


def test_the_rule_matches_build_stage_completed_for_capture_stages_only(
    template: Template,
) -> None:
    assert properties(template, RULE)["EventPattern"] == {
        "source": ["build-pipeline"],
        "detail-type": ["Build Stage Completed"],
        "detail": {"stage": ["checks", "ready"]},
    }


def test_the_rule_listens_on_the_default_bus_by_default(template: Template) -> None:
    rule = properties(template, RULE)
    assert rule["EventBusName"] == "default"
    assert rule["State"] == "ENABLED"


def test_bus_source_and_stages_follow_the_context(custom_template: Template) -> None:
    rule = properties(custom_template, RULE)
    assert rule["EventBusName"] == "builds"
    assert rule["EventPattern"] == {
        "source": ["app-generator.pipeline"],
        "detail-type": ["Build Stage Completed"],
        "detail": {"stage": ["deps", "ready"]},
    }


def test_the_target_is_the_function_with_its_own_dlq_and_retry_policy(
    template: Template,
) -> None:
    (target,) = properties(template, RULE)["Targets"]
    function_dlq = properties(template, "AWS::Lambda::EventInvokeConfig")["DestinationConfig"][
        "OnFailure"
    ]["Destination"]
    assert target["Arn"] == get_att(logical_id(template, "AWS::Lambda::Function"), "Arn")
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 900, "MaximumRetryAttempts": 4}
    assert target["DeadLetterConfig"]["Arn"] != function_dlq
    trigger_dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    queue = template.find_resources("AWS::SQS::Queue")[trigger_dlq]["Properties"]
    assert queue == {"MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True}


def test_only_this_rule_may_invoke_the_function(template: Template) -> None:
    assert properties(template, "AWS::Lambda::Permission") == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": get_att(logical_id(template, "AWS::Lambda::Function"), "Arn"),
        "Principal": "events.amazonaws.com",
        "SourceArn": get_att(logical_id(template, RULE), "Arn"),
    }


def test_eventbridge_may_deliver_to_the_trigger_dlq_and_only_over_tls(
    template: Template,
) -> None:
    (target,) = properties(template, RULE)["Targets"]
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    (policy,) = [
        policy["Properties"]
        for policy in template.find_resources("AWS::SQS::QueuePolicy").values()
        if policy["Properties"]["Queues"] == [ref(queue_id)]
    ]
    without_sids = [
        {key: value for key, value in statement.items() if key != "Sid"}
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert without_sids == [
        {
            "Action": "sqs:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": get_att(queue_id, "Arn"),
        },
        {
            "Action": "sqs:SendMessage",
            "Condition": {
                "ArnEquals": {"aws:SourceArn": get_att(logical_id(template, RULE), "Arn")}
            },
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Resource": get_att(queue_id, "Arn"),
        },
    ]


def test_the_sample_pipeline_event_matches_the_rule(template: Template) -> None:
    event = json.loads((Path(__file__).parents[2] / "events" / "eventbridge.json").read_text())
    pattern = properties(template, RULE)["EventPattern"]
    assert event["source"] in pattern["source"]
    assert event["detail-type"] in pattern["detail-type"]
    assert event["detail"]["stage"] in pattern["detail"]["stage"]
