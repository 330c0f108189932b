"""Reaches into moto's SNS backend (moto.sns, pinned ==5.2.5): delivery to Lambda and SQS
subscriptions, and publishing without an endpoint.

tests/local/test_moto_reach.py and tests/unit/localcloud/test_alarm_moto.py fail loudly when
a moto upgrade moves one of them.
"""

from __future__ import annotations

import logging
from typing import Any

from localcloud.moto_reach import sqs
from localcloud.moto_reach.core import ORIGINALS, active_cloud

logger = logging.getLogger(__name__)


def patch_moto() -> None:
    """Installed on the first SNS request (see localcloud.moto_reach.ensure_patched)."""
    _patch_sns_lambda_subscription()


def _patch_sns_lambda_subscription() -> None:
    """SNS -> Lambda: moto sends a canned envelope synchronously; the local cloud delivers
    the real envelope asynchronously, with retries and the subscription's redrive policy.
    SNS -> SQS: moto delivers, but only when the queue policy grants sns.amazonaws.com for
    the topic, as on AWS; otherwise the notification goes to the subscription's DLQ.

    moto's filter policy check and message-structure handling are kept (they run first).
    """
    from moto.sns.models import Subscription

    original = Subscription.publish
    ORIGINALS["sns_subscription_publish"] = original

    def publish(
        self: Any,
        message: str,
        message_id: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> None:
        # Only under a running local cloud: the patch outlives it in this process, and plain
        # moto (mock_aws) keeps its own behaviour there.
        if (
            self.protocol == "sqs"
            and active_cloud() is not None
            and not _sqs_endpoint_allows_sns(self, message_attributes, message)
        ):
            _sqs_subscription_dead_letter(self, message, message_id, subject, message_attributes)
            return None
        if self.protocol != "lambda":
            return original(
                self,
                message,
                message_id,
                subject,
                message_attributes,
                group_id,
                deduplication_id,
                message_structure,
            )
        if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(
            message_attributes, message
        ):
            return None
        if message_structure == "json":
            message = self._parse_message_structure(message, self.protocol)
        cloud = active_cloud()
        if cloud is None or cloud.sns is None:
            raise RuntimeError("SNS published to Lambda with no local cloud running")
        cloud.sns.deliver(
            subscription_arn=self.arn,
            topic_arn=self.topic.arn,
            endpoint=self.endpoint,
            attributes=dict(self.attributes),
            message=message,
            message_id=message_id,
            subject=subject,
            message_attributes=message_attributes or {},
        )
        return None

    Subscription.publish = publish  # type: ignore[method-assign]


def _queue_grants_sns(queue: Any, topic_arn: str) -> bool:
    import json

    from localcloud.iam.resource_policy import SEND_MESSAGE, allows, statements_of

    policy = queue.policy if isinstance(queue.policy, str) else json.dumps(queue.policy or {})
    return allows(
        statements_of(policy or None),
        "sns.amazonaws.com",
        SEND_MESSAGE,
        source_arn=topic_arn,
        source_account=topic_arn.split(":")[4],
    )


def _sqs_endpoint_allows_sns(sub: Any, message_attributes: Any, message: str) -> bool:
    """SNS -> SQS needs the queue policy's grant to sns.amazonaws.com for this topic (moto
    delivers without looking). A message the filter policy drops is no delivery at all."""
    if sub._filter_policy_matcher is not None and not sub._filter_policy_matcher.matches(
        message_attributes, message
    ):
        return True  # moto's own publish drops it
    queue = sqs.queue_by_arn(sub.account_id, sub.endpoint)
    return queue is None or _queue_grants_sns(queue, sub.topic.arn)


def _sqs_subscription_dead_letter(
    sub: Any, message: str, message_id: str, subject: str | None, attributes: Any
) -> None:
    """AccessDenied on the endpoint is a client error: SNS does not retry it and sends the
    notification to the subscription's redrive DLQ, if it has one and may write there."""
    import json

    redrive = json.loads(sub.attributes.get("RedrivePolicy") or "{}")
    target = redrive.get("deadLetterTargetArn")
    dlq = sqs.queue_by_arn(sub.account_id, target) if target else None
    if dlq is None or not _queue_grants_sns(dlq, sub.topic.arn):
        logger.warning(
            "SNS may not send to %s and has no DLQ it may write to (%s): message dropped",
            sub.endpoint,
            target,
        )
        return
    body = sub.get_post_data(message, message_id, subject, message_attributes=attributes)
    sqs.send_message_to_arn(target, json.dumps(body))


def sns_publish(account_id: str, region: str, topic_arn: str, subject: str, message: str) -> str:
    from moto.sns.models import sns_backends

    return str(sns_backends[account_id][region].publish(message, arn=topic_arn, subject=subject))
