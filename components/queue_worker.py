"""QueueWorker: SQS -> Lambda with a redrive DLQ and partial batch responses."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import queues, validation
from components.alarms import AlarmArgs, AlarmFactory, validate_alarm_args
from components.function import (
    DEFAULT_TIMEOUT,
    FunctionArgs,
    LambdaFunction,
    LedgerArgs,
    statement,
    validate_function_args,
)

__all__ = ["QueueWorker", "QueueWorkerArgs", "validate"]

NAME = "QueueWorker"
VISIBILITY_FACTOR = 6  # AWS guidance: 6x the function timeout, so retries of a batch fit


class QueueWorkerArgs(TypedDict):
    """SQS -> Lambda."""

    function: FunctionArgs
    """The worker (handler functions.queue_worker.handler.handler)."""
    ledger: LedgerArgs
    """The stack's ledger and idempotency tables."""
    ledger_pattern: str
    """LEDGER_PATTERN of the worker: the ledger partition its side effects land in."""
    alarms: AlarmArgs
    """Alarm topic and timing."""
    fifo: NotRequired[bool]
    """FIFO queue (order per message group, content-based deduplication). Default False."""
    max_receive_count: NotRequired[int]
    """Receives before SQS moves a message to the DLQ, 1..1000 (default 3)."""
    visibility_timeout: NotRequired[int]
    """Seconds, >= the function timeout, <= 43200 (default 6x the function timeout)."""
    batch_size: NotRequired[int]
    """Records per invocation: 1..10000 (FIFO 1..10; >10 needs a batching window). Default 10."""
    maximum_batching_window: NotRequired[int]
    """Seconds Lambda waits to fill a batch, 0..300 (default 0)."""
    maximum_concurrency: NotRequired[int]
    """Cap on concurrent invocations from this queue, 2..1000 (flow control). Default: none."""
    message_retention: NotRequired[int]
    """Source queue retention seconds, 60..1209600 (default 4 days)."""
    dlq_retention: NotRequired[int]
    """DLQ retention seconds, 60..1209600 (default 14 days)."""
    age_alarm_seconds: NotRequired[int]
    """Oldest-message age that alarms (default visibility timeout x max receive count)."""
    dead_letter_queue: NotRequired[bool]
    """Attach the redrive DLQ (default True; False fails the policy pack)."""


def validate(args: QueueWorkerArgs) -> QueueWorkerArgs:
    for field in ("function", "ledger", "ledger_pattern", "alarms"):
        validation.require(NAME, args, field)
    validate_function_args(NAME, "function", args["function"])
    validate_alarm_args(NAME, args["alarms"])
    timeout = args["function"].get("timeout", DEFAULT_TIMEOUT)
    validation.int_range(NAME, "max_receive_count", args.get("max_receive_count", 3), 1, 1000)
    visibility = args.get("visibility_timeout", VISIBILITY_FACTOR * timeout)
    # Lambda rejects the mapping when the visibility timeout is below the function timeout.
    validation.int_range(NAME, "visibility_timeout", visibility, timeout, 43_200)
    fifo = args.get("fifo", False)
    window = validation.int_range(
        NAME, "maximum_batching_window", args.get("maximum_batching_window", 0), 0, 300
    )
    batch_high = 10 if fifo or not window else 10_000
    validation.int_range(NAME, "batch_size", args.get("batch_size", 10), 1, batch_high)
    if "maximum_concurrency" in args:
        validation.int_range(NAME, "maximum_concurrency", args["maximum_concurrency"], 2, 1000)
    validation.int_range(
        NAME, "message_retention", args.get("message_retention", 345_600), 60, 1_209_600
    )
    validation.int_range(
        NAME, "dlq_retention", args.get("dlq_retention", queues.DLQ_RETENTION), 60, 1_209_600
    )
    if "age_alarm_seconds" in args:
        validation.int_range(NAME, "age_alarm_seconds", args["age_alarm_seconds"], 1, 1_209_600)
    return args


class QueueWorker(pulumi.ComponentResource):
    """An SQS queue, its redrive DLQ, and a Lambda worker reading it in batches."""

    def __init__(
        self, name: str, args: QueueWorkerArgs, opts: pulumi.ResourceOptions | None = None
    ):
        validate(args)
        super().__init__(f"failmodes:index:{NAME}", name, None, opts)
        fn_args = args["function"]
        timeout = fn_args.get("timeout", DEFAULT_TIMEOUT)
        fifo = args.get("fifo", False)
        self.max_receive_count = args.get("max_receive_count", 3)
        self.visibility_timeout = args.get("visibility_timeout", VISIBILITY_FACTOR * timeout)
        self.batch_size = args.get("batch_size", 10)

        self.dlq: aws.sqs.Queue | None = None
        extra = {}
        if args.get("dead_letter_queue", True):
            self.dlq = queues.dead_letter_queue(
                self,
                f"{name}-dlq",
                retention=args.get("dlq_retention", queues.DLQ_RETENTION),
                fifo=fifo,
            )
            extra["redrive_policy"] = queues.redrive_policy(self.dlq, self.max_receive_count)
        self.queue = queues.queue(
            self,
            f"{name}-queue",
            fifo=fifo,
            visibility_timeout_seconds=self.visibility_timeout,
            message_retention_seconds=args.get("message_retention", 345_600),
            **extra,
        )
        self.worker = LambdaFunction(
            self,
            f"{name}-worker",
            fn_args,
            ledger=args["ledger"],
            ledger_pattern=args["ledger_pattern"],
            statements=[
                statement(
                    [
                        "sqs:ChangeMessageVisibility",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ReceiveMessage",
                    ],
                    [self.queue.arn],
                )
            ],
        )
        mapping_extra = {}
        if "maximum_concurrency" in args:
            mapping_extra["scaling_config"] = aws.lambda_.EventSourceMappingScalingConfigArgs(
                maximum_concurrency=args["maximum_concurrency"]
            )
        window = args.get("maximum_batching_window", 0)
        if window:
            mapping_extra["maximum_batching_window_in_seconds"] = window
        self.mapping = aws.lambda_.EventSourceMapping(
            f"{name}-mapping",
            event_source_arn=self.queue.arn,
            function_name=self.worker.function.arn,
            batch_size=self.batch_size,
            # Without it one bad record returns the whole batch, and good records are redone.
            function_response_types=["ReportBatchItemFailures"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.worker.ready),
            **mapping_extra,
        )
        self.alarm_factory = AlarmFactory(self, name, args["alarms"])
        if self.dlq is not None:
            self.alarm_factory.dlq("dlq", self.dlq, f"{name}: redrive DLQ")
        self.alarm_factory.errors_and_throttles("", self.worker.function)
        self.alarm_factory.queue_age(
            "age",
            self.queue,
            args.get("age_alarm_seconds", self.visibility_timeout * self.max_receive_count),
        )
        self.outputs = pulumi.Output.all(
            function=pulumi.Output.all(**self.worker.outputs()),
            queue_url=self.queue.url,
            queue_arn=self.queue.arn,
            dlq_url=self.dlq.url if self.dlq else None,
            dlq_arn=self.dlq.arn if self.dlq else None,
            fifo=fifo,
            max_receive_count=self.max_receive_count,
            visibility_timeout=self.visibility_timeout,
            batch_size=self.batch_size,
            mapping_uuid=self.mapping.uuid,
            alarms=pulumi.Output.all(**self.alarm_factory.names()),
        )
        self.register_outputs({"outputs": self.outputs})
