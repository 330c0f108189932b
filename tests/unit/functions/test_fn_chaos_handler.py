"""@chaos_handler on a user's plain handler: faults per record, the ledger written for it."""

from __future__ import annotations

import pytest

from functions.common import ledger
from functions.faults import InjectedFailure, chaos_handler, settings
from tests.unit.functions.fn_factories import (
    FakeContext,
    api_event,
    eventbridge_event,
    kinesis_event,
    ledger_items,
    sns_event,
    sqs_event,
)


class Business:
    """A user's handler with no ledger call: it remembers what it was handed, and may fail."""

    def __init__(self, *, fails: set[str] = frozenset(), result=None) -> None:
        self.seen: list[list[dict]] = []
        self.fails = fails
        self.result = result

    def batch(self, event, context):
        self.seen.append(event["Records"])
        failures = [
            {"itemIdentifier": r.get("messageId") or r["kinesis"]["sequenceNumber"]}
            for r in event["Records"]
            if _id(r) in self.fails
        ]
        return {"batchItemFailures": failures} if failures else None

    def single(self, event, context):
        self.seen.append([event])
        if self.result is not None:
            return self.result
        if event.get("detail", event).get("id") in self.fails:
            raise ValueError("order rejected")
        return {"ok": True}


def _id(record: dict) -> str | None:
    from functions.common.events import payload_of

    payload = payload_of(record)
    return payload.get("id") if isinstance(payload, dict) else None


def faults(monkeypatch, **values: str) -> None:
    monkeypatch.setenv(settings.MASTER, "on")
    for name, value in values.items():
        monkeypatch.setenv(getattr(settings, name.upper()), value)


def test_sqs_record_drawn_to_fail_is_withheld_reported_and_not_recorded(aws, monkeypatch) -> None:
    # GIVEN faults that fail the one record whose payload is marked, and a plain handler
    faults(monkeypatch, failure_rate="1", match="payload.target == `true`")
    business = Business()
    handler = chaos_handler(business.batch)
    event = sqs_event({"id": "a"}, {"id": "b", "target": True}, {"id": "c"})
    # WHEN the batch is handled
    response = handler(event, FakeContext())
    # THEN the drawn record never reached the handler, is a batch item failure,
    assert [_id(r) for r in business.seen[0]] == ["a", "c"]
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][1]["messageId"]}]
    # AND the ledger holds the two others, once each, and not it
    assert ledger_items(aws) == {"a": 1, "c": 1}


def test_the_handlers_own_failures_are_merged_and_not_recorded(aws, monkeypatch) -> None:
    faults(monkeypatch, failure_rate="1", match="payload.target == `true`")
    business = Business(fails={"c"})
    event = sqs_event({"id": "a"}, {"id": "b", "target": True}, {"id": "c"}, {"id": "d"})
    response = chaos_handler(business.batch)(event, FakeContext())
    ids = [event["Records"][i]["messageId"] for i in (1, 2)]
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(ids)
    assert ledger_items(aws) == {"a": 1, "d": 1}


def test_faults_off_records_every_record_once(aws) -> None:
    business = Business()
    response = chaos_handler(business.batch)(sqs_event({"id": "a"}, {"id": "b"}), FakeContext())
    assert response["batchItemFailures"] == []
    assert ledger_items(aws) == {"a": 1, "b": 1}


def test_kinesis_reports_the_first_failure_and_hands_only_the_records_before_it(
    aws, monkeypatch
) -> None:
    # GIVEN four records of a shard, the second and the fourth drawn to fail
    faults(monkeypatch, failure_rate="1", match="payload.target == `true`")
    business = Business()
    event = kinesis_event({"id": "a"}, {"id": "b", "target": True}, {"id": "c"}, {"id": "d"})
    event["Records"][3] = kinesis_event({"id": "d", "target": True})["Records"][0]
    # WHEN the batch is handled
    response = chaos_handler(business.batch)(event, FakeContext())
    # THEN Lambda is told the checkpoint (the first failure) and the handler saw only before it
    second = event["Records"][1]["kinesis"]["sequenceNumber"]
    assert response["batchItemFailures"] == [{"itemIdentifier": second}]
    assert [_id(r) for r in business.seen[0]] == ["a"]
    assert ledger_items(aws) == {"a": 1}


def test_fifo_withholds_the_rest_of_a_failed_message_group(aws, monkeypatch) -> None:
    faults(monkeypatch, failure_rate="1", match="payload.target == `true`")
    business = Business()
    event = sqs_event({"id": "a"}, {"id": "b", "target": True}, {"id": "c"}, queue="work.fifo")
    response = chaos_handler(business.batch)(event, FakeContext())
    assert [_id(r) for r in business.seen[0]] == ["a"]
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        r["messageId"] for r in event["Records"][1:]
    ]
    assert ledger_items(aws) == {"a": 1}


def test_fail_phase_after_hands_records_then_fails_them(aws, monkeypatch) -> None:
    # GIVEN failures raised after the handler ran
    faults(monkeypatch, failure_rate="1", fail_phase="after", match="payload.target == `true`")
    business = Business()
    event = sqs_event({"id": "a"}, {"id": "b", "target": True})
    response = chaos_handler(business.batch)(event, FakeContext())
    # THEN the handler saw both, both side effects are recorded, and b is still failed
    assert [_id(r) for r in business.seen[0]] == ["a", "b"]
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][1]["messageId"]}]
    assert ledger_items(aws) == {"a": 1, "b": 1}


def test_a_failed_ledger_write_fails_its_record(aws, monkeypatch) -> None:
    real = ledger.record

    def flaky(event_id, **kwargs):
        if event_id == "b":
            raise RuntimeError("ledger down")
        return real(event_id, **kwargs)

    monkeypatch.setattr(ledger, "record", flaky)
    event = sqs_event({"id": "a"}, {"id": "b"})
    response = chaos_handler(Business().batch)(event, FakeContext())
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][1]["messageId"]}]
    assert ledger_items(aws) == {"a": 1}


@pytest.mark.parametrize(
    "make", [lambda p: p, lambda p: sns_event(p), lambda p: eventbridge_event(p)]
)
def test_a_single_event_that_returns_is_recorded_once(aws, make) -> None:
    assert chaos_handler(Business().single)(make({"id": "s1"}), FakeContext()) == {"ok": True}
    assert ledger_items(aws) == {"s1": 1}


def test_a_single_event_that_raises_is_not_recorded(aws) -> None:
    with pytest.raises(ValueError, match="order rejected"):
        chaos_handler(Business(fails={"s2"}).single)({"id": "s2"}, FakeContext())
    assert ledger_items(aws) == {}


def test_an_injected_failure_of_a_single_event_is_not_recorded(aws, monkeypatch) -> None:
    faults(monkeypatch, failure_rate="1")
    business = Business()
    with pytest.raises(InjectedFailure):
        chaos_handler(business.single)({"id": "s3"}, FakeContext())
    assert business.seen == [] and ledger_items(aws) == {}


@pytest.mark.parametrize(("status", "recorded"), [(200, True), (400, True), (500, False)])
def test_an_api_answer_of_500_or_more_is_not_handled(aws, status: int, recorded: bool) -> None:
    business = Business(result={"statusCode": status, "body": "{}"})
    answer = chaos_handler(business.single)(api_event({"id": "api1"}), FakeContext())
    assert answer["statusCode"] == status
    assert ledger_items(aws) == ({"api1": 1} if recorded else {})


def test_an_event_without_an_id_is_handled_not_recorded_and_said_once(aws, caplog) -> None:
    handler = chaos_handler(Business().batch)
    for _ in range(2):
        response = handler(sqs_event({"order": 1}, "not json"), FakeContext())
        assert response["batchItemFailures"] == []
    assert chaos_handler(Business().single)({"no": "id"}, FakeContext()) == {"ok": True}
    assert ledger_items(aws) == {}
    warnings = [r for r in caplog.records if r.getMessage().startswith("chaos_handler:")]
    # One per decorated handler (two here), not one per record or invocation.
    assert len(warnings) == 2
    assert all(w.levelname == "WARNING" and "no string `id`" in w.getMessage() for w in warnings)


def test_a_poison_record_never_reaches_the_business_code_and_fails_alone(aws) -> None:
    # GIVEN no fault set, and a handler that would accept anything
    business = Business()
    event = sqs_event({"id": "a"}, {"id": "p", "poison": True}, {"id": "c"})
    # WHEN a batch with a poison record is handled
    response = chaos_handler(business.batch)(event, FakeContext())
    # THEN the poison record fails alone, unseen by the business code, and is not recorded
    assert [_id(r) for r in business.seen[0]] == ["a", "c"]
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][1]["messageId"]}]
    assert ledger_items(aws) == {"a": 1, "c": 1}


def test_a_poison_single_event_raises_before_the_business_code(aws) -> None:
    from functions.common.exceptions import PoisonEventError

    business = Business()
    with pytest.raises(PoisonEventError):
        chaos_handler(business.single)({"id": "p", "poison": True}, FakeContext())
    assert business.seen == [] and ledger_items(aws) == {}
