"""SQS: Queue, QueuePolicy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Context, Handler, Planned, ignore_missing, num, probe

# input key -> queue attribute, and the value that clears it on update (AWS defaults).
_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "visibilityTimeoutSeconds": ("VisibilityTimeout", "30"),
    "messageRetentionSeconds": ("MessageRetentionPeriod", "345600"),
    "maxMessageSize": ("MaximumMessageSize", "262144"),
    "delaySeconds": ("DelaySeconds", "0"),
    "receiveWaitTimeSeconds": ("ReceiveMessageWaitTimeSeconds", "0"),
    "redrivePolicy": ("RedrivePolicy", ""),
    "redriveAllowPolicy": ("RedriveAllowPolicy", ""),
    "policy": ("Policy", ""),
    "kmsMasterKeyId": ("KmsMasterKeyId", ""),
    "kmsDataKeyReusePeriodSeconds": ("KmsDataKeyReusePeriodSeconds", "300"),
    "sqsManagedSseEnabled": ("SqsManagedSseEnabled", "false"),
    "contentBasedDeduplication": ("ContentBasedDeduplication", "false"),
    "deduplicationScope": ("DeduplicationScope", "queue"),
    "fifoThroughputLimit": ("FifoThroughputLimit", "perQueue"),
}


def _attr(value: Any) -> str:
    value = num(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Queue(Handler):
    typ = "aws:sqs/queue:Queue"
    applies = frozenset(_ATTRIBUTES) | {"name", "namePrefix", "fifoQueue"}
    replace_on = frozenset({"name", "namePrefix", "fifoQueue"})
    name_input = "name"
    name_max = 80

    def name_suffix(self, inputs: Mapping[str, Any]) -> str:
        return ".fifo" if inputs.get("fifoQueue") else ""

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        attributes = {
            api: _attr(res.inputs[key])
            for key, (api, _) in _ATTRIBUTES.items()
            if res.inputs.get(key) is not None
        }
        if res.inputs.get("fifoQueue"):
            attributes["FifoQueue"] = "true"
        sqs = ctx.client("sqs")
        url = sqs.create_queue(QueueName=res.physical, Attributes=attributes)["QueueUrl"]
        return url, self._outputs(ctx, url, res.physical)

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        attributes = {}
        for key in changed:
            api, default = _ATTRIBUTES[key]
            value = res.inputs.get(key)
            attributes[api] = default if value is None else _attr(value)
        if attributes:
            sqs = ctx.client("sqs")
            if "Policy" not in attributes:
                # moto 5.2.5 clears a queue's Policy on any SetQueueAttributes without one
                # (AWS keeps it); a QueuePolicy resource's policy must survive this update.
                current = sqs.get_queue_attributes(QueueUrl=rid, AttributeNames=["Policy"])
                if current.get("Attributes", {}).get("Policy"):
                    attributes["Policy"] = current["Attributes"]["Policy"]
            sqs.set_queue_attributes(QueueUrl=rid, Attributes=attributes)
        return self._outputs(ctx, rid, res.physical)

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("sqs").delete_queue(QueueUrl=rid))

    def exists(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> bool | None:
        return probe(lambda: ctx.client("sqs").get_queue_attributes(QueueUrl=rid))

    @staticmethod
    def _outputs(ctx: Context, url: str, name: str | None) -> dict[str, Any]:
        arn = ctx.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return {"arn": arn, "url": url, "name": name}


class QueuePolicy(Handler):
    typ = "aws:sqs/queuePolicy:QueuePolicy"
    applies = frozenset({"queueUrl", "policy"})
    replace_on = frozenset({"queueUrl"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        url = res.inputs["queueUrl"]
        ctx.client("sqs").set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": res.inputs["policy"]}
        )
        return url, {}

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        return self.create(ctx, res)[1]

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("sqs").set_queue_attributes(QueueUrl=rid, Attributes={"Policy": ""})
        )
