"""Alarms on every failure path (optionally to SNS) and the outputs the pipeline team reads."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

from tests.infra.helpers import TOPIC_ARN, get_att, logical_id, properties, ref

ALARM = "AWS::CloudWatch::Alarm"


def alarms(template: Template) -> list[dict[str, Any]]:
    return [alarm["Properties"] for alarm in template.find_resources(ALARM).values()]


def alarm_on(template: Template, namespace: str, metric: str) -> list[dict[str, Any]]:
    return [
        alarm
        for alarm in alarms(template)
        if alarm["Namespace"] == namespace and alarm["MetricName"] == metric
    ]


def test_four_alarms_each_fire_on_the_first_datum_above_zero(template: Template) -> None:
    assert len(alarms(template)) == 4
    for alarm in alarms(template):
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["EvaluationPeriods"] == 1
        assert alarm["Period"] == 300
        assert alarm["TreatMissingData"] == "notBreaching"


def test_function_errors_and_throttles_are_alarmed(template: Template) -> None:
    function_dimension = [
        {"Name": "FunctionName", "Value": ref(logical_id(template, "AWS::Lambda::Function"))}
    ]
    for metric in ("Errors", "Throttles"):
        (alarm,) = alarm_on(template, "AWS/Lambda", metric)
        assert alarm["Dimensions"] == function_dimension
        assert alarm["Statistic"] == "Sum"


def test_both_dead_letter_queues_have_a_depth_alarm(template: Template) -> None:
    depth = alarm_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    queues = sorted(template.find_resources("AWS::SQS::Queue"))
    assert len(queues) == 2
    assert sorted(alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for alarm in depth) == queues
    assert {alarm["Statistic"] for alarm in depth} == {"Maximum"}


def test_no_alarm_actions_without_a_topic(template: Template) -> None:
    assert all("AlarmActions" not in alarm for alarm in alarms(template))


def test_every_alarm_notifies_the_configured_topic(custom_template: Template) -> None:
    assert [alarm["AlarmActions"] for alarm in alarms(custom_template)] == [[TOPIC_ARN]] * 4


def test_outputs_name_everything_the_pipeline_and_operators_need(template: Template) -> None:
    distribution = logical_id(template, "AWS::CloudFront::Distribution")
    function = logical_id(template, "AWS::Lambda::Function")
    (trigger_target,) = properties(template, "AWS::Events::Rule")["Targets"]
    trigger_dlq = trigger_target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    function_dlq = properties(template, "AWS::Lambda::EventInvokeConfig")["DestinationConfig"][
        "OnFailure"
    ]["Destination"]["Fn::GetAtt"][0]
    outputs = {name: output["Value"] for name, output in template.find_outputs("*").items()}
    assert outputs == {
        "BucketName": ref("ScreenshotsBucket"),
        "DistributionDomainName": get_att(distribution, "DomainName"),
        "SnapshotDomain": get_att(distribution, "DomainName"),
        "FunctionName": ref(function),
        "FunctionArn": get_att(function, "Arn"),
        "StateTableName": ref(logical_id(template, "AWS::DynamoDB::Table")),
        "FunctionDeadLetterQueueUrl": ref(function_dlq),
        "TriggerDeadLetterQueueUrl": ref(trigger_dlq),
    }


def test_every_output_is_described(template: Template) -> None:
    assert all(output["Description"] for output in template.find_outputs("*").values())


def test_snapshot_domain_is_the_custom_domain_when_set(custom_template: Template) -> None:
    assert custom_template.find_outputs("SnapshotDomain")["SnapshotDomain"]["Value"] == (
        "shots.example.com"
    )
