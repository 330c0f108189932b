"""SNS: Topic, TopicSubscription."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .base import Context, Handler, Planned, ignore_missing, num, probe

_TOPIC_ATTRIBUTES = {
    "displayName": "DisplayName",
    "policy": "Policy",
    "deliveryPolicy": "DeliveryPolicy",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "signatureVersion": "SignatureVersion",
    "tracingConfig": "TracingConfig",
    "contentBasedDeduplication": "ContentBasedDeduplication",
    "archivePolicy": "ArchivePolicy",
}
_SUBSCRIPTION_ATTRIBUTES = {
    "filterPolicy": "FilterPolicy",
    "filterPolicyScope": "FilterPolicyScope",
    "rawMessageDelivery": "RawMessageDelivery",
    "redrivePolicy": "RedrivePolicy",
    "deliveryPolicy": "DeliveryPolicy",
    "subscriptionRoleArn": "SubscriptionRoleArn",
    "replayPolicy": "ReplayPolicy",
}


def _attr(value: Any) -> str:
    value = num(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class Topic(Handler):
    typ = "aws:sns/topic:Topic"
    applies = frozenset(_TOPIC_ATTRIBUTES) | {"name", "namePrefix", "fifoTopic"}
    # Delivery-status feedback roles only matter for logging delivery status to CloudWatch Logs.
    ignores = frozenset(
        {
            f"{proto}{what}"
            for proto in ("application", "firehose", "http", "lambda", "sqs")
            for what in (
                "FailureFeedbackRoleArn",
                "SuccessFeedbackRoleArn",
                "SuccessFeedbackSampleRate",
            )
        }
    )
    replace_on = frozenset({"name", "namePrefix", "fifoTopic"})
    name_input = "name"
    name_max = 256

    def name_suffix(self, inputs: Mapping[str, Any]) -> str:
        return ".fifo" if inputs.get("fifoTopic") else ""

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        attributes = {
            api: _attr(res.inputs[k])
            for k, api in _TOPIC_ATTRIBUTES.items()
            if res.inputs.get(k) is not None
        }
        if res.inputs.get("fifoTopic"):
            attributes["FifoTopic"] = "true"
        arn = ctx.client("sns").create_topic(Name=res.physical, Attributes=attributes)["TopicArn"]
        return arn, {"arn": arn, "name": res.physical, "owner": ctx.account_id}

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        sns = ctx.client("sns")
        for key in changed & set(_TOPIC_ATTRIBUTES):
            value = res.inputs.get(key)
            sns.set_topic_attributes(
                TopicArn=rid,
                AttributeName=_TOPIC_ATTRIBUTES[key],
                AttributeValue="" if value is None else _attr(value),
            )
        return dict(old)

    def exists(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> bool | None:
        return probe(lambda: ctx.client("sns").get_topic_attributes(TopicArn=rid))

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("sns").delete_topic(TopicArn=rid))


class TopicSubscription(Handler):
    typ = "aws:sns/topicSubscription:TopicSubscription"
    applies = frozenset(_SUBSCRIPTION_ATTRIBUTES) | {
        "topic",
        "protocol",
        "endpoint",
        "confirmationTimeoutInMinutes",
        "endpointAutoConfirms",
    }
    replace_on = frozenset({"topic", "protocol", "endpoint"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        attributes = {
            api: _attr(res.inputs[k])
            for k, api in _SUBSCRIPTION_ATTRIBUTES.items()
            if res.inputs.get(k) is not None
        }
        arn = ctx.client("sns").subscribe(
            TopicArn=res.inputs["topic"],
            Protocol=res.inputs["protocol"],
            Endpoint=res.inputs["endpoint"],
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return arn, {"arn": arn, "ownerId": ctx.account_id}

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        sns = ctx.client("sns")
        for key in changed & set(_SUBSCRIPTION_ATTRIBUTES):
            value = res.inputs.get(key)
            if value is None and key == "rawMessageDelivery":
                value = False
            sns.set_subscription_attributes(
                SubscriptionArn=rid,
                AttributeName=_SUBSCRIPTION_ATTRIBUTES[key],
                AttributeValue="" if value is None else _attr(value),
            )
        return dict(old)

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("sns").unsubscribe(SubscriptionArn=rid))
