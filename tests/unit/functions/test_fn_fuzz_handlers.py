"""Every handler fuzzed (hypothesis), malformed structures included: a bad event or record is a
reported failure (a raised, classified error or a reported item), a good one is processed,
never a silent drop. The side effect is a stand-in counting ids: the property is about
classification (the real writes are tested with moto elsewhere)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.common import ledger
from functions.common.exceptions import PoisonEventError
from tests.unit.functions.fn_factories import FakeContext, api_event, eventbridge_event, sns_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
ids = st.one_of(st.text(min_size=1, max_size=12), st.just(""), json_values)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries({"id": st.text(min_size=1, max_size=12)}),
    st.fixed_dictionaries({"id": ids, "poison": st.booleans()}),
)
bodies = st.one_of(payloads.map(json.dumps), st.text(max_size=20))

FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def has_id(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("id"), str) and doc["id"] != ""


def valid(doc: Any, *, allow_poison: bool = False) -> bool:
    return has_id(doc) and (allow_poison or doc.get("poison") is not True)


def loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def outcome_of(run) -> Any:
    try:
        return run()
    except PoisonEventError as exc:
        return exc


@FAST
@given(bodies)
def test_ride_writer_writes_a_good_ride_and_raises_on_a_bad_one(body: str) -> None:
    from functions.ride_writer import handler as ride_writer

    # GIVEN an SNS message around an arbitrary body, and a stand-in for the table write
    written: Counter = Counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ride_writer, "write_ride", lambda payload: written.update([payload["id"]]))
        # WHEN the handler runs
        outcome = outcome_of(lambda: ride_writer.handler(sns_event(body), FakeContext()))
    # THEN a good ride is written once; a bad one raises PoisonEventError, nothing written
    if valid(loads(body)):
        assert isinstance(outcome, dict) and sum(written.values()) == 1
    else:
        assert isinstance(outcome, PoisonEventError) and not written


sns_records = st.one_of(
    json_values,
    st.fixed_dictionaries({"Sns": json_values}),
    st.fixed_dictionaries({"Sns": st.fixed_dictionaries({"Message": json_values})}),
)


@FAST
@given(st.lists(sns_records, min_size=1, max_size=3))
def test_ride_writer_rejects_malformed_sns_structures(records: list[Any]) -> None:
    from functions.ride_writer import handler as ride_writer

    # GIVEN Records that are not SNS records of a string Message holding a valid ride
    written: Counter = Counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ride_writer, "write_ride", lambda payload: written.update([payload["id"]]))
        outcome = outcome_of(lambda: ride_writer.handler({"Records": records}, FakeContext()))
    # THEN it is a classified failure, never a success that wrote nothing
    assert isinstance(outcome, PoisonEventError), outcome
    assert not written


headers = st.dictionaries(
    st.sampled_from(["x-correlation-id", "X-Correlation-Id", "Content-Type", "other"]),
    st.text(max_size=6),
    max_size=2,
)


@FAST
@given(st.one_of(bodies, st.none()), headers, st.booleans())
def test_notifier_answers_400_to_a_bad_body_and_publishes_a_good_one(
    body: str | None, hdrs: dict[str, str], b64: bool
) -> None:
    from functions.notifier import handler as notifier

    # GIVEN an API request with an arbitrary body (maybe none, maybe base64), headers
    published: list[dict] = []
    event = api_event(body, headers=hdrs, base64_body=b64)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            notifier,
            "publish",
            lambda payload: (
                published.append(payload)
                or {"id": payload["id"], "correlation_id": payload["correlation_id"]}
            ),
        )
        answer = notifier.handler(event, FakeContext())
    # THEN a good body (poison too: it is forwarded) is published once with a correlation id,
    # a bad one is a 400 naming the problem and nothing is published
    if body is not None and valid(loads(body), allow_poison=True):
        assert answer["statusCode"] == 202 and len(published) == 1
        assert isinstance(published[0]["correlation_id"], str) and published[0]["correlation_id"]
    else:
        assert answer["statusCode"] == 400 and not published
        assert json.loads(answer["body"])["message"]


@FAST
@given(body=st.one_of(bodies, st.none()), b64=st.booleans())
def test_slow_api_serves_a_good_call_and_rejects_a_bad_one(
    body: str | None, b64: bool, fn_env
) -> None:
    from functions.slow_api import handler as slow_api

    # GIVEN a slow API that never fails at random and does not wait
    fn_env.setenv("SLOW_API_FAILURE_RATE", "0")
    fn_env.setenv("SLOW_API_MIN_DELAY", "0")
    fn_env.setenv("SLOW_API_MAX_DELAY", "0")
    served: Counter = Counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger, "record", lambda event_id, **_: served.update([event_id]) or 1)
        patch.setattr(slow_api, "sleep", lambda _s: None)
        outcome = outcome_of(
            lambda: slow_api.handler(api_event(body, base64_body=b64), FakeContext())
        )
    doc = loads(body) if body is not None else None
    # THEN good: 200 and recorded; marked poison: raised; anything else: 400, nothing recorded
    if valid(doc):
        assert outcome["statusCode"] == 200 and sum(served.values()) == 1
    elif has_id(doc) and doc.get("poison") is True:
        assert isinstance(outcome, PoisonEventError) and not served
    else:
        assert outcome["statusCode"] == 400 and not served


step_events = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "id": ids,
            "fail": st.sampled_from([None, "transient", "permanent", "other", 3]),
            "fail_attempts": st.one_of(st.none(), st.integers(-2, 3), st.text(max_size=2)),
        }
    ),
)


@FAST
@given(step_events)
def test_workflow_step_completes_a_good_event_and_raises_on_any_other(event: Any) -> None:
    from functions.workflow_step import handler as workflow_step
    from functions.workflow_step.handler import PermanentStepError, TransientStepError

    # GIVEN an arbitrary task input (a first attempt: the attempt counter reads 1)
    recorded: Counter = Counter()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger, "record", lambda event_id, **_: recorded.update([event_id]) or 1)
        try:
            outcome: Any = workflow_step.handler(event, FakeContext())
        except (PoisonEventError, PermanentStepError, TransientStepError) as exc:
            outcome = exc
    # THEN only a well-formed event without a failure request completes, recorded once;
    # every other input raises one of the step's named errors (Retry/Catch see them)
    limit = event.get("fail_attempts") if isinstance(event, dict) else None
    limit_ok = isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0
    # "transient" with fail_attempts n fails the first n attempts: with n = 0 the first passes
    completes = valid(event) and (
        event.get("fail") is None or (event.get("fail") == "transient" and limit_ok and limit < 1)
    )
    if completes:
        assert outcome["status"] == "done" and recorded[event["id"]] >= 1
    else:
        assert isinstance(outcome, Exception), outcome
        assert not (isinstance(outcome, dict) and outcome.get("status") == "done")


compensation_events = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "id": ids,
            "error": st.one_of(
                json_values,
                st.fixed_dictionaries({"Error": json_values, "Cause": json_values}),
                st.fixed_dictionaries({"Error": st.text(max_size=8), "Cause": st.text(max_size=8)}),
            ),
        }
    ),
)


@FAST
@given(compensation_events)
def test_compensation_records_a_good_catch_and_raises_on_a_bad_one(event: Any) -> None:
    from functions.compensation import handler as compensation

    # GIVEN an arbitrary Catch output, and a stand-in for the failure-queue write
    written: list[dict] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            compensation,
            "write",
            lambda payload: (
                written.append(compensation.failure_record(payload))
                or {"id": payload["id"], "status": "compensated"}
            ),
        )
        outcome = outcome_of(lambda: compensation.handler(event, FakeContext()))
    # THEN a Catch result with an id and error.Error (a string) is written once, as a
    # failure record; anything else raises PoisonEventError and writes nothing
    good = (
        valid(event, allow_poison=True)
        and isinstance(event.get("error"), dict)
        and isinstance(event["error"].get("Error"), str)
    )
    if good:
        assert outcome["status"] == "compensated" and len(written) == 1
        assert written[0]["error"] == event["error"]["Error"]
    else:
        assert isinstance(outcome, PoisonEventError) and not written


eventbridge_events = st.one_of(
    json_values,
    payloads.map(eventbridge_event),
    st.fixed_dictionaries({"detail": json_values}),
    st.fixed_dictionaries(
        {
            "Records": st.lists(
                st.dictionaries(st.text(max_size=5), json_values, max_size=3),
                min_size=1,
                max_size=2,
            )
        }
    ),
)


@FAST
@given(eventbridge_events)
def test_direct_delivery_delivers_a_good_event_and_raises_on_a_bad_one(event: Any) -> None:
    from functions.delivery import handler as delivery

    # GIVEN an arbitrary async invocation of the delivery function (EventBridge target)
    delivered: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            delivery,
            "deliver",
            lambda payload, context: delivered.append(payload["id"]) or {"id": payload["id"]},
        )
        outcome = outcome_of(lambda: delivery.handler(event, FakeContext()))
    # THEN an EventBridge event whose detail is a valid payload is delivered once; anything
    # else is PoisonEventError (the async retry / DLQ path), nothing delivered
    detail = event.get("detail") if isinstance(event, dict) else None
    good = isinstance(event, dict) and "detail-type" in event and valid(detail)
    if good:
        assert outcome == {"id": detail["id"]} and delivered == [detail["id"]]
    else:
        assert isinstance(outcome, PoisonEventError), outcome
        assert not delivered


def test_direct_delivery_names_a_records_list_of_non_objects() -> None:
    from functions.delivery import handler as delivery

    # GIVEN / WHEN an async invocation whose Records holds a non-object
    # THEN the handler's own error names it
    with pytest.raises(PoisonEventError):
        delivery.handler({"Records": [None]}, FakeContext())


@FAST
@given(
    dlq_bodies=st.lists(st.one_of(bodies, st.text(min_size=1, max_size=30)), min_size=1, max_size=5)
)
def test_dlq_redriver_moves_or_counts_every_message(aws, fn_env, dlq_bodies: list[str]) -> None:
    from functions.dlq_redriver.handler import handler

    # GIVEN a DLQ holding arbitrary bodies (JSON or not, with or without an id)
    suffix = uuid.uuid4().hex[:8]
    dlq = aws.sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    source = aws.sqs.create_queue(QueueName=f"src-{suffix}")["QueueUrl"]
    for body in dlq_bodies:
        aws.sqs.send_message(QueueUrl=dlq, MessageBody=body)
    # WHEN it is redriven
    report = handler({"dlq_url": dlq, "source_url": source}, FakeContext())
    # THEN every message is moved (the body unchanged) or counted failed: none vanishes
    moved = aws.sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10).get("Messages", [])
    assert report["moved"] + report["failed"] + report["skipped"] == len(dlq_bodies)
    # AND nothing in a body makes it unmovable (the redriver never parses it to move it)
    assert report["moved"] == len(dlq_bodies)
    assert sorted(m["Body"] for m in moved) == sorted(dlq_bodies)


@FAST
@given(
    event=st.one_of(
        # None is the documented empty invoke (redrive every configured pair): not malformed
        json_values.filter(lambda v: v is not None and not isinstance(v, dict)),
        st.fixed_dictionaries(
            {"dlq_url": json_values.filter(lambda v: bool(v) and not isinstance(v, str))}
        ),
        st.fixed_dictionaries(
            {
                "dlq_url": st.just("q"),
                "source_url": st.just("s"),
                "max_messages": st.one_of(st.text(max_size=3), st.integers(-3, 0)),
            }
        ),
    )
)
def test_dlq_redriver_refuses_a_malformed_request(aws, fn_env, event: Any) -> None:
    from functions.dlq_redriver.handler import handler

    # GIVEN / WHEN a request that is not {dlq_url, source_url, max_messages > 0}
    # THEN it raises a named error instead of reporting "moved 0"
    with pytest.raises((PoisonEventError, ValueError, TypeError)):
        handler(event, FakeContext())


def test_dlq_redriver_refuses_a_falsy_non_string_dlq_url(aws, fn_env) -> None:
    from functions.dlq_redriver.handler import handler

    # GIVEN configured pairs, and a request naming a DLQ as an empty list
    dlq = aws.sqs.create_queue(QueueName="falsy-dlq")["QueueUrl"]
    source = aws.sqs.create_queue(QueueName="falsy-src")["QueueUrl"]
    fn_env.setenv("REDRIVE_SOURCES", json.dumps({dlq: source}))
    aws.sqs.send_message(QueueUrl=dlq, MessageBody="{}")
    # WHEN / THEN the request is refused, and nothing configured is redriven
    with pytest.raises(PoisonEventError):
        handler({"dlq_url": []}, FakeContext())
