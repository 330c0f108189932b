"""SNS -> Lambda delivery: the real envelope, invoked asynchronously, with the subscription's
redrive policy (DLQ) for what SNS cannot deliver.

AWS behaviour (SNS developer guide, "Message delivery retries", "Dead-letter
queues"): a client-side error (the function does not exist, access denied) is
not retried and goes straight to the subscription's DLQ; a server-side error
(throttling, service unavailable) is retried on the AWS-managed-endpoint
schedule (3 immediately, 2 at 1 s, 10 backing off 1 s -> 20 s, then 100,000 at
20 s), compressed by the time scale, then goes to the DLQ. Filter policies are
applied by moto before delivery reaches here.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localcloud.iam.resource_policy import queue_allows
from localcloud.lambda_.types import LambdaApiError

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

logger = logging.getLogger(__name__)

MAX_PARALLEL_DELIVERIES = 16


def delivery_delays() -> Iterator[float]:
    """AWS's delay (in AWS seconds) before each retry to a Lambda or SQS endpoint."""
    yield from (0.0, 0.0, 0.0)
    yield from (1.0, 1.0)
    for step in range(10):  # exponential backoff from 1 s to 20 s
        yield min(20.0, 1.0 * (20.0 ** (step / 9)))
    for _ in range(100_000):
        yield 20.0


def sns_lambda_event(
    *,
    subscription_arn: str,
    topic_arn: str,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: dict[str, Any],
    endpoint: str,
) -> dict[str, Any]:
    """The event Lambda receives from SNS (Records[0].Sns...)."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": notification(
                    topic_arn=topic_arn,
                    message=message,
                    message_id=message_id,
                    subject=subject,
                    message_attributes=message_attributes,
                    endpoint=endpoint,
                    subscription_arn=subscription_arn,
                ),
            }
        ]
    }


def notification(
    *,
    topic_arn: str,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: dict[str, Any],
    endpoint: str,
    subscription_arn: str,
) -> dict[str, Any]:
    region = topic_arn.split(":")[3]
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic_arn,
        "Subject": subject,
        "Message": message,
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertUrl": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-local.pem",
        "UnsubscribeUrl": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe"
        f"&SubscriptionArn={subscription_arn}",
        "MessageAttributes": {
            k: {"Type": v.get("Type"), "Value": v.get("Value")}
            for k, v in message_attributes.items()
        },
    }


class SnsLambdaDelivery:
    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self._pool: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._sqs: Any = None
        self._pending = 0
        self._pending_lock = threading.Lock()

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(MAX_PARALLEL_DELIVERIES, thread_name_prefix="sns-lambda")

    def stop(self) -> None:
        self._stopping.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def pending(self) -> int:
        with self._pending_lock:
            return self._pending

    def deliver(
        self,
        *,
        subscription_arn: str,
        topic_arn: str,
        endpoint: str,
        attributes: dict[str, Any],
        message: str,
        message_id: str,
        subject: str | None,
        message_attributes: dict[str, Any],
    ) -> None:
        """Called by moto's publish (under the cloud lock): queue the delivery and return."""
        event = sns_lambda_event(
            subscription_arn=subscription_arn,
            topic_arn=topic_arn,
            message=message,
            message_id=message_id,
            subject=subject,
            message_attributes=message_attributes,
            endpoint=endpoint,
        )
        if self._pool is None:
            raise RuntimeError("SNS delivery is not started")
        with self._pending_lock:
            self._pending += 1
        self._pool.submit(self._deliver, endpoint, attributes, event)

    def _deliver(self, endpoint: str, attributes: dict[str, Any], event: dict[str, Any]) -> None:
        try:
            self._attempts(endpoint, attributes, event)
        except Exception:
            logger.exception("SNS delivery to %s failed inside the local cloud", endpoint)
        finally:
            with self._pending_lock:
                self._pending -= 1

    def _attempts(self, endpoint: str, attributes: dict[str, Any], event: dict[str, Any]) -> None:
        parts = endpoint.split(":")
        qualifier = parts[7] if len(parts) == 8 else None
        function = ":".join(parts[:7])
        payload = json.dumps(event)
        delays = delivery_delays()
        while not self._stopping.is_set():
            try:
                # SNS may invoke only with the function's grant to sns.amazonaws.com for
                # this topic; without it, AccessDenied: a client error, sent to the DLQ.
                self.cloud.lambdas.invoke_as(
                    "sns.amazonaws.com",
                    function,
                    payload,
                    source_arn=event["Records"][0]["Sns"]["TopicArn"],
                    invocation_type="Event",
                    qualifier=qualifier,
                )
                return
            except LambdaApiError as exc:
                if 400 <= exc.status < 500 and exc.status != 429:
                    # A client-side error (e.g. no such function): SNS does not retry it.
                    self._dead_letter(attributes, event, exc)
                    return
                # A server-side error or throttle: retried on SNS's schedule.
                delay = next(delays, None)
                if delay is None:
                    self._dead_letter(attributes, event, exc)
                    return
                self._stopping.wait(self.cloud.clock.scaled(delay))

    def _dead_letter(
        self, attributes: dict[str, Any], event: dict[str, Any], exc: Exception
    ) -> None:
        record = event["Records"][0]
        policy = attributes.get("RedrivePolicy")
        target = json.loads(policy).get("deadLetterTargetArn") if policy else None
        if not target:
            logger.warning(
                "SNS could not deliver to %s and the subscription has no DLQ: %s",
                record["EventSubscriptionArn"],
                exc,
            )
            return
        sns = record["Sns"]
        body = json.dumps({k: v for k, v in sns.items() if v is not None or k == "Subject"})
        attrs = {
            name: {"DataType": value["Type"], "StringValue": str(value["Value"])}
            for name, value in sns["MessageAttributes"].items()
            if value.get("Type") in ("String", "Number", "String.Array")
        }
        if self._sqs is None:
            self._sqs = self.cloud.internal_client("sqs")
        queue_url = self._sqs.get_queue_url(
            QueueName=target.split(":")[5], QueueOwnerAWSAccountId=target.split(":")[4]
        )["QueueUrl"]
        topic = sns["TopicArn"]
        if not queue_allows(
            self._sqs,
            queue_url,
            "sns.amazonaws.com",
            source_arn=topic,
            source_account=topic.split(":")[4],
        ):
            # SNS needs sqs:SendMessage on its DLQ (SNS guide, "Dead-letter queues"): lost.
            logger.error(
                "SNS may not write to the DLQ %s of %s (its policy does not allow"
                " sns.amazonaws.com from %s): message dropped",
                target,
                record["EventSubscriptionArn"],
                topic,
            )
            return
        kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body}
        if attrs:
            kwargs["MessageAttributes"] = attrs
        self._sqs.send_message(**kwargs)
