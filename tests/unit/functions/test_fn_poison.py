"""Malformed events (hypothesis): each ends as a reported batch item failure or a raised error.

Never a silent drop: a record is either processed (its id reaches the ledger)
or reported failed; the ledger write is kept in memory here, since the
property is about classification (the ledger itself is tested with moto).
"""

from __future__ import annotations

import base64
import json
from collections import Counter

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.common import ledger
from functions.common.exceptions import PoisonEventError
from tests.unit.functions.fn_factories import (
    FakeContext,
    eventbridge_event,
    kinesis_record,
    sns_event,
    sqs_record,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries({"id": st.text(min_size=1, max_size=12)}),
    st.fixed_dictionaries({"id": st.text(max_size=12), "poison": st.booleans()}),
    st.fixed_dictionaries({"id": json_values}),
)
bodies = st.one_of(payloads.map(json.dumps), st.text(max_size=20))


def is_valid(body: str) -> bool:
    """The contract: a JSON object with a non-empty string id, not marked poison."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("id"), str)
        and doc["id"] != ""
        and doc.get("poison") is not True
    )


# fn_env (autouse) only sets variables no example changes, so sharing it across examples is safe.
FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _processed(run) -> tuple[Counter, object]:
    seen: Counter = Counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger, "record", lambda event_id, **_: seen.update([event_id]) or 1)
        try:
            outcome = run()
        except (BatchProcessingError, PoisonEventError) as exc:
            outcome = exc
    return seen, outcome


def _check_batch(records: list[dict], ids: list[str], valid: list[bool], handler) -> None:
    seen, outcome = _processed(lambda: handler({"Records": records}, FakeContext()))
    if not any(valid):
        # THEN a batch with nothing processable fails as a whole (SQS/Kinesis retry it all)
        assert isinstance(outcome, BatchProcessingError) and not seen
        return
    assert isinstance(outcome, dict), outcome
    failed = {f["itemIdentifier"] for f in outcome["batchItemFailures"]}
    # THEN every invalid record is reported, and only those
    assert failed == {i for i, ok in zip(ids, valid, strict=True) if not ok}
    # AND every valid one was processed
    assert sum(seen.values()) == sum(valid)


@FAST
@given(st.lists(bodies, min_size=1, max_size=6))
def test_sqs_worker_reports_every_malformed_body(batch: list[str]) -> None:
    from functions.queue_worker.handler import handler

    records = [sqs_record(b) for b in batch]
    _check_batch(records, [r["messageId"] for r in records], [is_valid(b) for b in batch], handler)


@FAST
@given(st.lists(st.one_of(bodies.map(str.encode), st.binary(max_size=12)), min_size=1, max_size=6))
def test_stream_processor_reports_every_malformed_record(batch: list[bytes]) -> None:
    from functions.stream_processor.handler import handler

    records = [kinesis_record(None, raw=b) for b in batch]
    valid = []
    for b in batch:
        try:
            valid.append(is_valid(b.decode()))
        except UnicodeDecodeError:
            valid.append(False)
    ids = [r["kinesis"]["sequenceNumber"] for r in records]
    _check_batch(records, ids, valid, handler)


@FAST
@given(st.lists(bodies, min_size=1, max_size=4))
def test_flow_delivery_reports_every_malformed_eventbridge_body(details: list[str]) -> None:
    from functions.delivery import handler as delivery

    # GIVEN SQS bodies that are EventBridge events around arbitrary details, or not even JSON
    wrapped = [json.dumps(eventbridge_event(json.loads(d))) if _is_json(d) else d for d in details]
    records = [sqs_record(b) for b in wrapped]
    valid = [_is_json(d) and is_valid(d) for d in details]
    # WHEN delivered (by a stand-in: the property needs no API)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(delivery, "deliver", lambda payload, context: {"id": payload["id"]})
        _, outcome = _processed(lambda: delivery.handler({"Records": records}, FakeContext()))
    # THEN exactly the malformed ones are reported, or the whole batch fails
    if not any(valid):
        assert isinstance(outcome, BatchProcessingError)
    else:
        failed = {f["itemIdentifier"] for f in outcome["batchItemFailures"]}
        assert failed == {r["messageId"] for r, ok in zip(records, valid, strict=True) if not ok}


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@FAST
@given(bodies)
def test_async_worker_raises_on_every_malformed_sns_message(body: str) -> None:
    from functions.async_worker.handler import handler

    seen, outcome = _processed(lambda: handler(sns_event(body), FakeContext()))
    if is_valid(body):
        assert isinstance(outcome, dict) and sum(seen.values()) == 1
    else:
        assert isinstance(outcome, PoisonEventError) and not seen


def test_kinesis_data_that_is_not_base64_is_reported(fn_env) -> None:
    from functions.stream_processor.handler import handler

    good, bad = kinesis_record({"id": "ok"}), kinesis_record({"id": "x"})
    bad["kinesis"]["data"] = "%%%not-base64%%%"
    assert base64.b64encode(b"x")  # the factory encodes valid data; this one is corrupted
    seen, outcome = _processed(lambda: handler({"Records": [good, bad]}, FakeContext()))
    assert outcome["batchItemFailures"] == [{"itemIdentifier": bad["kinesis"]["sequenceNumber"]}]
    assert seen == Counter({"ok": 1})
