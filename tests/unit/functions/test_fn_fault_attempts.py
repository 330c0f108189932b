"""Attempt-aware faults: FAIL_ATTEMPTS, FAIL_PHASE, RECORD_ATTEMPTS, on the real handlers.

The attempt number of an SQS record is its ApproximateReceiveCount; of anything else, the
count in the ledger partition attempts:<LEDGER_PATTERN>. These tests replay redeliveries by
calling the handler again with the same event (SQS: the same message, its count bumped).
"""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from functions.faults import (
    FaultConfigError,
    InjectedFailure,
    InjectedTimeout,
    base,
    event_id_of,
    fault_record,
    inject_faults,
    record_faults,
    settings,
)
from tests.unit.functions.fn_factories import (
    PATTERN,
    FakeContext,
    api_event,
    eventbridge_event,
    kinesis_record,
    ledger_items,
    new_id,
    sns_event,
    sqs_event,
    sqs_record,
)

ATTEMPTS = settings.attempts_partition(PATTERN)


def faults(monkeypatch, **values: str) -> None:
    monkeypatch.setenv(settings.MASTER, "on")
    for name, value in values.items():
        monkeypatch.setenv(getattr(settings, name.upper()), value)


@pytest.fixture
def slept(monkeypatch):
    delays: list[float] = []
    monkeypatch.setattr(base, "sleep", delays.append)
    return delays


def _redelivered(body: dict, receive_count: int, message_id: str) -> dict:
    return {"Records": [sqs_record(body, message_id=message_id, receive_count=receive_count)]}


def test_the_attempts_partition_is_the_prefix_and_the_pattern() -> None:
    assert settings.ATTEMPTS_PREFIX == "attempts:"
    assert settings.attempts_partition("queue_worker") == "attempts:queue_worker"


# --- FAIL_ATTEMPTS: attempts 1..N fail, N+1 runs ---------------------------------------------


def test_sqs_attempts_follow_the_receive_count(aws, monkeypatch) -> None:
    from functions.queue_worker.handler import handler

    # GIVEN the first 2 attempts of every event fail
    faults(monkeypatch, fail_attempts="2")
    event_id, message_id = new_id(), new_id()
    # WHEN SQS delivers the message with ApproximateReceiveCount 1 and 2
    for receive_count in (1, 2):
        with pytest.raises(BatchProcessingError):  # its only record failed
            handler(_redelivered({"id": event_id}, receive_count, message_id), FakeContext())
        # THEN nothing was processed yet
        assert ledger_items(aws) == {}
    # AND the third receive is processed
    response = handler(_redelivered({"id": event_id}, 3, message_id), FakeContext())
    assert response == {"batchItemFailures": []}
    assert ledger_items(aws) == {event_id: 1}
    assert ledger_items(aws, ATTEMPTS) == {event_id: 3}


def test_sqs_attempt_number_is_the_receive_count_not_the_ledger(aws, monkeypatch) -> None:
    from functions.queue_worker.handler import handler

    # GIVEN FAIL_ATTEMPTS=2 and a message SQS already handed out twice (e.g. to invocations that
    # were throttled or died before the middleware ran), so this is its third receive
    faults(monkeypatch, fail_attempts="2")
    event_id = new_id()
    # WHEN the function sees it for the first time
    handler(_redelivered({"id": event_id}, 3, new_id()), FakeContext())
    # THEN it runs: SQS dead-letters by its own count, so the fault must count the same way
    assert ledger_items(aws) == {event_id: 1}
    assert ledger_items(aws, ATTEMPTS) == {event_id: 1}  # the function's own count differs


def test_async_attempts_follow_the_ledger_counter(aws, monkeypatch) -> None:
    from functions.async_worker.handler import handler

    # GIVEN the first 2 attempts fail, and a direct async payload (Lambda retries the same event)
    faults(monkeypatch, fail_attempts="2")
    event_id = new_id()
    # WHEN it is invoked three times
    for attempt in (1, 2):
        with pytest.raises(InjectedFailure, match=f"attempt {attempt}"):
            handler({"id": event_id}, FakeContext())
    result = handler({"id": event_id}, FakeContext())
    # THEN attempts 1 and 2 failed before the side effect, the third ran it
    assert result["processed"][0]["id"] == event_id
    assert ledger_items(aws) == {event_id: 1}
    assert ledger_items(aws, ATTEMPTS) == {event_id: 3}


def test_sns_attempts_follow_the_ledger_counter(aws, monkeypatch) -> None:
    from functions.ride_writer.handler import handler

    aws.ddb.create_table(
        TableName="rides",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("RIDES_TABLE", "rides")
    faults(monkeypatch, fail_attempts="1")
    event_id = new_id()
    # GIVEN one SNS notification, retried by Lambda's async retries (each retry: a new record
    # envelope around the same Message)
    with pytest.raises(InjectedFailure):
        handler(sns_event({"id": event_id}), FakeContext())
    # WHEN it is retried THEN it is written once
    handler(sns_event({"id": event_id}), FakeContext())
    assert ledger_items(aws) == {event_id: 1}
    assert ledger_items(aws, ATTEMPTS) == {event_id: 2}


def test_kinesis_records_are_faulted_by_their_counted_attempts(aws, monkeypatch) -> None:
    from functions.stream_processor.handler import handler

    # GIVEN only matching records fail their first attempt
    faults(monkeypatch, fail_attempts="1", match="payload.target == 'yes'")
    hit, other = new_id(), new_id()
    event = {
        "Records": [kinesis_record({"id": hit, "target": "yes"}), kinesis_record({"id": other})]
    }
    # WHEN the batch is delivered
    first = handler(event, FakeContext())
    # THEN only the matching record is reported, by its sequence number
    assert first == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][0]["kinesis"]["sequenceNumber"]}]
    }
    assert ledger_items(aws) == {other: 1}
    # AND when Lambda retries it, it passes
    assert handler(event, FakeContext()) == {"batchItemFailures": []}
    assert ledger_items(aws)[hit] == 1
    # AND only the matching record was counted (RECORD_ATTEMPTS is off)
    assert ledger_items(aws, ATTEMPTS) == {hit: 2}


def test_a_workflow_step_retry_passes_after_its_failing_attempts(aws, monkeypatch) -> None:
    from functions.workflow_step.handler import handler

    # GIVEN Step Functions' Retry re-invokes the task with the same input
    faults(monkeypatch, fail_attempts="2")
    state = {"id": new_id(), "order": 7}
    for _ in range(2):
        with pytest.raises(InjectedFailure):
            handler(state, FakeContext())
    # WHEN the third attempt runs THEN it completes
    assert handler(state, FakeContext())["status"] == "done"
    assert ledger_items(aws, ATTEMPTS) == {state["id"]: 3}


def test_zero_fail_attempts_fails_nothing_and_counts_nothing(aws, monkeypatch) -> None:
    from functions.async_worker.handler import handler

    faults(monkeypatch, fail_attempts="0")
    event_id = new_id()
    handler({"id": event_id}, FakeContext())
    assert ledger_items(aws) == {event_id: 1}
    assert ledger_items(aws, ATTEMPTS) == {}


def test_attempts_fault_comes_first_then_the_rate_applies(aws, monkeypatch) -> None:
    # GIVEN FAIL_ATTEMPTS=1 and FAILURE_RATE=1
    faults(monkeypatch, fail_attempts="1", failure_rate="1")
    echo = inject_faults(lambda event, context: event)
    # WHEN the first attempt runs THEN the attempts fault is the one named
    with pytest.raises(InjectedFailure, match=settings.FAIL_ATTEMPTS):
        echo({"id": "e1"}, None)
    # AND past N the rate still fails it
    with pytest.raises(InjectedFailure, match=settings.FAILURE_RATE):
        echo({"id": "e1"}, None)


# --- FAIL_PHASE=after: the side effect happened, the attempt still fails -----------------------


def test_after_phase_runs_the_side_effect_then_fails(aws, monkeypatch) -> None:
    from functions.async_worker.handler import handler

    # GIVEN every invocation fails after the handler returned
    faults(monkeypatch, failure_rate="1", fail_phase="after")
    event_id = new_id()
    # WHEN it runs THEN it raises, and yet its ledger write landed
    with pytest.raises(InjectedFailure, match="phase after"):
        handler({"id": event_id}, FakeContext())
    assert ledger_items(aws) == {event_id: 1}


def test_after_phase_redelivery_is_a_visible_duplicate_without_idempotency(
    aws, monkeypatch
) -> None:
    from functions.async_worker.handler import handler

    # GIVEN the first attempt crashes after its write, and no idempotency table
    faults(monkeypatch, fail_attempts="1", fail_phase="after")
    event_id = new_id()
    with pytest.raises(InjectedFailure):
        handler({"id": event_id}, FakeContext())
    # WHEN the retry runs THEN the side effect ran twice: the duplicate the verdicts look for
    handler({"id": event_id}, FakeContext())
    assert ledger_items(aws) == {event_id: 2}


def test_after_phase_redelivery_is_absorbed_by_idempotency(idempotent, monkeypatch) -> None:
    from functions.async_worker.handler import handler

    faults(monkeypatch, fail_attempts="1", fail_phase="after")
    event_id = new_id()
    with pytest.raises(InjectedFailure):
        handler({"id": event_id}, FakeContext())
    handler({"id": event_id}, FakeContext())
    assert ledger_items(idempotent) == {event_id: 1}


def test_before_phase_fails_without_the_side_effect(aws, monkeypatch) -> None:
    from functions.async_worker.handler import handler

    faults(monkeypatch, failure_rate="1", fail_phase="before")
    with pytest.raises(InjectedFailure):
        handler({"id": new_id()}, FakeContext())
    assert ledger_items(aws) == {}


def test_after_phase_on_a_batch_reports_the_processed_record(aws, monkeypatch) -> None:
    from functions.queue_worker.handler import handler

    # GIVEN matching records fail their first attempt after the record handler returned
    faults(monkeypatch, fail_attempts="1", fail_phase="after", match="payload.target == 'yes'")
    hit, other = new_id(), new_id()
    event = sqs_event({"id": hit, "target": "yes"}, {"id": other})
    # WHEN the batch runs
    response = handler(event, FakeContext())
    # THEN the matching record is a batch item failure although its side effect happened
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert ledger_items(aws) == {hit: 1, other: 1}


def test_after_phase_leaves_a_handler_error_as_it_is(aws, monkeypatch) -> None:
    from functions.async_worker.handler import handler
    from functions.common.exceptions import PoisonEventError

    faults(monkeypatch, failure_rate="1", fail_phase="after")
    with pytest.raises(PoisonEventError):
        handler({"id": new_id(), "poison": True}, FakeContext())


def test_the_plain_record_hook_refuses_the_after_phase(aws, monkeypatch) -> None:
    # GIVEN a batch handler that calls fault_record() first, which cannot act after the handler
    faults(monkeypatch, failure_rate="1", fail_phase="after")
    seen: list[Exception] = []

    @inject_faults(per_record=True)
    def batch(event, context):
        for record in event["Records"]:
            try:
                fault_record(record)
            except Exception as exc:  # noqa: BLE001 (the test records what the hook raised)
                seen.append(exc)

    # WHEN it runs THEN the hook says so loudly instead of dropping the failure
    batch(sqs_event({"id": "a"}), None)
    assert len(seen) == 1 and isinstance(seen[0], FaultConfigError)
    assert seen[0].variable == settings.FAIL_PHASE


# --- RECORD_ATTEMPTS: every attempt counted, before any fault -----------------------------------


def test_record_attempts_counts_failed_attempts(aws, monkeypatch) -> None:
    from functions.async_worker.handler import handler

    # GIVEN every invocation fails, with attempts recorded
    faults(monkeypatch, failure_rate="1", record_attempts="on")
    event_id = new_id()
    # WHEN Lambda makes its three attempts
    for _ in range(3):
        with pytest.raises(InjectedFailure):
            handler({"id": event_id}, FakeContext())
    # THEN all three were counted, none processed
    assert ledger_items(aws, ATTEMPTS) == {event_id: 3}
    assert ledger_items(aws) == {}


def test_record_attempts_counts_before_a_timeout(aws, monkeypatch, slept) -> None:
    from functions.queue_worker.handler import handler

    # GIVEN the batch times out before any record is processed
    faults(monkeypatch, timeout="on", record_attempts="on")
    ids = [new_id(), new_id()]
    # WHEN it runs
    with pytest.raises(InjectedTimeout):
        handler(sqs_event(*({"id": i} for i in ids)), FakeContext(timeout_ms=50))
    # THEN both records' attempts were counted
    assert ledger_items(aws, ATTEMPTS) == {ids[0]: 1, ids[1]: 1}


def test_record_attempts_counts_every_record_even_unmatched(aws, monkeypatch) -> None:
    from functions.queue_worker.handler import handler

    # GIVEN counting on and attempt faults for matching records only
    faults(monkeypatch, record_attempts="on", fail_attempts="5", match="payload.target == 'yes'")
    hit, other = new_id(), new_id()
    event = sqs_event({"id": hit, "target": "yes"}, {"id": other})
    # WHEN the batch runs
    response = handler(event, FakeContext())
    # THEN both were counted, only the matching one failed
    assert ledger_items(aws, ATTEMPTS) == {hit: 1, other: 1}
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert ledger_items(aws) == {other: 1}


def test_unmatched_events_are_neither_counted_nor_failed(aws, monkeypatch) -> None:
    from functions.async_worker.handler import handler

    # GIVEN attempt faults limited by a match, counting not asked for
    faults(monkeypatch, fail_attempts="3", match="payload.target == 'yes'")
    event_id = new_id()
    # WHEN an unmatched event runs THEN it is processed at once and leaves no attempt count
    handler({"id": event_id}, FakeContext())
    assert ledger_items(aws) == {event_id: 1}
    assert ledger_items(aws, ATTEMPTS) == {}


def test_record_attempts_off_counts_nothing(aws, monkeypatch) -> None:
    from functions.async_worker.handler import handler

    faults(monkeypatch, record_attempts="off", failure_rate="0")
    handler({"id": new_id()}, FakeContext())
    assert ledger_items(aws, ATTEMPTS) == {}


def test_an_event_without_an_id_is_not_counted_nor_attempt_faulted(aws, monkeypatch) -> None:
    # GIVEN every attempt fault on, and events whose payload carries no id
    faults(monkeypatch, fail_attempts="9", record_attempts="on")
    echo = inject_faults(lambda event, context: "ran")
    batch_seen: list[str] = []

    @inject_faults(per_record=True)
    def batch(event, context):
        for record in event["Records"]:
            record_faults(lambda r: batch_seen.append(r["messageId"]))(record)
        return batch_seen

    # WHEN they run THEN the handlers run and nothing is counted
    assert echo({"no": "id"}, None) == "ran"
    assert echo("a string event", None) == "ran"
    event = sqs_event("not json", {"no": "id"})
    assert batch(event, None) == [r["messageId"] for r in event["Records"]]
    assert ledger_items(aws, ATTEMPTS) == {}


def test_an_injected_throttle_never_hits_the_attempt_counter(aws, monkeypatch) -> None:
    # GIVEN every DynamoDB call of the function throttled, and counting on
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    faults(monkeypatch, record_attempts="on", throttle="dynamodb:1")
    echo = inject_faults(lambda event, context: "ran")
    # WHEN an event runs THEN its attempt is counted: the counter is not the function's call
    assert echo({"id": "t1"}, None) == "ran"
    assert ledger_items(aws, ATTEMPTS) == {"t1": 1}


# --- where the id is, per source ------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"id": "e1"}, id="direct"),
        pytest.param({"Payload": {"id": "e1"}, "StatusCode": 200}, id="sfn-payload"),
        pytest.param(sqs_event({"id": "e1"})["Records"][0], id="sqs-record"),
        pytest.param(sqs_event({"id": "e1"}), id="sqs-one-record-event"),
        pytest.param(sns_event({"id": "e1"}), id="sns"),
        pytest.param(eventbridge_event({"id": "e1"}), id="eventbridge"),
        pytest.param(
            sqs_event(eventbridge_event({"id": "e1"}))["Records"][0], id="sqs-eventbridge"
        ),
        pytest.param(kinesis_record({"id": "e1"}), id="kinesis-record"),
        pytest.param(api_event({"id": "e1"}), id="api"),
        pytest.param(api_event({"id": "e1"}, base64_body=True), id="api-base64"),
    ],
)
def test_the_event_id_is_found_per_source(event) -> None:
    assert event_id_of(event) == "e1"


@pytest.mark.parametrize(
    "event",
    [None, "text", {"id": ""}, {"id": 5}, sqs_event("not json"), kinesis_record(None, raw=b"x")],
)
def test_no_event_id_is_none_never_an_error(event) -> None:
    assert event_id_of(event) is None
