"""SQS queues with the safe defaults: SSE on, 14-day DLQ retention, scoped queue policies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.limits import RECEIVE_COUNT_RANGE, VISIBILITY_FACTOR
from components.validation import Setting

__all__ = [
    "DLQ_RETENTION",
    "MAX_RECEIVE_COUNT",
    "RECEIVE_COUNT_RANGE",
    "VISIBILITY_FACTOR",
    "MAX_VISIBILITY",
    "retention",
    "visibility_timeout",
    "allow_services_to_send",
    "dead_letter_queue",
    "queue",
    "redrive_policy",
]

DLQ_RETENTION = 1_209_600  # 14 days, the SQS maximum: the longest window to notice and redrive
MAX_VISIBILITY = 43_200  # 12 hours, the SQS maximum
# Receives before the DLQ. AWS advises >= 5 for a queue Lambda reads, so throttling alone
# (each throttled poll is a receive) does not dead-letter a message.
MAX_RECEIVE_COUNT = Setting(5, *RECEIVE_COUNT_RANGE)


def retention(default: int = DLQ_RETENTION) -> Setting:
    """A queue retention field: 60 s .. 14 days, what SQS accepts."""
    return Setting(default, 60, DLQ_RETENTION)


def visibility_timeout(args: Mapping[str, Any], function_timeout: int) -> int:
    """args["visibility_timeout"], or VISIBILITY_FACTOR x the reading function's timeout."""
    return args.get("visibility_timeout", VISIBILITY_FACTOR * function_timeout)


def queue(
    parent: pulumi.Resource, name: str, *, fifo: bool = False, **kwargs: Any
) -> aws.sqs.Queue:
    extra: dict[str, Any] = {}
    if fifo:
        extra.update(fifo_queue=True, content_based_deduplication=True)
    return aws.sqs.Queue(
        name,
        sqs_managed_sse_enabled=True,
        opts=pulumi.ResourceOptions(parent=parent),
        **extra,
        **kwargs,
    )


def dead_letter_queue(
    parent: pulumi.Resource, name: str, *, retention: int = DLQ_RETENTION, fifo: bool = False
) -> aws.sqs.Queue:
    # A FIFO source needs a FIFO DLQ (SQS rejects the redrive policy otherwise).
    return queue(parent, name, fifo=fifo, message_retention_seconds=retention)


def redrive_policy(dlq: aws.sqs.Queue, max_receive_count: int) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps(
        {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": max_receive_count}
    )


def allow_services_to_send(
    parent: pulumi.Resource,
    name: str,
    target: aws.sqs.Queue,
    grants: Sequence[tuple[str, pulumi.Input[str]]],
) -> aws.sqs.QueuePolicy:
    """Let each (service principal, source ARN) send, and nothing else.

    aws:SourceArn keeps any other topic or rule of the same service (in any
    account) from writing into the queue: the confused-deputy guard.
    """
    statements = [
        {
            "Sid": f"Allow{index}",
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sqs:SendMessage",
            "Resource": target.arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
        }
        for index, (service, source_arn) in enumerate(grants)
    ]
    return aws.sqs.QueuePolicy(
        name,
        queue_url=target.url,
        policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
        opts=pulumi.ResourceOptions(parent=parent),
    )
