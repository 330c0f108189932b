"""AsyncFunction: SNS (or a direct async invoke) -> Lambda, with every async safety net.

Function errors are retried MaximumRetryAttempts times; then the event goes to the
OnFailure destination (a record with requestContext.condition) AND the function's
DLQ (the original event with RequestID/ErrorCode/ErrorMessage). Messages SNS itself
cannot deliver go to the subscription's own DLQ.
"""

from __future__ import annotations

from typing import NotRequired

import pulumi
import pulumi_aws as aws

from components import contract, queues, validation
from components import outputs as keys
from components.alarms import AlarmArgs, AlarmFactory, validate_alarm_args
from components.function import (
    FunctionArgs,
    LambdaFunction,
    LedgerArgs,
    statement,
    validate_function_args,
)

__all__ = [
    "ASYNC_SETTINGS",
    "SETTINGS",
    "AsyncFunction",
    "AsyncFunctionArgs",
    "async_invoke_config",
    "validate",
]

NAME = "AsyncFunction"
SNS_KMS_KEY = "alias/aws/sns"


class AsyncFunctionArgs(contract.InstanceArgs):
    """SNS topic -> Lambda (async), with retries, max event age, DLQ and OnFailure destination."""

    function: FunctionArgs
    """The worker (handler functions.async_worker.handler.handler)."""
    ledger: LedgerArgs
    """The stack's ledger and idempotency tables."""
    ledger_pattern: NotRequired[str]
    """LEDGER_PATTERN of the function."""
    alarms: AlarmArgs
    """Alarm topic and timing."""
    maximum_retry_attempts: NotRequired[int]
    """Retries after a function error."""
    maximum_event_age: NotRequired[int]
    """Seconds an event may wait (throttles, retries)."""
    dead_letter_queue: NotRequired[bool]
    """Function DLQ (DeadLetterConfig)."""
    on_failure_destination: NotRequired[bool]
    """OnFailure destination queue. With neither, failed events are dropped."""
    dlq_retention: NotRequired[int]
    """Retention of the DLQs, seconds (default 14 days)."""


# Every async-invoked function's settings (AsyncFunction, RideRecords, direct delivery):
# Lambda's own maxima, 2 retries and 6 hours.
ASYNC_SETTINGS = {
    "maximum_retry_attempts": validation.Setting(2, 0, 2),
    "maximum_event_age": validation.Setting(21_600, 60, 21_600),
    "dlq_retention": queues.retention(),
}
SETTINGS = validation.Settings(
    AsyncFunctionArgs,
    **ASYNC_SETTINGS,
    dead_letter_queue=validation.Setting(True),
    on_failure_destination=validation.Setting(True),
)


def validate(args: AsyncFunctionArgs) -> AsyncFunctionArgs:
    for field in ("function", "ledger", "alarms"):
        validation.require(NAME, args, field)
    validate_function_args(NAME, "function", args["function"])
    validate_alarm_args(NAME, args["alarms"])
    SETTINGS.check(NAME, args)
    return args


def async_invoke_config(
    parent: pulumi.Resource,
    name: str,
    fn: LambdaFunction,
    *,
    maximum_retry_attempts: int,
    maximum_event_age: int,
    on_failure: aws.sqs.Queue | None,
) -> aws.lambda_.FunctionEventInvokeConfig:
    extra = {}
    if on_failure is not None:
        extra["destination_config"] = aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
            on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                destination=on_failure.arn
            )
        )
    return aws.lambda_.FunctionEventInvokeConfig(
        f"{name}-invoke-config",
        function_name=fn.function.name,
        maximum_retry_attempts=maximum_retry_attempts,
        maximum_event_age_in_seconds=maximum_event_age,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=fn.ready),
        **extra,
    )


def sns_to_lambda(
    parent: pulumi.Resource,
    name: str,
    topic: aws.sns.Topic,
    fn: LambdaFunction,
    subscription_dlq: aws.sqs.Queue,
) -> aws.sns.TopicSubscription:
    """Subscribe a function to a topic; SNS's own delivery failures go to subscription_dlq."""
    queues.allow_services_to_send(
        parent,
        f"{name}-subscription-dlq-policy",
        subscription_dlq,
        [("sns.amazonaws.com", topic.arn)],
    )
    permission = aws.lambda_.Permission(
        f"{name}-sns-permission",
        action="lambda:InvokeFunction",
        function=fn.function.name,
        principal="sns.amazonaws.com",
        source_arn=topic.arn,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return aws.sns.TopicSubscription(
        f"{name}-subscription",
        topic=topic.arn,
        protocol="lambda",
        endpoint=fn.function.arn,
        redrive_policy=pulumi.Output.json_dumps({"deadLetterTargetArn": subscription_dlq.arn}),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[permission]),
    )


class AsyncFunction(contract.PatternComponent):
    """SNS topic -> async Lambda with DLQ, OnFailure destination and a subscription DLQ."""

    def __init__(
        self, name: str, args: AsyncFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ):
        validate(args)
        super().__init__(NAME, name, args, opts)
        retention = SETTINGS.value(args, "dlq_retention")
        self.maximum_retry_attempts = SETTINGS.value(args, "maximum_retry_attempts")
        self.maximum_event_age = SETTINGS.value(args, "maximum_event_age")
        self.topic = aws.sns.Topic(
            f"{name}-topic", kms_master_key_id=SNS_KMS_KEY, opts=pulumi.ResourceOptions(parent=self)
        )
        self.subscription_dlq = queues.dead_letter_queue(
            self, f"{name}-subscription-dlq", retention=retention
        )
        self.dlq = (
            queues.dead_letter_queue(self, f"{name}-dlq", retention=retention)
            if SETTINGS.value(args, "dead_letter_queue")
            else None
        )
        self.on_failure = (
            queues.dead_letter_queue(self, f"{name}-on-failure", retention=retention)
            if SETTINGS.value(args, "on_failure_destination")
            else None
        )
        send_to = [q.arn for q in (self.dlq, self.on_failure) if q is not None]
        self.worker = LambdaFunction(
            self,
            f"{name}-worker",
            args["function"],
            ledger=args["ledger"],
            ledger_pattern=self.ledger_pattern,
            statements=[statement(["sqs:SendMessage"], send_to)] if send_to else [],
            dead_letter_arn=self.dlq.arn if self.dlq else None,
        )
        self.invoke_config = async_invoke_config(
            self,
            name,
            self.worker,
            maximum_retry_attempts=self.maximum_retry_attempts,
            maximum_event_age=self.maximum_event_age,
            on_failure=self.on_failure,
        )
        self.subscription = sns_to_lambda(
            self, name, self.topic, self.worker, self.subscription_dlq
        )
        self.alarm_factory = AlarmFactory(self, name, args["alarms"])
        self.alarm_factory.dlq(
            "subscription_dlq", self.subscription_dlq, f"{name}: SNS subscription DLQ"
        )
        if self.dlq is not None:
            self.alarm_factory.dlq("dlq", self.dlq, f"{name}: function DLQ")
        if self.on_failure is not None:
            self.alarm_factory.dlq("on_failure", self.on_failure, f"{name}: OnFailure destination")
        self.alarm_factory.errors_and_throttles("", self.worker.function)
        self.alarm_factory.function("dead_letter_errors", self.worker.function, "DeadLetterErrors")
        self.alarm_factory.function("dropped", self.worker.function, "AsyncEventsDropped")
        self.outputs = pulumi.Output.all(
            function=pulumi.Output.all(**self.worker.outputs()),
            topic_arn=self.topic.arn,
            subscription_dlq_url=self.subscription_dlq.url,
            dlq_url=self.dlq.url if self.dlq else None,
            on_failure_queue_url=self.on_failure.url if self.on_failure else None,
            maximum_retry_attempts=self.maximum_retry_attempts,
            maximum_event_age=self.maximum_event_age,
            alarms=pulumi.Output.all(**self.alarm_factory.names()),
        )
        self.register_outputs({"outputs": self.outputs})
        contract.declare(self, keys.ASYNC_FUNCTION, name, opts)
