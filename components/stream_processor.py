"""StreamProcessor: Kinesis -> Lambda, ordered per shard, with finite retries.

A failing batch blocks its shard. The mapping splits it (bisect), reports the
failed record (ReportBatchItemFailures), gives up after MaximumRetryAttempts or
MaximumRecordAgeInSeconds, and sends the shard/sequence pointers to the OnFailure
queue so the records can be read back before the stream's retention ends.
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

__all__ = ["SETTINGS", "StreamProcessor", "StreamProcessorArgs", "validate"]

NAME = "StreamProcessor"


class StreamProcessorArgs(contract.InstanceArgs):
    """Kinesis stream -> Lambda mapping with bisect, finite retries and an OnFailure queue."""

    function: FunctionArgs
    """The processor (functions.stream_processor.handler.handler)."""
    ledger: LedgerArgs
    """The stack's ledger and idempotency tables."""
    ledger_pattern: NotRequired[str]
    """LEDGER_PATTERN of the processor."""
    alarms: AlarmArgs
    """Alarm topic and timing."""
    shard_count: NotRequired[int]
    """Shards."""
    retention_hours: NotRequired[int]
    """Stream retention, hours: the window to read failed records back."""
    batch_size: NotRequired[int]
    """Records per invocation."""
    bisect_on_error: NotRequired[bool]
    """BisectBatchOnFunctionError."""
    maximum_retry_attempts: NotRequired[int]
    """Retries of a failing batch; -1 is infinite."""
    maximum_record_age: NotRequired[int]
    """Seconds before a record is given up; -1 is infinite."""
    on_failure_destination: NotRequired[bool]
    """OnFailure queue. Infinite retries without it block a shard forever."""
    iterator_age_alarm_ms: NotRequired[int]
    """IteratorAge (ms) that alarms: a blocked shard."""
    dlq_retention: NotRequired[int]
    """OnFailure queue retention seconds (default 14 days)."""


SETTINGS = validation.Settings(
    StreamProcessorArgs,
    shard_count=validation.Setting(1, 1, 500),
    retention_hours=validation.Setting(24, 24, 8760),
    batch_size=validation.Setting(100, 1, 10_000),
    bisect_on_error=validation.Setting(True),
    # Finite by default: Lambda's own default (-1, infinite) blocks a shard on one bad record.
    maximum_retry_attempts=validation.Setting(3, 0, 10_000, extra=(-1,)),
    maximum_record_age=validation.Setting(3600, 60, 604_800, extra=(-1,)),
    on_failure_destination=validation.Setting(True),
    iterator_age_alarm_ms=validation.Setting(60_000, 1, 604_800_000),
    dlq_retention=queues.retention(),
)


def validate(args: StreamProcessorArgs) -> StreamProcessorArgs:
    for field in ("function", "ledger", "alarms"):
        validation.require(NAME, args, field)
    validate_function_args(NAME, "function", args["function"])
    validate_alarm_args(NAME, args["alarms"])
    SETTINGS.check(NAME, args)
    return args


class StreamProcessor(contract.PatternComponent):
    """Kinesis stream, processor function, mapping and OnFailure queue."""

    def __init__(
        self, name: str, args: StreamProcessorArgs, opts: pulumi.ResourceOptions | None = None
    ):
        validate(args)
        super().__init__(NAME, name, args, opts)
        self.bisect_on_error = SETTINGS.value(args, "bisect_on_error")
        self.maximum_retry_attempts = SETTINGS.value(args, "maximum_retry_attempts")
        self.maximum_record_age = SETTINGS.value(args, "maximum_record_age")
        self.stream = aws.kinesis.Stream(
            f"{name}-stream",
            shard_count=SETTINGS.value(args, "shard_count"),
            retention_period=SETTINGS.value(args, "retention_hours"),
            encryption_type="KMS",
            kms_key_id="alias/aws/kinesis",
            stream_mode_details=aws.kinesis.StreamStreamModeDetailsArgs(stream_mode="PROVISIONED"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.on_failure = (
            queues.dead_letter_queue(
                self,
                f"{name}-on-failure",
                retention=SETTINGS.value(args, "dlq_retention"),
            )
            if SETTINGS.value(args, "on_failure_destination")
            else None
        )
        statements = [
            statement(
                [
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                [self.stream.arn],
            )
        ]
        if self.on_failure is not None:
            statements.append(statement(["sqs:SendMessage"], [self.on_failure.arn]))
        self.processor = LambdaFunction(
            self,
            f"{name}-processor",
            args["function"],
            ledger=args["ledger"],
            ledger_pattern=self.ledger_pattern,
            statements=statements,
        )
        extra = {}
        if self.on_failure is not None:
            extra["destination_config"] = aws.lambda_.EventSourceMappingDestinationConfigArgs(
                on_failure=aws.lambda_.EventSourceMappingDestinationConfigOnFailureArgs(
                    destination_arn=self.on_failure.arn
                )
            )
        self.mapping = aws.lambda_.EventSourceMapping(
            f"{name}-mapping",
            event_source_arn=self.stream.arn,
            function_name=self.processor.function.arn,
            # Records written before the mapping exists are processed too: none lost at deploy.
            starting_position="TRIM_HORIZON",
            batch_size=SETTINGS.value(args, "batch_size"),
            bisect_batch_on_function_error=self.bisect_on_error,
            maximum_retry_attempts=self.maximum_retry_attempts,
            maximum_record_age_in_seconds=self.maximum_record_age,
            function_response_types=["ReportBatchItemFailures"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.processor.ready),
            **extra,
        )
        self.alarm_factory = AlarmFactory(self, name, args["alarms"])
        if self.on_failure is not None:
            self.alarm_factory.dlq(
                "on_failure", self.on_failure, f"{name}: Kinesis OnFailure queue"
            )
        self.alarm_factory.errors_and_throttles("", self.processor.function)
        self.alarm_factory.function(
            "iterator_age",
            self.processor.function,
            "IteratorAge",
            threshold=SETTINGS.value(args, "iterator_age_alarm_ms"),
            statistic="Maximum",
        )
        self.outputs = pulumi.Output.all(
            function=pulumi.Output.all(**self.processor.outputs()),
            stream_name=self.stream.name,
            stream_arn=self.stream.arn,
            on_failure_queue_url=self.on_failure.url if self.on_failure is not None else None,
            bisect_on_error=self.bisect_on_error,
            maximum_retry_attempts=self.maximum_retry_attempts,
            maximum_record_age=self.maximum_record_age,
            mapping_uuid=self.mapping.uuid,
            alarms=pulumi.Output.all(**self.alarm_factory.names()),
        )
        self.register_outputs({"outputs": self.outputs})
        contract.declare(self, keys.STREAM_PROCESSOR, name, opts)
