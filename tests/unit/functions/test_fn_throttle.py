"""FAILMODES_THROTTLE: the function's own SDK calls fail with each service's real throttling error.

The injected answer replaces the HTTP exchange (nothing is sent: these tests
need no endpoint), and botocore's retry handler sees it, as with a real throttle.
"""

from __future__ import annotations

import logging

import botocore.endpoint
import pytest
from botocore.exceptions import ClientError

from functions.common import clients
from functions.faults import base, inject_faults, settings
from tests.unit.functions.fn_factories import FakeContext, new_id, sns_event

CALLS = {
    "dynamodb": ("ProvisionedThroughputExceededException", lambda c: c.list_tables()),
    "kinesis": (
        "ProvisionedThroughputExceededException",
        lambda c: c.put_record(StreamName="s", Data=b"x", PartitionKey="k"),
    ),
    "sqs": (
        "RequestThrottled",
        lambda c: c.send_message(
            QueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/q", MessageBody="x"
        ),
    ),
    "sns": (
        "Throttling",
        lambda c: c.publish(TopicArn="arn:aws:sns:us-east-1:123456789012:t", Message="x"),
    ),
    "events": (
        "ThrottlingException",
        lambda c: c.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}]),
    ),
    "lambda": ("TooManyRequestsException", lambda c: c.invoke(FunctionName="f", Payload=b"{}")),
    "stepfunctions": (
        "ThrottlingException",
        lambda c: c.start_execution(
            stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:m"
        ),
    ),
}


@pytest.fixture
def sent(monkeypatch):
    """Count botocore's backoff sleeps instead of sleeping, and fail any real HTTP send."""
    sleeps: list[float] = []
    monkeypatch.setattr(botocore.endpoint.time, "sleep", sleeps.append)

    def no_network(self, request):
        raise AssertionError(f"a throttled call reached the network: {request.url}")

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_send", no_network)
    return sleeps


@inject_faults
def call(event, context):
    return CALLS[event["service"]][1](clients.client(event["service"]))


def _throttle(monkeypatch, spec: str, **extra: str) -> None:
    monkeypatch.setenv(settings.MASTER, "on")
    monkeypatch.setenv(settings.THROTTLE, spec)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("service", sorted(CALLS))
def test_each_service_gets_its_own_throttling_code(monkeypatch, sent, service: str) -> None:
    # GIVEN every call to the service is throttled, with no SDK retries
    _throttle(monkeypatch, f"{service}:1", AWS_MAX_ATTEMPTS="1")
    # WHEN the function calls it THEN the SDK raises the service's throttling ClientError
    with pytest.raises(ClientError) as caught:
        call({"service": service}, FakeContext())
    code, status = caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]
    assert code == CALLS[service][0] == settings.THROTTLE_ERRORS[service].code
    assert status["HTTPStatusCode"] == settings.THROTTLE_ERRORS[service].status
    # AND the modelled exception class matches where botocore has one
    assert type(caught.value).__name__ in (code, "ClientError", "ThrottledException")


@pytest.mark.parametrize(
    ("mode", "service", "attempts"),
    [
        ("standard", "dynamodb", 4),
        ("standard", "lambda", 3),
        ("legacy", "sqs", 5),
        ("legacy", "dynamodb", 10),
    ],
)
def test_the_sdk_retries_an_injected_throttle_like_a_real_one(
    monkeypatch, sent, mode: str, service: str, attempts: int
) -> None:
    # GIVEN a permanent throttle and the SDK's default attempts for the retry mode
    _throttle(monkeypatch, f"{service}:1", AWS_RETRY_MODE=mode)
    # WHEN one call is made
    with pytest.raises(ClientError) as caught:
        call({"service": service}, FakeContext())
    # THEN botocore retried it with backoff and gave up after its usual attempts
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == attempts - 1
    assert len(sent) == attempts - 1 and all(s > 0 for s in sent[1:])


def _answer_list_tables(request=None, **kwargs):
    """A stand-in DynamoDB for the calls that are not throttled (registered after the hook)."""
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_):
            yield b'{"TableNames": []}'

    return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, Raw())


def test_a_partial_throttle_rate_is_seeded_and_retries_can_succeed(monkeypatch) -> None:
    # GIVEN half of DynamoDB calls throttled, the rest answered, standard retries (4 attempts)
    _throttle(monkeypatch, "dynamodb:0.5", FAILMODES_SEED="11", AWS_RETRY_MODE="standard")
    monkeypatch.setattr(botocore.endpoint.time, "sleep", lambda s: None)
    monkeypatch.setattr(logging.getLogger(base.logger.name), "disabled", True)  # 250 warnings

    @inject_faults
    def list_many(event, context):
        ddb = clients.client("dynamodb")
        ddb.meta.events.register("before-send.dynamodb", _answer_list_tables)
        outcomes = []
        for _ in range(200):
            try:
                outcomes.append(ddb.list_tables()["ResponseMetadata"]["RetryAttempts"])
            except ClientError:
                outcomes.append(-1)
        return outcomes

    # WHEN 200 calls run THEN most succeed, many only after retries, a few exhaust all 4 attempts
    outcomes = list_many({}, FakeContext())
    retried = sum(1 for o in outcomes if o > 0)
    exhausted = outcomes.count(-1)
    assert 72 < retried < 128  # P(retried) = 0.5: 100 +- 4 sd
    assert 2 < exhausted < 30  # P(4 throttles in a row) = 0.0625, about 12 of 200
    # AND the seed replays the same outcomes (on a fresh client: the standard retry mode's
    # retry quota is per client and would otherwise carry over)
    clients.reset(session=False)
    monkeypatch.setattr(base, "_draws", None)
    monkeypatch.setattr(settings, "_cache_key", None)
    assert list_many({}, FakeContext()) == outcomes


def test_calls_outside_an_invocation_or_unmatched_are_not_throttled(monkeypatch, aws) -> None:
    _throttle(monkeypatch, "dynamodb:1", AWS_MAX_ATTEMPTS="1", FAILMODES_MATCH="payload.hit")
    ddb = clients.client("dynamodb")
    assert "TableNames" in ddb.list_tables()  # not inside an invocation
    assert "TableNames" in call({"service": "dynamodb"}, FakeContext())  # event does not match
    with pytest.raises(ClientError):
        call({"service": "dynamodb", "hit": True}, FakeContext())


def test_a_handler_sees_the_throttle_after_the_sdk_retries(monkeypatch, aws) -> None:
    # GIVEN the ride writer with every DynamoDB call throttled
    from functions.ride_writer.handler import handler

    monkeypatch.setenv("RIDES_TABLE", "rides")
    _throttle(monkeypatch, "dynamodb:1", AWS_RETRY_MODE="standard")
    monkeypatch.setattr(botocore.endpoint.time, "sleep", lambda s: None)
    # WHEN an SNS event arrives THEN the invocation fails with DynamoDB's throttling error
    with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
        handler(sns_event({"id": new_id()}), FakeContext())
