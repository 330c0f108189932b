"""Expectations judged on crafted observations, including the ones that must fail."""

from __future__ import annotations

import time

import pytest

from chaos import expectations as ex
from chaos.errors import ExpectationFailedError, GuardAlarmError, PollTimeoutError
from chaos.types import DeadLetter, SentEvent

DLQ = "https://sqs/dlq"
OTHER_DLQ = "https://sqs/other"
PROCESSED = ex.place("processed", "qw")
IN_DLQ = ex.place("sqs_redrive", DLQ)


def sent(*ids: str, ok: bool = True) -> list[SentEvent]:
    return [
        {"id": i, "at": 0.0, "entry": "sqs", "poison": False, "ok": ok, "detail": ""} for i in ids
    ]


def dead(event_id: str | None, queue_url: str = DLQ, **fields: object) -> DeadLetter:
    return {
        "event_id": event_id,
        "envelope": "sqs_redrive",
        "queue_url": queue_url,
        "message_id": f"m-{event_id}",
        **fields,
    }  # type: ignore[typeddict-item]


ACCEPT = {"a": [frozenset({PROCESSED})], "b": [frozenset({PROCESSED})], "p": [frozenset({IN_DLQ})]}


def test_conservation_passes_when_each_id_is_where_the_route_says() -> None:
    obs = ex.Observed(processed={"qw": {"a": 1, "b": 1}}, dead_letters=[dead("p")])
    v = ex.conservation(sent("a", "b", "p"), ACCEPT, obs)
    assert v.passed, v.message()
    assert (
        v.figures["sent"],
        v.figures["processed"],
        v.figures["dead_lettered"],
        v.figures["lost"],
    ) == (3, 2, 1, 0)


def test_a_lost_id_fails_and_is_named() -> None:
    obs = ex.Observed(processed={"qw": {"a": 1}}, dead_letters=[dead("p")])
    v = ex.conservation(sent("a", "b", "p"), ACCEPT, obs)
    assert not v.passed
    assert v.figures["lost"] == 1 and v.figures["lost_ids"] == ["b"]
    assert "1 lost (seen nowhere): b" in v.message()


def test_an_extra_dlq_message_fails() -> None:
    obs = ex.Observed(processed={"qw": {"a": 1, "b": 1}}, dead_letters=[dead("p"), dead("zzz")])
    v = ex.conservation(sent("a", "b", "p"), ACCEPT, obs)
    assert not v.passed and v.figures["unexpected"] == 1
    assert "'zzz' was not sent by this run" in v.message()


def test_a_dead_letter_of_an_earlier_run_is_a_leftover_not_a_failure() -> None:
    # GIVEN this run's events where they belong, and in the DLQ a throttled event that a
    # killed earlier run sent (its chaos_run names that run)
    old = dead("old", payload={"id": "old", "chaos_run": "run-before"})
    obs = ex.Observed(processed={"qw": {"a": 1, "b": 1}}, dead_letters=[dead("p"), old])
    # WHEN judged as run "run-now" THEN it passes, counting and naming the leftover
    v = ex.conservation(sent("a", "b", "p"), ACCEPT, obs, run_id="run-now")
    assert v.passed, v.message()
    assert v.figures["leftovers"] == 1 and v.figures["leftover_ids"] == ["old"]
    assert v.figures["unexpected"] == 0
    # AND one that names THIS run but was never sent by it, or names no run, still fails
    for stray in (
        dead("zzz", payload={"id": "zzz", "chaos_run": "run-now"}),
        dead("yyy", payload={"id": "yyy"}),
    ):
        obs = ex.Observed(processed={"qw": {"a": 1, "b": 1}}, dead_letters=[dead("p"), stray])
        v = ex.conservation(sent("a", "b", "p"), ACCEPT, obs, run_id="run-now")
        assert not v.passed and v.figures["unexpected"] == 1


def test_a_message_without_an_id_is_unexpected() -> None:
    obs = ex.Observed(processed={"qw": {"a": 1, "b": 1}}, dead_letters=[dead("p"), dead(None)])
    assert not ex.conservation(sent("a", "b", "p"), ACCEPT, obs).passed


def test_an_id_in_two_places_fails() -> None:
    obs = ex.Observed(processed={"qw": {"a": 1, "b": 1, "p": 1}}, dead_letters=[dead("p")])
    v = ex.conservation(sent("a", "b", "p"), ACCEPT, obs)
    assert not v.passed and v.figures["in_two_places"] == 1
    assert "p seen in 2 places" in v.message()


def test_the_wrong_dlq_is_misplaced() -> None:
    obs = ex.Observed(processed={"qw": {"a": 1, "b": 1}}, dead_letters=[dead("p", OTHER_DLQ)])
    v = ex.conservation(sent("a", "b", "p"), ACCEPT, obs)
    assert not v.passed and v.figures["misplaced"] == 1


def test_two_places_together_when_the_design_names_both() -> None:
    both = frozenset({ex.place("destination", "d"), ex.place("lambda_dlq", "l")})
    obs = ex.Observed(
        dead_letters=[
            {**dead("x"), "envelope": "destination", "queue_url": "d"},
            {**dead("x"), "envelope": "lambda_dlq", "queue_url": "l"},
        ]
    )
    assert ex.conservation(sent("x"), {"x": [both]}, obs).passed
    only_one = ex.Observed(
        dead_letters=[{**dead("x"), "envelope": "destination", "queue_url": "d"}]
    )
    assert not ex.conservation(sent("x"), {"x": [both]}, only_one).passed


def test_duplicates_are_counted_and_judged_only_when_bounded() -> None:
    obs = ex.Observed(processed={"qw": {"a": 3, "b": 1}}, dead_letters=[dead("p"), dead("p")])
    v = ex.conservation(sent("a", "b", "p"), ACCEPT, obs)
    assert v.passed and v.figures["duplicates"] == 3
    assert not ex.conservation(sent("a", "b", "p"), ACCEPT, obs, max_duplicates=0).passed


def test_a_failed_send_fails_the_verdict() -> None:
    obs = ex.Observed(processed={"qw": {"a": 1}})
    v = ex.conservation(sent("a") + sent("b", ok=False), {"a": [frozenset({PROCESSED})]}, obs)
    assert not v.passed and v.figures["failed_sends"] == 1 and v.figures["sent"] == 1


def test_assert_ok_raises_an_assertion_with_the_readable_message() -> None:
    v = ex.conservation(sent("a"), {"a": [frozenset({PROCESSED})]}, ex.Observed())
    with pytest.raises(AssertionError, match="lost .*: a"):
        v.assert_ok()
    with pytest.raises(ExpectationFailedError):
        v.assert_ok()


def test_envelope_fields_by_value_and_predicate() -> None:
    dls = [
        dead("x", condition="RetriesExhausted", approximate_invoke_count=3),
        dead("y", condition="EventAgeExceeded", approximate_invoke_count=1),
    ]
    ok = ex.envelope_fields(dls[:1], {"condition": "RetriesExhausted"}, ids=["x"])
    assert ok.passed
    bad = ex.envelope_fields(
        dls,
        {"condition": "RetriesExhausted", "approximate_invoke_count": lambda n: n == 3},
        ids=["x", "z"],
    )
    assert not bad.passed
    text = bad.message()
    assert "y in https://sqs/dlq: condition='EventAgeExceeded'" in text
    assert "1 ids have no dead letter: z" in text


def test_alarm_in_budget_late_and_never() -> None:
    start = 1000.0
    history = [
        {"alarm": "a", "at": 1005.0, "old": "INSUFFICIENT_DATA", "new": "OK"},
        {"alarm": "a", "at": 1040.0, "old": "OK", "new": "ALARM"},
    ]
    v = ex.alarm_within(history, "a", start=start, budget=60)
    assert v.passed and v.figures == {"expected_within_s": 60, "observed_after_s": 40.0}
    late = ex.alarm_within(history, "a", start=start, budget=30)
    assert not late.passed and "fired late" in late.message()
    never = ex.alarm_within(history[:1], "a", start=start, budget=60)
    assert not never.passed and "never went to ALARM" in never.message()
    before = ex.alarm_within(history, "a", start=1050.0, budget=60)
    assert not before.passed, "a transition before the experiment started does not count"
    assert not ex.alarm_quiet(history, "a", start=start).passed
    assert ex.alarm_quiet(history[:1], "a", start=start).passed


def test_budgets_from_settings() -> None:
    assert ex.sqs_delivery_seconds(visibility_timeout=6, max_receive_count=3) == 18
    # 2 retries: 60 s + 120 s on AWS, compressed 100x on the local cloud; 3 attempts of 2 s each.
    assert ex.async_delivery_seconds(2, 2.0, time_scale=0.01) == pytest.approx(1.8 + 6.0)
    assert ex.async_delivery_seconds(0, 2.0) == 2.0
    assert ex.alarm_budget(18, period=10, evaluation_periods=2, slack=20) == 58


def test_poll_until_returns_once_the_condition_holds() -> None:
    calls = iter(range(100))
    assert (
        ex.poll_until(lambda: next(calls), lambda n: n >= 3, timeout=5, what="n", interval=0.01)
        == 3
    )


def test_poll_until_times_out_with_the_last_value() -> None:
    t0 = time.monotonic()
    with pytest.raises(PollTimeoutError, match="last observed: 'still'"):
        ex.poll_until(lambda: "still", lambda v: v == "done", timeout=0.3, what="x", interval=0.01)
    assert time.monotonic() - t0 < 3


def test_poll_until_stops_at_once_on_a_guard() -> None:
    def guard() -> None:
        raise GuardAlarmError(["guard-alarm"])

    with pytest.raises(GuardAlarmError, match="guard-alarm"):
        ex.poll_until(lambda: 1, lambda v: False, timeout=30, what="x", check=guard)


def test_a_send_that_errored_but_arrived_counts_as_sent() -> None:
    # An API may answer 5xx after it published: the event is judged, not "unexpected".
    obs = ex.Observed(processed={"qw": {"a": 1}})
    v = ex.conservation(sent("a", ok=False), {"a": [frozenset({PROCESSED})]}, obs)
    assert v.passed, v.message()
    assert v.figures["arrived_despite_send_error"] == 1 and v.figures["sent"] == 1
