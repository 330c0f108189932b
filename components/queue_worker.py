"""QueueWorker: SQS -> Lambda with a redrive DLQ and partial batch responses."""

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
    function_timeout,
    statement,
    validate_function_args,
)

__all__ = ["SETTINGS", "QueueWorker", "QueueWorkerArgs", "validate"]

NAME = "QueueWorker"
# Lambda accepts a batch of up to 10 from a FIFO queue, or from any queue without a batching window.
SMALL_BATCH = 10


class QueueWorkerArgs(contract.InstanceArgs):
    """SQS -> Lambda."""

    function: FunctionArgs
    """The worker (handler functions.queue_worker.handler.handler)."""
    ledger: LedgerArgs
    """The stack's ledger and idempotency tables."""
    ledger_pattern: NotRequired[str]
    """LEDGER_PATTERN of the worker: the ledger partition its side effects land in."""
    alarms: AlarmArgs
    """Alarm topic and timing."""
    fifo: NotRequired[bool]
    """FIFO queue (order per message group, content-based deduplication)."""
    max_receive_count: NotRequired[int]
    """Receives before SQS moves a message to the DLQ."""
    visibility_timeout: NotRequired[int]
    """Seconds, >= the function timeout (default VISIBILITY_FACTOR x the function timeout)."""
    batch_size: NotRequired[int]
    """Records per invocation (FIFO, or without a batching window: at most 10)."""
    maximum_batching_window: NotRequired[int]
    """Seconds Lambda waits to fill a batch."""
    maximum_concurrency: NotRequired[int]
    """Cap on concurrent invocations from this queue (flow control); unset means none."""
    message_retention: NotRequired[int]
    """Source queue retention seconds (default 4 days)."""
    dlq_retention: NotRequired[int]
    """DLQ retention seconds (default 14 days)."""
    age_alarm_seconds: NotRequired[int]
    """Oldest-message age that alarms (default visibility timeout x max receive count)."""
    dead_letter_queue: NotRequired[bool]
    """Attach the redrive DLQ (False fails the policy pack)."""


SETTINGS = validation.Settings(
    QueueWorkerArgs,
    fifo=validation.Setting(False),
    max_receive_count=queues.MAX_RECEIVE_COUNT,
    visibility_timeout=validation.Setting(),  # bounds: validate(), from the function timeout
    batch_size=validation.Setting(SMALL_BATCH, 1, 10_000),
    maximum_batching_window=validation.Setting(0, 0, 300),
    maximum_concurrency=validation.Setting(None, 2, 1000),
    message_retention=queues.retention(345_600),
    dlq_retention=queues.retention(),
    age_alarm_seconds=validation.Setting(None, 1, 1_209_600),
    dead_letter_queue=validation.Setting(True),
)


def validate(args: QueueWorkerArgs) -> QueueWorkerArgs:
    for field in ("function", "ledger", "alarms"):
        validation.require(NAME, args, field)
    validate_function_args(NAME, "function", args["function"])
    validate_alarm_args(NAME, args["alarms"])
    SETTINGS.check(NAME, args)
    timeout = function_timeout(args["function"])
    # Lambda rejects the mapping when the visibility timeout is below the function timeout.
    visibility = queues.visibility_timeout(args, timeout)
    validation.int_range(NAME, "visibility_timeout", visibility, timeout, queues.MAX_VISIBILITY)
    if SETTINGS.value(args, "fifo") or not SETTINGS.value(args, "maximum_batching_window"):
        validation.int_range(NAME, "batch_size", SETTINGS.value(args, "batch_size"), 1, SMALL_BATCH)
    return args


class QueueWorker(contract.PatternComponent):
    """An SQS queue, its redrive DLQ, and a Lambda worker reading it in batches."""

    def __init__(
        self, name: str, args: QueueWorkerArgs, opts: pulumi.ResourceOptions | None = None
    ):
        validate(args)
        super().__init__(NAME, name, args, opts)
        fn_args = args["function"]
        fifo = SETTINGS.value(args, "fifo")
        self.max_receive_count = SETTINGS.value(args, "max_receive_count")
        self.visibility_timeout = queues.visibility_timeout(args, function_timeout(fn_args))
        self.batch_size = SETTINGS.value(args, "batch_size")

        self.dlq: aws.sqs.Queue | None = None
        extra = {}
        if SETTINGS.value(args, "dead_letter_queue"):
            self.dlq = queues.dead_letter_queue(
                self,
                f"{name}-dlq",
                retention=SETTINGS.value(args, "dlq_retention"),
                fifo=fifo,
            )
            extra["redrive_policy"] = queues.redrive_policy(self.dlq, self.max_receive_count)
        self.queue = queues.queue(
            self,
            f"{name}-queue",
            fifo=fifo,
            visibility_timeout_seconds=self.visibility_timeout,
            message_retention_seconds=SETTINGS.value(args, "message_retention"),
            **extra,
        )
        self.worker = LambdaFunction(
            self,
            f"{name}-worker",
            fn_args,
            ledger=args["ledger"],
            ledger_pattern=self.ledger_pattern,
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
        window = SETTINGS.value(args, "maximum_batching_window")
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
        contract.declare(self, keys.QUEUE_WORKER, name, opts)
