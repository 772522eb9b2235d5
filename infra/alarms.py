"""Alarms for the failure paths: function errors and throttles, events in a dead-letter queue."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

PERIOD = Duration.minutes(5)


class ServiceAlarms(Construct):
    """One alarm per failure path, each notifying the optional SNS topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        topic_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        # The handler turns every capture failure into a result, so an error is a crash.
        self.alarms = [
            self._alarm(
                "FunctionErrors",
                function.metric_errors(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                "The capture function raised instead of returning a result",
            ),
            self._alarm(
                "FunctionThrottles",
                function.metric_throttles(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                "Capture invocations were throttled (reserved or account concurrency)",
            ),
        ]
        self.alarms += [
            self._alarm(
                f"{name}Depth",
                queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM
                ),
                f"Events are waiting in the {name} dead-letter queue",
            )
            for name, queue in dead_letter_queues.items()
        ]
        if topic_arn is not None:
            topic = sns.Topic.from_topic_arn(self, "Topic", topic_arn)
            for alarm in self.alarms:
                alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))

    def _alarm(
        self, construct_id: str, metric: cloudwatch.Metric, description: str
    ) -> cloudwatch.Alarm:
        """Alarm as soon as one datum is above zero; no data means nothing happened."""
        return metric.create_alarm(
            self,
            construct_id,
            alarm_description=description,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
