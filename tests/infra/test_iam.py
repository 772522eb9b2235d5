"""Least privilege: the function's role grants exactly these actions on exactly these resources."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template

from tests.infra.helpers import get_att, logical_id, properties, ref


def statements(template: Template) -> list[dict[str, Any]]:
    document = properties(template, "AWS::IAM::Policy")["PolicyDocument"]
    found: list[dict[str, Any]] = document["Statement"]
    return found


def bus_arn(bus_name: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                ref("AWS::Partition"),
                ":events:",
                ref("AWS::Region"),
                ":",
                ref("AWS::AccountId"),
                f":event-bus/{bus_name}",
            ],
        ]
    }


def function_dlq(template: Template) -> str:
    destination = properties(template, "AWS::Lambda::EventInvokeConfig")["DestinationConfig"]
    queue_id: str = destination["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    return queue_id


def test_one_role_trusted_by_lambda_alone_with_no_managed_policies(template: Template) -> None:
    role_id = logical_id(template, "AWS::IAM::Role")
    assert properties(template, "AWS::IAM::Role")["AssumeRolePolicyDocument"] == {
        "Statement": [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
            }
        ],
        "Version": "2012-10-17",
    }
    assert "ManagedPolicyArns" not in properties(template, "AWS::IAM::Role")
    assert properties(template, "AWS::IAM::Policy")["Roles"] == [ref(role_id)]
    assert properties(template, "AWS::Lambda::Function")["Role"] == get_att(role_id, "Arn")


def test_the_role_policy_is_exactly_the_needed_grants(template: Template) -> None:
    expected = [
        {
            "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            "Effect": "Allow",
            "Resource": "*",
        },
        {
            "Action": ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],
            "Effect": "Allow",
            "Resource": get_att(function_dlq(template), "Arn"),
        },
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": get_att(logical_id(template, "AWS::Logs::LogGroup"), "Arn"),
        },
        {
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [get_att("ScreenshotsBucket", "Arn"), "/screenshots/*"]]},
        },
        {
            "Action": "s3:PutObject",
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [get_att("ScreenshotsBucket", "Arn"), "/discarded/*"]]},
        },
        {
            "Action": [
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
            "Effect": "Allow",
            "Resource": get_att(logical_id(template, "AWS::DynamoDB::Table"), "Arn"),
        },
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": bus_arn("default")},
    ]
    assert sorted(map(json.dumps, statements(template))) == sorted(map(json.dumps, expected))


def test_s3_grant_is_get_and_put_object_alone(template: Template) -> None:
    s3_actions = {
        action
        for statement in statements(template)
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if action.startswith("s3:")
    }
    assert s3_actions == {"s3:GetObject", "s3:PutObject"}


def test_only_the_xray_actions_are_granted_on_every_resource(template: Template) -> None:
    unscoped = [statement for statement in statements(template) if statement["Resource"] == "*"]
    assert [statement["Action"] for statement in unscoped] == [
        ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    ]


def test_put_events_is_granted_on_the_configured_result_bus(custom_template: Template) -> None:
    (grant,) = [
        statement
        for statement in statements(custom_template)
        if statement["Action"] == "events:PutEvents"
    ]
    assert grant["Resource"] == bus_arn("screenshot-results")
