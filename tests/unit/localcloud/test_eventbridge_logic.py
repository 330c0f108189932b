"""EventBridge delivery logic: inputs, retry policy, error classification, DLQ attributes."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.events.models import Rule

from localcloud.events.targets import (
    Delivery,
    DeliveryError,
    EventBridgeDelivery,
    classify_client_error,
    next_step,
    normalize_event,
    retry_policy,
    target_input,
)
from localcloud.moto_reach.events import rule_matches

EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "OrderPlaced",
    "source": "shop",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"id": "o-1", "amount": 42, "kind": "order"},
}


RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/r"


def delivery(target: dict[str, Any], *, retries: int = 0, accepted_at: float = 0.0) -> Delivery:
    return Delivery(0.0, 0, RULE_ARN, "r", target, EVENT, accepted_at, retries)


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "SendMessage",
    )


def test_input_variants() -> None:
    assert json.loads(target_input({}, EVENT)) == EVENT
    assert target_input({"Input": '{"fixed": 1}'}, EVENT) == '{"fixed": 1}'
    assert json.loads(target_input({"InputPath": "$.detail"}, EVENT)) == EVENT["detail"]
    transformed = target_input(
        {
            "InputTransformer": {
                "InputPathsMap": {"order": "$.detail.id"},
                "InputTemplate": '{"order": "<order>", "type": "placed"}',
            }
        },
        EVENT,
    )
    assert json.loads(transformed) == {"order": "o-1", "type": "placed"}


def test_moto_time_becomes_iso_and_moto_keys_go() -> None:
    event = normalize_event({**EVENT, "time": 1767225600.0, "ingestion-time": 1.0})
    assert event["time"] == "2026-01-01T00:00:00Z" and "ingestion-time" not in event


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ({"source": ["shop"]}, True),
        ({"source": ["other"]}, False),
        ({"detail": {"kind": [{"prefix": "ord"}]}}, True),
        ({"detail": {"amount": [{"numeric": [">", 100]}]}}, False),
        ({"detail": {"kind": [{"anything-but": "refund"}]}}, True),
        ({"detail": {"missing": [{"exists": False}]}}, True),
    ],
)
def test_rule_pattern_uses_motos_matcher(pattern: dict[str, Any], matches: bool) -> None:
    rule = Rule(
        "r", "123456789012", "us-east-1", None, json.dumps(pattern), None, None, "default", None
    )
    assert rule_matches(rule, EVENT) is matches


def test_retry_policy_bounds_name_the_field() -> None:
    assert retry_policy({}) == (185, 86_400)
    with pytest.raises(ValueError, match="MaximumRetryAttempts"):
        retry_policy({"Id": "t", "RetryPolicy": {"MaximumRetryAttempts": 186}})
    with pytest.raises(ValueError, match="MaximumEventAgeInSeconds"):
        retry_policy({"Id": "t", "RetryPolicy": {"MaximumEventAgeInSeconds": 59}})


def test_next_step_retries_then_names_the_exhausted_limit() -> None:
    throttled = DeliveryError("THROTTLING", "slow down", retryable=True)
    target = {
        "Arn": "a",
        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
    }
    assert next_step(delivery(target, retries=0), throttled, 1.0, 0.01)[0] == "retry"
    assert next_step(delivery(target, retries=2), throttled, 1.0, 0.01) == (
        "dlq",
        "MaximumRetryAttempts",
    )
    # the age limit is real seconds, never scaled
    assert next_step(delivery(target, retries=0), throttled, 60.0, 0.01) == (
        "dlq",
        "MaximumEventAgeInSeconds",
    )
    missing = DeliveryError("NO_RESOURCE", "gone", retryable=False)
    assert next_step(delivery(target), missing, 1.0, 0.01) == ("dlq", None)


@pytest.mark.parametrize(
    ("exc", "code", "retryable"),
    [
        (client_error("AWS.SimpleQueueService.NonExistentQueue", 400), "NO_RESOURCE", False),
        (client_error("ResourceNotFoundException", 404), "NO_RESOURCE", False),
        (client_error("AccessDeniedException", 403), "NO_PERMISSIONS", False),
        (client_error("ThrottlingException", 400), "THROTTLING", True),
        (client_error("InternalFailure", 500), "INTERNAL_ERROR", True),
        (client_error("ValidationException", 400), "INVALID_PARAMETER", False),
    ],
)
def test_errors_map_to_eventbridge_codes(exc: Exception, code: str, retryable: bool) -> None:
    error = classify_client_error(exc)
    assert (error.code, error.retryable) == (code, retryable)


class FakeSqs:
    def __init__(self, throttle_queue: str) -> None:
        self.throttle_queue = throttle_queue
        self.sent: list[dict[str, Any]] = []
        self.attempts = 0
        self.lock = threading.Lock()

    def get_queue_url(self, QueueName: str, QueueOwnerAWSAccountId: str) -> dict[str, str]:  # noqa: N803
        return {"QueueUrl": f"http://local/{QueueOwnerAWSAccountId}/{QueueName}"}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:  # noqa: N803
        # Every queue lets EventBridge send, as the components' queue policies do.
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": "*",
        }
        return {"Attributes": {"Policy": json.dumps({"Statement": [statement]})}}

    def send_message(self, **kwargs: Any) -> dict[str, str]:
        with self.lock:
            if kwargs["QueueUrl"].endswith(self.throttle_queue):
                self.attempts += 1
                raise client_error("ThrottlingException", 400)
            self.sent.append(kwargs)
        return {"MessageId": "m"}


def test_throttled_target_is_retried_then_dead_lettered_with_attributes() -> None:
    # GIVEN an SQS target that always throttles, 3 retries allowed, and a DLQ
    sqs = FakeSqs("busy")
    service = EventBridgeDelivery(
        clients=lambda name: sqs, invoke=lambda *a, **k: None, time_scale=0.001, workers=2
    )
    target = {
        "Id": "t1",
        "Arn": "arn:aws:sqs:us-east-1:123456789012:busy",
        "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
        "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:123456789012:dlq"},
    }
    service.start_workers()
    try:
        # WHEN one matched event is handed to the target
        service.enqueue(RULE_ARN, "r", target, EVENT)
        deadline = time.monotonic() + 10
        while not sqs.sent and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        service.stop()
    # THEN 1 + 3 attempts were made and the DLQ message carries EventBridge's attributes
    assert sqs.attempts == 4
    (message,) = sqs.sent
    assert message["QueueUrl"].endswith("/dlq") and json.loads(message["MessageBody"]) == EVENT
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {
        "RULE_ARN": "arn:aws:events:us-east-1:123456789012:rule/r",
        "TARGET_ARN": "arn:aws:sqs:us-east-1:123456789012:busy",
        "ERROR_CODE": "THROTTLING",
        "ERROR_MESSAGE": attributes["ERROR_MESSAGE"],
        "RETRY_ATTEMPTS": "3",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
    }
    assert "ThrottlingException" in attributes["ERROR_MESSAGE"]
