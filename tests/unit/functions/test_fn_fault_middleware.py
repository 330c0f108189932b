"""The middleware's behaviour per variable, and its measured rates and latencies (seeded)."""

from __future__ import annotations

import statistics
import time

import pytest

from functions.faults import (
    FaultConfigError,
    InjectedFailure,
    InjectedTimeout,
    base,
    fault_record,
    inject_faults,
    settings,
)
from tests.unit.functions.fn_factories import FakeContext, sqs_event


@inject_faults
def echo(event, context):
    return {"ok": event}


@inject_faults(per_record=True)
def batch(event, context):
    """A batch handler the way the real ones use the per-record hook."""
    failed = []
    for record in event["Records"]:
        try:
            fault_record(record)
        except InjectedFailure:
            failed.append(record["messageId"])
    return failed


@pytest.fixture
def quiet(monkeypatch):
    """Skip log formatting for thousands of injected failures (rates, not logs, are tested)."""
    import logging

    for name in ("aws_lambda_powertools.middleware_factory.factory", base.logger.name):
        monkeypatch.setattr(logging.getLogger(name), "disabled", True)


@pytest.fixture
def slept(monkeypatch):
    """Record the delays the middleware asks for instead of sleeping them."""
    delays: list[float] = []
    monkeypatch.setattr(base, "sleep", delays.append)
    return delays


def faults(monkeypatch, **values: str) -> None:
    monkeypatch.setenv(settings.MASTER, "on")
    for name, value in values.items():
        monkeypatch.setenv(getattr(settings, name.upper()), value)


def test_off_passes_the_event_through(monkeypatch, slept) -> None:
    # GIVEN faults explicitly off, with values that would fail every invocation
    monkeypatch.setenv(settings.MASTER, "off")
    monkeypatch.setenv(settings.FAILURE_RATE, "1")
    # WHEN the handler runs THEN it is untouched
    assert echo({"id": "a"}, FakeContext()) == {"ok": {"id": "a"}}
    assert slept == []


def test_a_malformed_value_fails_the_invocation_naming_it(monkeypatch) -> None:
    faults(monkeypatch, latency="fixed:fast")
    with pytest.raises(FaultConfigError) as caught:
        echo({"id": "a"}, FakeContext())
    assert caught.value.variable == settings.LATENCY and caught.value.value == "fixed:fast"


def test_a_malformed_master_switch_fails_too(monkeypatch) -> None:
    monkeypatch.setenv(settings.MASTER, "true")
    with pytest.raises(FaultConfigError, match="FAILMODES_FAULTS='true'"):
        echo({}, FakeContext())


def _failure_share(n: int) -> float:
    failures = 0
    for i in range(n):
        try:
            echo({"i": i}, None)
        except InjectedFailure:
            failures += 1
    return failures / n


def test_measured_failure_rate_is_within_tolerance_and_repeatable(monkeypatch, quiet) -> None:
    # GIVEN a 30% failure rate with a seed
    faults(monkeypatch, failure_rate="0.3", seed="42")
    # WHEN 2000 invocations run
    share = _failure_share(2000)
    # THEN the share is 0.3 within 4 standard deviations (sd = 0.0102)
    assert abs(share - 0.3) < 0.041
    # AND a fresh process-state with the same seed replays exactly the same share
    monkeypatch.setattr(base, "_draws", None)
    monkeypatch.setattr(settings, "_cache_key", None)
    assert _failure_share(2000) == share


@pytest.mark.parametrize("rate", ["0", "1"])
def test_rate_bounds_are_exact(monkeypatch, quiet, rate: str) -> None:
    faults(monkeypatch, failure_rate=rate)
    assert _failure_share(200) == float(rate)


def test_fixed_and_uniform_latency(monkeypatch, slept) -> None:
    faults(monkeypatch, latency="fixed:7ms")
    echo({}, None)
    assert slept == [0.007]
    slept.clear()
    faults(monkeypatch, latency="uniform:2ms-12ms", seed="1")
    for _ in range(3000):
        echo({}, None)
    assert 0.002 <= min(slept) and max(slept) <= 0.012
    assert abs(statistics.fmean(slept) - 0.007) < 0.0005  # sd of the mean is 0.05 ms
    assert min(slept) < 0.0025 and max(slept) > 0.0115  # the whole range is used


def test_distribution_latency_hits_its_p50_and_p99(monkeypatch, slept) -> None:
    # GIVEN a log-normal latency with p50 20 ms and p99 200 ms
    faults(monkeypatch, latency="dist:p50=20ms,p99=200ms", seed="7")
    # WHEN 10000 invocations draw a delay
    for _ in range(10000):
        echo({}, None)
    # THEN the empirical quantiles match (sampling error of p99 over 10000 is about 5%)
    q = statistics.quantiles(slept, n=100)
    assert q[49] == pytest.approx(0.020, rel=0.05)
    assert q[98] == pytest.approx(0.200, rel=0.12)


def test_latency_really_sleeps(monkeypatch) -> None:
    faults(monkeypatch, latency="fixed:15ms")
    started = time.perf_counter()
    echo({}, None)
    assert time.perf_counter() - started >= 0.015


def test_timeout_sleeps_past_the_deadline_then_fails(monkeypatch, slept) -> None:
    # GIVEN a timeout fault and an invocation with 40 ms left
    faults(monkeypatch, timeout="on")
    context = FakeContext(timeout_ms=40)
    # WHEN it runs THEN it asks to sleep beyond the remaining time, and never succeeds
    with pytest.raises(InjectedTimeout):
        echo({}, context)
    assert slept and slept[0] > 0.040
    assert slept[0] >= base.TIMEOUT_OVERSHOOT_SECONDS


def test_timeout_without_a_context_is_a_config_error(monkeypatch, slept) -> None:
    faults(monkeypatch, timeout="on")
    with pytest.raises(FaultConfigError, match="FAILMODES_TIMEOUT"):
        echo({}, None)


def test_match_limits_faults_to_matching_events(monkeypatch) -> None:
    faults(monkeypatch, failure_rate="1", match="payload.target == 'yes'")
    assert echo({"id": "a", "target": "no"}, None)["ok"]["id"] == "a"
    with pytest.raises(InjectedFailure):
        echo({"id": "b", "target": "yes"}, None)


def test_per_record_faults_hit_only_matching_records(monkeypatch, slept) -> None:
    # GIVEN every matching record fails, and a 5 ms latency per invocation
    faults(
        monkeypatch,
        failure_rate="1",
        latency="fixed:5ms",
        match="contains(body, 'chaos-target')",
    )
    event = sqs_event({"id": "1"}, {"id": "2", "tag": "chaos-target"}, {"id": "3"})
    # WHEN the batch runs THEN only the matching record failed, and the batch was delayed once
    assert batch(event, None) == [event["Records"][1]["messageId"]]
    assert slept == [0.005]
    # AND a batch with no matching record is not delayed at all
    slept.clear()
    assert batch(sqs_event({"id": "4"}), None) == []
    assert slept == []


def test_per_record_rate_applies_per_record(monkeypatch, quiet) -> None:
    faults(monkeypatch, failure_rate="0.5", seed="3")
    failed = sum(
        len(batch(sqs_event(*({"id": str(i)} for i in range(10))), None)) for _ in range(200)
    )
    assert abs(failed / 2000 - 0.5) < 0.045


def test_fault_record_outside_an_invocation_does_nothing(monkeypatch) -> None:
    faults(monkeypatch, failure_rate="1")
    fault_record(sqs_event({"id": "x"})["Records"][0])  # no enclosing batch invocation
