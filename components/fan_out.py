"""FanOut: one SNS topic, per-subscription filter policies, one queue (and DLQ) per subscriber.

Each subscriber is a QueueWorker (queue, redrive DLQ, worker running the
queue_worker code) whose queue accepts only this topic (aws:SourceArn).
Raw message delivery: the queue body is the published message itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NotRequired

import pulumi
import pulumi_aws as aws

from components import contract, queues, validation
from components import outputs as keys
from components.alarms import AlarmArgs, AlarmFactory, validate_alarm_args
from components.async_function import SNS_KMS_KEY
from components.function import FunctionArgs, LedgerArgs, validate_function_args
from components.queue_worker import SMALL_BATCH, QueueWorker, QueueWorkerArgs

__all__ = ["SETTINGS", "FanOut", "FanOutArgs", "validate"]

NAME = "FanOut"
FILTER_SCOPES = ("MessageAttributes", "MessageBody")


class FanOutArgs(contract.InstanceArgs):
    """SNS topic fanning out to filtered SQS subscribers."""

    consumer: FunctionArgs
    """Code of every subscriber's worker (functions.queue_worker.handler.handler)."""
    ledger: LedgerArgs
    """The stack's ledger and idempotency tables."""
    ledger_pattern: NotRequired[str]
    """Subscriber '<s>' writes to '<ledger_pattern>.<s>'."""
    alarms: AlarmArgs
    """Alarm topic and timing."""
    subscribers: Mapping[str, Mapping[str, Any]]
    """Subscriber name (lower-case, [a-z0-9-]) -> SNS filter policy (non-empty)."""
    filter_scope: NotRequired[str]
    """What the filter policies match: message attributes or the message body."""
    max_receive_count: NotRequired[int]
    """Per subscriber queue: receives before its DLQ."""
    batch_size: NotRequired[int]
    """Per subscriber mapping (no batching window: at most 10)."""
    dlq_retention: NotRequired[int]
    """Retention of each DLQ (default 14 days)."""


SETTINGS = validation.Settings(
    FanOutArgs,
    filter_scope=validation.Setting("MessageAttributes", choices=FILTER_SCOPES),
    max_receive_count=queues.MAX_RECEIVE_COUNT,
    batch_size=validation.Setting(SMALL_BATCH, 1, SMALL_BATCH),
    dlq_retention=queues.retention(),
)


def validate(args: FanOutArgs) -> FanOutArgs:
    for field in ("consumer", "ledger", "alarms", "subscribers"):
        validation.require(NAME, args, field)
    validate_function_args(NAME, "consumer", args["consumer"])
    validate_alarm_args(NAME, args["alarms"])
    subscribers = args["subscribers"]
    if not isinstance(subscribers, Mapping) or not subscribers:
        raise validation.ArgsValidationError(
            NAME, "subscribers", subscribers, "a non-empty mapping"
        )
    for sub, policy in subscribers.items():
        if (
            not isinstance(sub, str)
            or not sub
            or not all(c.islower() or c.isdigit() or c == "-" for c in sub)
        ):
            raise validation.ArgsValidationError(NAME, "subscribers", sub, "names of [a-z0-9-]")
        if not isinstance(policy, Mapping) or not policy:
            raise validation.ArgsValidationError(
                NAME, f"subscribers.{sub}", policy, "a non-empty SNS filter policy mapping"
            )
    SETTINGS.check(NAME, args)
    return args


class FanOut(contract.PatternComponent):
    """SNS topic -> filtered subscriptions -> one QueueWorker per subscriber."""

    def __init__(self, name: str, args: FanOutArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__(NAME, name, args, opts)
        self.topic = aws.sns.Topic(
            f"{name}-topic", kms_master_key_id=SNS_KMS_KEY, opts=pulumi.ResourceOptions(parent=self)
        )
        scope = SETTINGS.value(args, "filter_scope")
        retention = SETTINGS.value(args, "dlq_retention")
        self.subscribers: dict[str, QueueWorker] = {}
        self.subscription_dlqs: dict[str, aws.sqs.Queue] = {}
        alarm_factory = AlarmFactory(self, name, args["alarms"])
        subscriber_outputs = {}
        for sub, policy in args["subscribers"].items():
            worker_args: QueueWorkerArgs = {
                "function": args["consumer"],
                "ledger": args["ledger"],
                "ledger_pattern": f"{self.ledger_pattern}.{sub}",
                "alarms": args["alarms"],
                "max_receive_count": SETTINGS.value(args, "max_receive_count"),
                "batch_size": SETTINGS.value(args, "batch_size"),
                "dlq_retention": retention,
            }
            worker = QueueWorker(f"{name}-{sub}", worker_args, pulumi.ResourceOptions(parent=self))
            self.subscribers[sub] = worker
            queue_policy = queues.allow_services_to_send(
                self,
                f"{name}-{sub}-queue-policy",
                worker.queue,
                [("sns.amazonaws.com", self.topic.arn)],
            )
            # What SNS itself cannot deliver to the queue (its grant gone, the queue gone) is
            # not retried: without a subscription DLQ it would be lost before any consumer.
            subscription_dlq = queues.dead_letter_queue(
                self,
                f"{name}-{sub}-subscription-dlq",
                retention=retention,
            )
            self.subscription_dlqs[sub] = subscription_dlq
            dlq_policy = queues.allow_services_to_send(
                self,
                f"{name}-{sub}-subscription-dlq-policy",
                subscription_dlq,
                [("sns.amazonaws.com", self.topic.arn)],
            )
            aws.sns.TopicSubscription(
                f"{name}-{sub}-subscription",
                topic=self.topic.arn,
                protocol="sqs",
                endpoint=worker.queue.arn,
                raw_message_delivery=True,
                filter_policy=json.dumps(dict(policy), sort_keys=True),
                filter_policy_scope=scope,
                redrive_policy=pulumi.Output.json_dumps(
                    {"deadLetterTargetArn": subscription_dlq.arn}
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy, dlq_policy]),
            )
            sub_alarm = alarm_factory.dlq(
                f"{sub}_subscription_dlq", subscription_dlq, f"{name}: {sub} SNS subscription DLQ"
            )
            subscriber_outputs[sub] = pulumi.Output.all(
                worker.outputs, subscription_dlq.url, sub_alarm.name
            ).apply(
                lambda got, policy=dict(policy), pattern=worker.ledger_pattern: {
                    "queue_url": got[0]["queue_url"],
                    "queue_arn": got[0]["queue_arn"],
                    "dlq_url": got[0]["dlq_url"],
                    "subscription_dlq_url": got[1],
                    "filter_policy": policy,
                    "consumer": got[0]["function"],
                    "ledger_pattern": pattern,
                    "alarms": {**got[0]["alarms"], "subscription_dlq": got[2]},
                }
            )
        self.alarm_factory = alarm_factory
        self.alarm_factory.metric(
            "delivery_failures",
            namespace="AWS/SNS",
            metric_name="NumberOfNotificationsFailed",
            dimensions={"TopicName": self.topic.name},
            description=f"{name}: SNS could not deliver to a subscriber queue",
        )
        self.outputs = pulumi.Output.all(
            topic_arn=self.topic.arn,
            subscribers=pulumi.Output.all(**subscriber_outputs),
            filter_scope=scope,
            alarms=pulumi.Output.all(**self.alarm_factory.names()),
        )
        self.register_outputs({"outputs": self.outputs})
        contract.declare(self, keys.FAN_OUT, name, opts)
