"""RideRecords (Wild Rydes): SNS -> Lambda -> DynamoDB, with a function DLQ.

The reliability workshop's failure: a 1 RCU / 1 WCU table under load throttles,
the writer fails, and without a DLQ the rides are gone. The fix modelled here:
a function DLQ, and PAY_PER_REQUEST (or PROVISIONED with autoscaling).
"""

from __future__ import annotations

from typing import NotRequired

import pulumi
import pulumi_aws as aws

from components import contract, queues, validation
from components import outputs as keys
from components.alarms import AlarmArgs, AlarmFactory, validate_alarm_args
from components.async_function import (
    ASYNC_SETTINGS,
    SNS_KMS_KEY,
    async_invoke_config,
    sns_to_lambda,
)
from components.function import (
    FunctionArgs,
    LambdaFunction,
    LedgerArgs,
    statement,
    validate_function_args,
)

__all__ = ["SETTINGS", "RideRecords", "RideRecordsArgs", "validate"]

NAME = "RideRecords"
BILLING_MODES = ("PAY_PER_REQUEST", "PROVISIONED")
MAX_CAPACITY = 40_000  # DynamoDB's default table quota of read (and write) units


class RideRecordsArgs(contract.InstanceArgs):
    """SNS -> ride_writer -> rides table."""

    function: FunctionArgs
    """The writer (handler functions.ride_writer.handler.handler)."""
    ledger: LedgerArgs
    """The stack's ledger and idempotency tables."""
    ledger_pattern: NotRequired[str]
    """LEDGER_PATTERN of the writer."""
    alarms: AlarmArgs
    """Alarm topic and timing."""
    billing_mode: NotRequired[str]
    """On-demand or provisioned capacity."""
    read_capacity: NotRequired[int]
    """PROVISIONED read units; autoscaling minimum."""
    write_capacity: NotRequired[int]
    """PROVISIONED write units; autoscaling minimum."""
    autoscaling_max_capacity: NotRequired[int]
    """PROVISIONED autoscaling maximum, >= both capacities; 0 disables autoscaling."""
    maximum_retry_attempts: NotRequired[int]
    """Async retries."""
    maximum_event_age: NotRequired[int]
    """Async max event age, seconds."""
    dlq_retention: NotRequired[int]
    """DLQ retention seconds (default 14 days)."""


SETTINGS = validation.Settings(
    RideRecordsArgs,
    billing_mode=validation.Setting("PAY_PER_REQUEST", choices=BILLING_MODES),
    read_capacity=validation.Setting(5, 1, MAX_CAPACITY),
    write_capacity=validation.Setting(5, 1, MAX_CAPACITY),
    autoscaling_max_capacity=validation.Setting(50, 1, MAX_CAPACITY, extra=(0,)),
    **ASYNC_SETTINGS,
)


def validate(args: RideRecordsArgs) -> RideRecordsArgs:
    for field in ("function", "ledger", "alarms"):
        validation.require(NAME, args, field)
    validate_function_args(NAME, "function", args["function"])
    validate_alarm_args(NAME, args["alarms"])
    SETTINGS.check(NAME, args)
    read, write = SETTINGS.value(args, "read_capacity"), SETTINGS.value(args, "write_capacity")
    maximum = SETTINGS.value(args, "autoscaling_max_capacity")
    if maximum != 0:
        validation.int_range(
            NAME, "autoscaling_max_capacity", maximum, max(read, write), MAX_CAPACITY, extra=[0]
        )
    return args


class RideRecords(contract.PatternComponent):
    """Rides topic, writer function with DLQ, rides table (on-demand or autoscaled)."""

    def __init__(
        self, name: str, args: RideRecordsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        validate(args)
        super().__init__(NAME, name, args, opts)
        self.billing_mode = SETTINGS.value(args, "billing_mode")
        provisioned = self.billing_mode == "PROVISIONED"
        read, write = SETTINGS.value(args, "read_capacity"), SETTINGS.value(args, "write_capacity")
        table_extra = {"read_capacity": read, "write_capacity": write} if provisioned else {}
        self.table = aws.dynamodb.Table(
            f"{name}-rides",
            billing_mode=self.billing_mode,
            hash_key="id",
            attributes=[aws.dynamodb.TableAttributeArgs(name="id", type="S")],
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            opts=pulumi.ResourceOptions(parent=self),
            **table_extra,
        )
        maximum = SETTINGS.value(args, "autoscaling_max_capacity")
        if provisioned and maximum:
            for dimension, minimum in (("Read", read), ("Write", write)):
                self._autoscale(name, dimension, minimum, maximum)
        retention = SETTINGS.value(args, "dlq_retention")
        self.topic = aws.sns.Topic(
            f"{name}-topic", kms_master_key_id=SNS_KMS_KEY, opts=pulumi.ResourceOptions(parent=self)
        )
        self.dlq = queues.dead_letter_queue(self, f"{name}-dlq", retention=retention)
        self.subscription_dlq = queues.dead_letter_queue(
            self, f"{name}-subscription-dlq", retention=retention
        )
        self.writer = LambdaFunction(
            self,
            f"{name}-writer",
            args["function"],
            ledger=args["ledger"],
            ledger_pattern=self.ledger_pattern,
            statements=[
                statement(["dynamodb:PutItem"], [self.table.arn]),
                statement(["sqs:SendMessage"], [self.dlq.arn]),
            ],
            environment={"RIDES_TABLE": self.table.name},
            dead_letter_arn=self.dlq.arn,
        )
        self.invoke_config = async_invoke_config(
            self,
            name,
            self.writer,
            maximum_retry_attempts=SETTINGS.value(args, "maximum_retry_attempts"),
            maximum_event_age=SETTINGS.value(args, "maximum_event_age"),
            on_failure=None,
        )
        self.subscription = sns_to_lambda(
            self, name, self.topic, self.writer, self.subscription_dlq
        )
        self.alarm_factory = AlarmFactory(self, name, args["alarms"])
        self.alarm_factory.dlq("dlq", self.dlq, f"{name}: writer DLQ")
        self.alarm_factory.dlq(
            "subscription_dlq", self.subscription_dlq, f"{name}: SNS subscription DLQ"
        )
        self.alarm_factory.errors_and_throttles("", self.writer.function)
        self.alarm_factory.function("dead_letter_errors", self.writer.function, "DeadLetterErrors")
        self.alarm_factory.metric(
            "table_throttles",
            namespace="AWS/DynamoDB",
            metric_name="WriteThrottleEvents",
            dimensions={"TableName": self.table.name},
            description=f"{name}: the rides table throttles writes",
        )
        self.outputs = pulumi.Output.all(
            function=pulumi.Output.all(**self.writer.outputs()),
            topic_arn=self.topic.arn,
            table_name=self.table.name,
            billing_mode=self.billing_mode,
            dlq_url=self.dlq.url,
            subscription_dlq_url=self.subscription_dlq.url,
            alarms=pulumi.Output.all(**self.alarm_factory.names()),
        )
        self.register_outputs({"outputs": self.outputs})
        contract.declare(self, keys.RIDE_RECORDS, name, opts)

    def _autoscale(self, name: str, dimension: str, minimum: int, maximum: int) -> None:
        role = dimension.lower()
        target = aws.appautoscaling.Target(
            f"{name}-{role}-scaling-target",
            service_namespace="dynamodb",
            resource_id=self.table.name.apply(lambda table: f"table/{table}"),
            scalable_dimension=f"dynamodb:table:{dimension}CapacityUnits",
            min_capacity=minimum,
            max_capacity=maximum,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.appautoscaling.Policy(
            f"{name}-{role}-scaling-policy",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=70,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type=f"DynamoDB{dimension}CapacityUtilization"
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
