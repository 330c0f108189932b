"""CloudWatch alarms shared by every pattern; all notify the stack's alarm topic.

A DLQ alarm fires on ONE message: Maximum of ApproximateNumberOfMessagesVisible
>= 1. "> 1" (a common mistake) stays silent while the first lost event sits in the DLQ.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import validation

__all__ = ["ALARM_SETTINGS", "AlarmArgs", "AlarmFactory", "validate_alarm_args"]


class AlarmArgs(TypedDict):
    """Where alarms go and how fast they react."""

    topic_arn: pulumi.Input[str]
    """SNS topic every alarm of the component notifies (alarm and OK actions)."""
    period: NotRequired[int]
    """Metric period in seconds."""
    evaluation_periods: NotRequired[int]
    """Periods evaluated, and datapoints that must breach."""
    dlq_threshold: NotRequired[int]
    """Messages in a DLQ that trip its alarm. Default and policy: 1 (fire on ONE message)."""


ALARM_SETTINGS = validation.Settings(
    AlarmArgs,
    period=validation.Setting(60, rule=validation.alarm_period),
    evaluation_periods=validation.Setting(1, 1, 100),
    dlq_threshold=validation.Setting(1, 1, 100_000),
)


def validate_alarm_args(component: str, alarms: AlarmArgs) -> AlarmArgs:
    validation.require(component, alarms, "topic_arn")
    ALARM_SETTINGS.check(component, alarms, prefix="alarms.")
    return alarms


class AlarmFactory:
    """Creates a component's alarms as its children and remembers role -> alarm name."""

    def __init__(self, parent: pulumi.Resource, name: str, args: AlarmArgs) -> None:
        self._parent = parent
        self._name = name
        self._args = args
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}

    @property
    def period(self) -> int:
        return ALARM_SETTINGS.value(self._args, "period")

    @property
    def evaluation_periods(self) -> int:
        return ALARM_SETTINGS.value(self._args, "evaluation_periods")

    def metric(
        self,
        role: str,
        *,
        namespace: str,
        metric_name: str,
        dimensions: dict[str, pulumi.Input[str]],
        statistic: str = "Sum",
        threshold: float = 1,
        description: str,
    ) -> aws.cloudwatch.MetricAlarm:
        if role in self.alarms:
            raise ValueError(f"{self._name}: alarm role {role!r} created twice")
        topic = self._args["topic_arn"]
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{role.replace('_', '-')}-alarm",
            namespace=namespace,
            metric_name=metric_name,
            dimensions=dimensions,
            statistic=statistic,
            period=self.period,
            evaluation_periods=self.evaluation_periods,
            datapoints_to_alarm=self.evaluation_periods,
            threshold=threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            # No datapoints means nothing happened (an idle queue stops reporting after 6 h).
            treat_missing_data="notBreaching",
            alarm_actions=[topic],
            ok_actions=[topic],
            alarm_description=description,
            opts=pulumi.ResourceOptions(parent=self._parent),
        )
        self.alarms[role] = alarm
        return alarm

    def dlq(self, role: str, queue: aws.sqs.Queue, what: str) -> aws.cloudwatch.MetricAlarm:
        return self.metric(
            role,
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": queue.name},
            statistic="Maximum",
            threshold=ALARM_SETTINGS.value(self._args, "dlq_threshold"),
            description=f"{what}: a message is in the dead-letter queue (fires on one)",
        )

    def queue_age(
        self, role: str, queue: aws.sqs.Queue, seconds: int
    ) -> aws.cloudwatch.MetricAlarm:
        return self.metric(
            role,
            namespace="AWS/SQS",
            metric_name="ApproximateAgeOfOldestMessage",
            dimensions={"QueueName": queue.name},
            statistic="Maximum",
            threshold=seconds,
            description=f"oldest message older than {seconds} s: the consumer is not keeping up",
        )

    def function(
        self,
        role: str,
        function: aws.lambda_.Function,
        metric_name: str,
        *,
        threshold: float = 1,
        statistic: str = "Sum",
    ) -> aws.cloudwatch.MetricAlarm:
        return self.metric(
            role,
            namespace="AWS/Lambda",
            metric_name=metric_name,
            dimensions={"FunctionName": function.name},
            statistic=statistic,
            threshold=threshold,
            description=f"{metric_name} of the function >= {threshold}",
        )

    def errors_and_throttles(self, prefix: str, function: aws.lambda_.Function) -> None:
        sep = "_" if prefix else ""
        self.function(f"{prefix}{sep}errors", function, "Errors")
        self.function(f"{prefix}{sep}throttles", function, "Throttles")

    def names(self) -> dict[str, pulumi.Output[str]]:
        return {role: alarm.name for role, alarm in self.alarms.items()}
