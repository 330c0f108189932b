"""Each handler against its trigger's event shape, with boto3 under moto's in-process mock."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.stub import Stubber

from functions.common import clients
from functions.common.exceptions import MissingConfigError, PoisonEventError
from functions.faults import settings
from tests.unit.functions.fn_factories import (
    FakeContext,
    api_event,
    catch_input,
    kinesis_event,
    kinesis_record,
    ledger_items,
    new_id,
    sns_event,
    sqs_event,
)


def test_queue_worker_reports_only_the_bad_records(aws) -> None:
    from functions.queue_worker.handler import handler

    # GIVEN a batch with two good events, a poison event and a body that is not JSON
    good = [new_id(), new_id()]
    event = sqs_event(
        {"id": good[0]}, {"id": new_id(), "poison": True}, "not json", {"id": good[1]}
    )
    # WHEN the worker runs
    response = handler(event, FakeContext())
    # THEN exactly the bad records are reported, and the good ones are in the ledger once
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed == {event["Records"][1]["messageId"], event["Records"][2]["messageId"]}
    assert ledger_items(aws) == {good[0]: 1, good[1]: 1}


def test_queue_worker_raises_when_the_whole_batch_fails(aws) -> None:
    from functions.queue_worker.handler import handler

    with pytest.raises(BatchProcessingError):
        handler(sqs_event({"id": "p", "poison": True}), FakeContext())


def test_queue_worker_fifo_fails_the_rest_of_the_group(aws) -> None:
    from functions.queue_worker.handler import handler

    event = sqs_event({"id": "a"}, "broken", {"id": "c"}, queue="work.fifo")
    response = handler(event, FakeContext())
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [r["messageId"] for r in event["Records"][1:]]
    assert ledger_items(aws) == {"a": 1}


def test_idempotency_keeps_a_redelivered_event_from_counting_twice(idempotent) -> None:
    from functions.queue_worker.handler import handler

    # GIVEN the same event delivered twice (at-least-once SQS), with IDEMPOTENCY_TABLE set
    event_id = new_id()
    handler(sqs_event({"id": event_id}), FakeContext())
    handler(sqs_event({"id": event_id}), FakeContext())
    # THEN its side effect ran once
    assert ledger_items(idempotent) == {event_id: 1}


def test_without_an_idempotency_table_a_duplicate_is_visible(aws) -> None:
    from functions.queue_worker.handler import handler

    event_id = new_id()
    for _ in range(2):
        handler(sqs_event({"id": event_id}), FakeContext())
    assert ledger_items(aws) == {event_id: 2}  # the ledger shows what idempotency prevents


def test_a_missing_ledger_table_is_a_loud_error(aws, monkeypatch) -> None:
    from functions.async_worker.handler import handler

    monkeypatch.delenv("LEDGER_TABLE")
    with pytest.raises(MissingConfigError, match="LEDGER_TABLE"):
        handler({"id": new_id()}, FakeContext())


def test_stream_processor_reports_failures_by_sequence_number(aws) -> None:
    from functions.stream_processor.handler import handler

    event = kinesis_event({"id": "k1"}, {"id": "k2", "poison": True}, {"id": "k3"})
    event["Records"].append(kinesis_record(None, raw=b"\xff\xfe not json"))
    response = handler(event, FakeContext())
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    assert failed == [seqs[1], seqs[3]]
    assert ledger_items(aws) == {"k1": 1, "k3": 1}


def test_stream_processor_per_record_fault(aws, monkeypatch) -> None:
    from functions.stream_processor.handler import handler

    monkeypatch.setenv(settings.MASTER, "on")
    monkeypatch.setenv(settings.FAILURE_RATE, "1")
    monkeypatch.setenv(settings.MATCH, "payload.id == 'k2'")
    event = kinesis_event({"id": "k1"}, {"id": "k2"})
    response = handler(event, FakeContext())
    assert response["batchItemFailures"] == [
        {"itemIdentifier": event["Records"][1]["kinesis"]["sequenceNumber"]}
    ]
    assert ledger_items(aws) == {"k1": 1}


@pytest.mark.parametrize("shape", ["sns", "direct"])
def test_async_worker_processes_sns_and_direct_payloads(aws, shape: str) -> None:
    from functions.async_worker.handler import handler

    event_id = new_id()
    event = sns_event({"id": event_id}) if shape == "sns" else {"id": event_id}
    assert handler(event, FakeContext())["processed"][0]["id"] == event_id
    assert ledger_items(aws) == {event_id: 1}


@pytest.mark.parametrize(
    "event", [sns_event({"id": "x", "poison": True}), sns_event("{"), {"no": "id"}]
)
def test_async_worker_raises_on_poison(aws, event) -> None:
    from functions.async_worker.handler import handler

    with pytest.raises(PoisonEventError):
        handler(event, FakeContext())
    assert ledger_items(aws) == {}


def test_ride_writer_puts_the_ride_and_records_it(aws, monkeypatch) -> None:
    from functions.ride_writer.handler import handler

    aws.ddb.create_table(
        TableName="rides",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("RIDES_TABLE", "rides")
    event_id = new_id()
    handler(sns_event({"id": event_id, "rider": "r1"}), FakeContext())
    item = aws.ddb.get_item(TableName="rides", Key={"id": {"S": event_id}})["Item"]
    assert json.loads(item["payload"]["S"]) == {"id": event_id, "rider": "r1"}
    assert ledger_items(aws) == {event_id: 1}


@pytest.fixture
def bus(aws, monkeypatch):
    aws.events.create_event_bus(Name="unit-bus")
    monkeypatch.setenv("EVENT_BUS_NAME", "unit-bus")
    monkeypatch.setenv("EVENT_SOURCE", "failmodes.notifier")
    monkeypatch.setenv("EVENT_DETAIL_TYPE", "OrderPlaced")
    return aws


def test_handlers_without_the_settings_their_component_sets_name_the_variable(
    aws, monkeypatch
) -> None:
    from functions.delivery.handler import post_once
    from functions.notifier.handler import handler as notifier
    from functions.slow_api.handler import handler as slow_api

    # GIVEN no DELIVERY_*, SLOW_API_* or EVENT_* variables: no second copy of the defaults
    with pytest.raises(MissingConfigError, match="SLOW_API_FAILURE_RATE"):
        slow_api(api_event({"id": "s"}), FakeContext())
    with pytest.raises(MissingConfigError, match="DELIVERY_HTTP_TIMEOUT"):
        post_once({"id": "d"}, FakeContext())
    monkeypatch.setenv("EVENT_BUS_NAME", "unit-bus")
    with pytest.raises(MissingConfigError, match="EVENT_SOURCE"):
        notifier(api_event({"id": "n"}), FakeContext())


def test_notifier_publishes_with_a_correlation_id(bus) -> None:
    from functions.notifier.handler import handler

    event_id = new_id()
    response = handler(
        api_event({"id": event_id}, headers={"X-Correlation-Id": "corr-1"}), FakeContext()
    )
    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"id": event_id, "correlation_id": "corr-1"}
    assert ledger_items(bus) == {event_id: 1}


def test_notifier_makes_a_correlation_id_when_none_is_given(bus) -> None:
    from functions.notifier.handler import handler

    body = json.loads(handler(api_event({"id": "n1"}, base64_body=True), FakeContext())["body"])
    assert body["id"] == "n1" and len(body["correlation_id"]) == 36


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (None, "no body"),
        ("nope", "not JSON"),
        ([1], "not an object"),
        ({"id": 5}, "no string `id`"),
    ],
)
def test_notifier_rejects_bad_bodies_with_400_naming_the_problem(bus, body, problem: str) -> None:
    from functions.notifier.handler import handler

    response = handler(api_event(body), FakeContext())
    assert response["statusCode"] == 400
    assert problem in json.loads(response["body"])["message"]
    assert ledger_items(bus) == {}


def test_notifier_treats_a_refused_entry_as_an_error(bus) -> None:
    from functions.notifier.handler import PublishError, handler

    with Stubber(clients.client("events")) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}],
            },
        )
        with pytest.raises(PublishError, match="InternalFailure"):
            handler(api_event({"id": "refused"}), FakeContext())
    assert ledger_items(bus) == {}


def test_workflow_step_completes_and_names_its_errors(aws) -> None:
    from functions.workflow_step.handler import (
        PermanentStepError,
        TransientStepError,
        handler,
    )

    assert handler({"id": "w1", "extra": 1}, FakeContext()) == {
        "id": "w1",
        "extra": 1,
        "status": "done",
    }
    with pytest.raises(PermanentStepError):
        handler({"id": "w2", "fail": "permanent"}, FakeContext())
    with pytest.raises(TransientStepError):
        handler({"id": "w3", "fail": "transient"}, FakeContext())
    with pytest.raises(PoisonEventError):
        handler({"id": "w4", "poison": True}, FakeContext())
    with pytest.raises(PoisonEventError, match="unknown fail mode"):
        handler({"id": "w5", "fail": "sometimes"}, FakeContext())
    assert ledger_items(aws) == {"w1": 1}


def test_a_transient_step_succeeds_after_its_failing_attempts(aws) -> None:
    from functions.workflow_step.handler import TransientStepError, handler

    event = {"id": "t1", "fail": "transient", "fail_attempts": 2}
    for _ in range(2):
        with pytest.raises(TransientStepError):
            handler(event, FakeContext())
    assert handler(event, FakeContext())["status"] == "done"
    assert ledger_items(aws) == {"t1": 1}
    assert ledger_items(aws, "unit#attempts") == {"t1": 3}


def test_compensation_writes_a_failure_record(aws, monkeypatch) -> None:
    from functions.compensation.handler import handler

    url = aws.sqs.create_queue(QueueName="failures")["QueueUrl"]
    monkeypatch.setenv("FAILURE_QUEUE_URL", url)
    cause = json.dumps({"errorMessage": "boom", "errorType": "PermanentStepError"})
    result = handler(catch_input("c1", "PermanentStepError", cause, poison=True), FakeContext())
    assert result["status"] == "compensated"
    messages = aws.sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    record = json.loads(messages[0]["Body"])
    assert record["id"] == "c1" and record["error"] == "PermanentStepError"
    assert record["cause"] == cause and record["cause_detail"]["errorMessage"] == "boom"
    assert record["input"] == {"id": "c1", "poison": True}
    assert messages[0]["MessageAttributes"]["event_id"]["StringValue"] == "c1"
    assert ledger_items(aws) == {"c1": 1}


def test_compensation_rejects_input_without_an_error(aws, monkeypatch) -> None:
    from functions.compensation.handler import handler

    monkeypatch.setenv("FAILURE_QUEUE_URL", "unused")
    with pytest.raises(PoisonEventError, match="error.Error"):
        handler({"id": "c2"}, FakeContext())


def test_slow_api_fails_about_its_rate_and_is_otherwise_slow(monkeypatch) -> None:
    from functions.slow_api import handler as slow

    # GIVEN the seed demo's 20% failure rate, 1-4 ms delays (sleeps recorded), and a seed;
    # ledger writes are recorded in memory (moto's UpdateItem costs ~45 ms; covered elsewhere)
    delays: list[float] = []
    recorded: list[str] = []
    monkeypatch.setattr(slow, "sleep", delays.append)
    monkeypatch.setattr(slow.ledger, "record", recorded.append)
    for name, value in {
        "SLOW_API_FAILURE_RATE": "0.2",
        "SLOW_API_MIN_DELAY": "0.001",
        "SLOW_API_MAX_DELAY": "0.004",
        "SLOW_API_SEED": "5",
    }.items():
        monkeypatch.setenv(name, value)
    # WHEN 500 calls arrive
    statuses = [
        slow.handler(api_event({"id": f"s{i}"}), FakeContext())["statusCode"] for i in range(500)
    ]
    # THEN about 20% fail at once, and the rest waited within the range and answered 200
    assert abs(statuses.count(500) / 500 - 0.2) < 0.06
    assert statuses.count(200) == len(delays) == 500 - statuses.count(500)
    assert all(0.001 <= d <= 0.004 for d in delays)
    assert recorded == [f"s{i}" for i, status in enumerate(statuses) if status == 200]


def test_slow_api_400_on_a_missing_id_and_raises_on_poison(aws, monkeypatch) -> None:
    from functions.slow_api.handler import handler

    # GIVEN the variables SlowApi always sets (the handler has no fallbacks)
    for name in ("SLOW_API_FAILURE_RATE", "SLOW_API_MIN_DELAY", "SLOW_API_MAX_DELAY"):
        monkeypatch.setenv(name, "0")

    assert handler(api_event({"x": 1}), FakeContext())["statusCode"] == 400
    with pytest.raises(PoisonEventError):
        handler(api_event({"id": "p", "poison": True}), FakeContext())
