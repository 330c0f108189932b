"""Pure logic of the SQS mapping: event shape, partial batch responses, batching window, spec."""

from __future__ import annotations

import json

import pytest

from localcloud.lambda_.event_sources.base import Invocation, MappingSpec, invoke_sync
from localcloud.lambda_.event_sources.exceptions import MappingConfigError
from localcloud.lambda_.event_sources.sqs import collect_batch, failed_message_ids, sqs_record

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders"
IDS = ["m1", "m2", "m3"]


def ok(payload: object) -> Invocation:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Invocation("success", 200, payload=raw)


def test_record_has_lambdas_sqs_shape() -> None:
    # GIVEN a message as boto3's ReceiveMessage returns it
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "MD5OfBody": "abc",
        "Body": '{"id": "1"}',
        "Attributes": {
            "ApproximateReceiveCount": "2",
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDA",
            "ApproximateFirstReceiveTimestamp": "1700000000100",
            "MessageGroupId": "g1",
        },
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "order"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
        },
    }
    # WHEN it becomes an event record
    record = sqs_record(message, QUEUE_ARN)
    # THEN every field Lambda documents is there, in its casing
    assert record["messageId"] == "m1" and record["receiptHandle"] == "rh"
    assert record["body"] == '{"id": "1"}' and record["md5OfBody"] == "abc"
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == QUEUE_ARN
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["attributes"]["MessageGroupId"] == "g1"
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "order",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AQI="


@pytest.mark.parametrize(
    ("invocation", "rbif", "expected"),
    [
        (Invocation("function_error", 200, function_error="Unhandled"), True, set(IDS)),
        (Invocation("throttled", 429), True, set(IDS)),
        (ok(None), False, set()),
        (ok({"batchItemFailures": [{"itemIdentifier": "m2"}]}), False, set()),  # not enabled
        (ok({"batchItemFailures": [{"itemIdentifier": "m2"}]}), True, {"m2"}),
        (ok({"batchItemFailures": []}), True, set()),
        (ok({"batchItemFailures": None}), True, set()),
        (ok({}), True, set()),
        (ok(b""), True, set()),
        (ok(b"null"), True, set()),
        (ok(b"not json"), True, set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": ""}]}), True, set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": None}]}), True, set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": "unknown"}]}), True, set(IDS)),
        (ok({"batchItemFailures": [{"id": "m1"}]}), True, set(IDS)),
        (ok({"batchItemFailures": "m1"}), True, set(IDS)),
    ],
)
def test_failed_ids_follow_the_partial_batch_rules(
    invocation: Invocation, rbif: bool, expected: set[str]
) -> None:
    assert failed_message_ids(invocation, IDS, rbif) == expected


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> bool:
        self.now += seconds
        return False


def test_window_zero_invokes_with_the_first_nonempty_receive() -> None:
    # GIVEN a queue that yields 3 then 4 messages
    arrivals = [[{"MessageId": str(i)} for i in range(3)], [{"MessageId": "x"}] * 4]
    clock = FakeClock()
    # WHEN a batch of up to 10 is collected with no window
    batch = collect_batch(
        lambda n: arrivals.pop(0) if arrivals else [], 10, 0, clock=clock, pause=clock.pause
    )
    # THEN the poller does not wait for more
    assert len(batch) == 3


def test_window_gathers_until_batch_size_or_deadline() -> None:
    clock = FakeClock()
    asked: list[int] = []

    def receive(n: int) -> list[dict[str, str]]:
        asked.append(n)
        return [{"MessageId": "m"}] * min(n, 4)

    # WHEN batch size 25 with a 5 s window and a busy queue: receives of at most 10 fill it
    batch = collect_batch(receive, 25, 5, clock=clock, pause=clock.pause)
    assert len(batch) == 25
    assert asked == [10, 10, 10, 10, 9, 5, 1]
    # AND a queue that dries up is waited on until the window closes
    clock.now = 0.0
    supply = [[{"MessageId": "a"}] * 3]
    batch = collect_batch(
        lambda n: supply.pop() if supply else [], 10, 5, clock=clock, pause=clock.pause
    )
    assert len(batch) == 3 and clock.now >= 5


def test_stop_ends_the_window_early() -> None:
    clock = FakeClock()
    batch = collect_batch(lambda n: [], 10, 60, clock=clock, pause=lambda s: True)
    assert batch == [] and clock.now < 60


def _config(**overrides: object) -> dict[str, object]:
    config: dict[str, object] = {
        "UUID": "u-1",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "EventSourceArn": QUEUE_ARN,
        "State": "Enabled",
        "BatchSize": 10,
    }
    config.update(overrides)
    return config


def test_spec_reads_every_setting() -> None:
    spec = MappingSpec.from_configuration(
        _config(
            MaximumBatchingWindowInSeconds=2,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            ScalingConfig={"MaximumConcurrency": 3},
            State="Disabled",
        )
    )
    assert spec.kind == "sqs" and spec.batching_window == 2.0
    assert spec.report_batch_item_failures and spec.maximum_concurrency == 3
    assert not spec.enabled


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"ScalingConfig": {"MaximumConcurrency": 1}}, "MaximumConcurrency"),
        ({"MaximumRecordAgeInSeconds": 30}, "MaximumRecordAgeInSeconds"),
        ({"MaximumRetryAttempts": 10_001}, "MaximumRetryAttempts"),
        ({"BatchSize": "ten"}, "BatchSize"),
        ({"FunctionArn": None}, "FunctionArn"),
    ],
)
def test_bad_spec_names_the_field(override: dict[str, object], field: str) -> None:
    with pytest.raises(MappingConfigError, match=field) as info:
        MappingSpec.from_configuration(_config(**override))
    assert "u-1" in str(info.value)


class Result:
    def __init__(self, status: int, error: str | None = None, payload: bytes = b"") -> None:
        self.status_code, self.function_error, self.payload = status, error, payload
        self.executed_version, self.request_id = "$LATEST", "r-1"


class TooManyRequests(Exception):
    pass


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        (lambda: Result(200), "success"),
        (lambda: Result(200, "Unhandled"), "function_error"),
        (lambda: Result(429), "throttled"),
        (lambda: Result(500), "failed"),
    ],
)
def test_invoke_outcomes(behaviour, outcome: str) -> None:  # type: ignore[no-untyped-def]
    assert invoke_sync(lambda *a, **k: behaviour(), "arn", b"{}").outcome == outcome


def test_runtime_throttle_exception_is_a_throttle_not_an_error() -> None:
    def invoke(*args: object, **kwargs: object) -> Result:
        raise TooManyRequests("Rate Exceeded.")

    result = invoke_sync(invoke, "arn", b"{}")
    assert result.outcome == "throttled" and result.status_code == 429


SQS_MAPPING = {"EventSourceArn": QUEUE_ARN, "FunctionName": "f", "BatchSize": 10}


@pytest.mark.parametrize(
    ("config", "visibility", "timeout", "fragment"),
    [
        (SQS_MAPPING, 30, 5, None),
        (SQS_MAPPING, 5, 30, "Queue visibility timeout: 5 seconds is less than Function timeout"),
        ({**SQS_MAPPING, "BatchSize": 50}, 30, 5, "batch window"),
        ({**SQS_MAPPING, "BatchSize": 50, "MaximumBatchingWindowInSeconds": 1}, 30, 5, None),
        ({**SQS_MAPPING, "ScalingConfig": {"MaximumConcurrency": 1}}, 30, 5, "MaximumConcurrency"),
        (
            {
                "EventSourceArn": "arn:aws:kinesis:us-east-1:1:stream/s",
                "MaximumRecordAgeInSeconds": 59,
            },
            None,
            5,
            "MaximumRecordAgeInSeconds 59",
        ),
        (
            {
                "EventSourceArn": "arn:aws:kinesis:us-east-1:1:stream/s",
                "MaximumRecordAgeInSeconds": -1,
                "MaximumRetryAttempts": -1,
            },
            None,
            5,
            None,
        ),
        (
            {"EventSourceArn": "arn:aws:kinesis:us-east-1:1:stream/s", "MaximumRetryAttempts": -2},
            None,
            5,
            "MaximumRetryAttempts -2",
        ),
    ],
)
def test_mapping_validation_refuses_what_lambda_refuses(config, visibility, timeout, fragment):  # type: ignore[no-untyped-def]
    from localcloud.lambda_.event_sources.validation import mapping_error

    error = mapping_error(config, visibility_timeout=visibility, function_timeout=timeout)
    assert (error is None) if fragment is None else (fragment in (error or ""))


def test_put_targets_retry_policy_bounds() -> None:
    from localcloud.lambda_.event_sources.validation import retry_policy_error

    assert retry_policy_error([{"Id": "t", "RetryPolicy": {"MaximumRetryAttempts": 185}}]) is None
    assert "MaximumRetryAttempts 186" in (
        retry_policy_error([{"Id": "t", "RetryPolicy": {"MaximumRetryAttempts": 186}}]) or ""
    )
    assert "MaximumEventAgeInSeconds 30" in (
        retry_policy_error([{"Id": "t", "RetryPolicy": {"MaximumEventAgeInSeconds": 30}}]) or ""
    )
