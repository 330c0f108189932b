"""The seed scenarios' arithmetic, without a cloud: compression, accounting, verdicts, reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos import report, traffic
from scenarios import base, observability, reliability
from scenarios.slow_api_tap import SlowApiTap


# ---- observability: compression ----------------------------------------------------------
def test_the_uncompressed_profile_is_the_seeds_11850_requests() -> None:
    # GIVEN factor 1, WHEN the schedule is built, THEN it holds the seed's ~11,850 requests
    params = observability.parameters(1)
    offsets = traffic.schedule(params["phases"])
    assert len(offsets) == pytest.approx(11_850, abs=5)
    assert params["load_seconds"] == 1080


@pytest.mark.parametrize("factor", [10, 20, 200])
def test_compression_keeps_rates_and_divides_durations(factor: float) -> None:
    params = observability.parameters(factor)
    over = params["overrides"]
    # rates are the seed's: the 429s come from call rate against the plan's rate
    assert over["slowApiRateLimit"] == observability.SEED["rate_limit"]
    assert over["slowApiFailureRate"] == observability.SEED["failure_rate"]
    assert [p.arrival_rate for p in params["phases"]] == [2, 3, 5]
    # durations and delays are divided by the factor
    assert params["load_seconds"] == pytest.approx(1080 / factor)
    assert over["slowApiMaxDelay"] == pytest.approx(10 / factor, rel=1e-3)
    assert over["deliveryWaitBase"] == pytest.approx(3 / factor, rel=1e-3)
    assert params["time_scale"] == pytest.approx(1 / factor)
    # counts scale down but never below AWS's minimums; timeouts never below 3 s
    assert over["pipelineMaximumConcurrency"] >= 2
    assert over["slowApiBurstLimit"] >= 1
    assert over["deliveryTimeout"] >= 3 and over["slowApiTimeout"] >= 3
    assert len(traffic.schedule(params["phases"])) == pytest.approx(11_850 / factor, rel=0.02)


def test_the_rate_divisor_keeps_the_offered_rate_against_the_plan() -> None:
    # GIVEN the defaults (time /5, rates /4), THEN every rate and the plan's rate fall alike,
    # and counts fall by both factors
    params = observability.parameters(
        observability.DEFAULT_COMPRESS, observability.DEFAULT_RATE_SCALE
    )
    over = params["overrides"]
    peak = max(p.ramp_to or p.arrival_rate for p in params["phases"])
    assert peak / over["slowApiRateLimit"] == pytest.approx(20 / 10)
    assert len(traffic.schedule(params["phases"])) == pytest.approx(11_850 / 20, rel=0.02)
    assert over["pipelineMaximumConcurrency"] == 2 and over["slowApiBurstLimit"] == 1
    # the flow variant's ceiling (MaximumConcurrency / mean service time) stays under the plan
    mean_call = (over["slowApiMinDelay"] + over["slowApiMaxDelay"]) / 2
    assert over["pipelineMaximumConcurrency"] / mean_call < over["slowApiRateLimit"]
    with pytest.raises(base.ScenarioError, match="--rate-scale must be a number >= 1"):
        observability.parameters(5, 0.5)


@pytest.mark.parametrize("bad", [0, 0.5, -3, math.inf, math.nan])
def test_a_bad_compression_factor_names_the_value(bad: float) -> None:
    for module in (observability, reliability):
        with pytest.raises(base.ScenarioError, match="--compress must be a number >= 1"):
            module.parameters(bad)


def test_reliability_keeps_the_rate_because_a_wcu_is_a_rate() -> None:
    params = reliability.parameters(6)
    assert params["rate"] == reliability.SEED_RATE
    assert params["seconds"] == pytest.approx(30)
    assert len(traffic.schedule(params["phases"])) == pytest.approx(8.7 * 30, abs=1)


# ---- accounting ----------------------------------------------------------------------------
def test_conservation_places_every_accepted_id_once() -> None:
    accepted = {"a", "b", "c", "d", "e"}
    dead = {"dlq1": ["b", "b", "x"], "dlq2": ["c"]}  # x: not this run's; b: twice
    counts = base.conservation(accepted, {"a", "c"}, dead, buffered={"d"})
    assert counts["delivered"] == 2  # a, c
    assert counts["dead_lettered"] == 1  # b (c was delivered too)
    assert counts["processed_and_dead_lettered"] == 1  # c
    assert counts["buffered"] == 1  # d
    assert counts["lost"] == 1 and counts["lost_ids"] == ["e"]
    assert counts["dlq_messages"] == {"dlq1": 3, "dlq2": 1}
    assert counts["dlq_duplicates"] == 1


@given(
    ids=st.sets(st.integers(0, 60), max_size=40),
    processed=st.sets(st.integers(0, 80)),
    dead=st.lists(st.integers(0, 80)),
    buffered=st.sets(st.integers(0, 80)),
)
def test_conservation_counts_always_add_up(ids, processed, dead, buffered) -> None:
    as_str = lambda values: {str(v) for v in values}  # noqa: E731
    accepted = as_str(ids)
    counts = base.conservation(
        accepted, as_str(processed), {"q": [str(v) for v in dead]}, as_str(buffered)
    )
    assert counts["sent"] == (
        counts["delivered"] + counts["dead_lettered"] + counts["buffered"] + counts["lost"]
    )
    assert counts["lost"] == len(accepted - as_str(processed) - as_str(dead) - as_str(buffered))


def test_settle_stops_as_soon_as_done_and_reports_a_missed_deadline(monkeypatch) -> None:
    # GIVEN chaos' waiting helper at no interval (the poll cadence is not what is tested)
    monkeypatch.setattr(base, "POLL_SECONDS", 0)
    calls = []
    # WHEN the condition holds on the third look, THEN settle stops there, true
    assert (
        base.settle(lambda: calls.append(1) or len(calls) >= 3, deadline=math.inf, what="three")
        is True
    )
    assert len(calls) == 3
    # WHEN the deadline has passed, THEN it looks once more and answers false, without raising
    calls.clear()
    assert base.settle(lambda: calls.append(1) or False, deadline=0, what="never") is False
    assert len(calls) == 1


def test_conservation_agrees_with_chaos_on_what_is_lost() -> None:
    # GIVEN ids in the ledger, a DLQ and the buffer, one nowhere and one in two places
    from chaos.expectations import Observed, conservation

    accepted = {"a", "b", "c", "d", "e"}
    counts = base.conservation(accepted, {"a", "c"}, {"dlq": ["b", "c"]}, buffered={"d"})
    # THEN the scenario's lost ids are those chaos finds seen nowhere
    sent = [
        {"id": i, "at": 0.0, "entry": "api", "poison": False, "ok": True, "detail": ""}
        for i in sorted(accepted)
    ]
    observed = Observed(
        processed={"p": {"a": 1, "c": 1}},
        dead_letters=[
            {"event_id": i, "envelope": "sqs_redrive", "queue_url": q}
            for q, ids in (("dlq", ["b", "c"]), ("buffer", ["d"]))
            for i in ids
        ],
    )
    verdict = conservation(sent, {}, observed)
    assert counts["lost_ids"] == verdict.figures["lost_ids"] == ["e"]
    assert counts["sent"] == verdict.figures["sent"] == 5


# ---- verdicts and reports ------------------------------------------------------------------
def _variant(**counts: int) -> dict:
    return {
        "requests": 10,
        "deliveries": 8,
        "throttled_429": 3,
        "retries": 4,
        "dlq_arrivals": 2,
        "buffered": 0,
        "lost": 0,
        "peak_concurrency": 2,
        "delivery_invocations": 12,
        "seconds": 5.0,
        "slow_api": {"by_status": {"200": 8, "429": 3}},
        "dlq_messages": {"target_dlq": 0, "delivery_dlq": 2},
        "settled": True,
        "concurrency": [(0.5, 1), (1.5, 2)],
        "sent_at": [0.1, 0.2],
        "calls_429": [0.3],
        **counts,
    }


def test_observability_passes_only_when_flow_control_lost_nothing() -> None:
    doc = {"variants": {"direct": _variant(lost=7), "flow": _variant()}}
    assert observability.passed(doc)  # the direct variant's losses are the story, reported
    doc["variants"]["flow"]["lost"] = 1
    assert not observability.passed(doc)


def test_reliability_fails_on_a_lost_ride_or_an_on_demand_dlq_arrival() -> None:
    ok = {
        "variants": {
            "provisioned": {"lost": 0, "dlq_arrivals": 40},
            "on_demand": {"lost": 0, "dlq_arrivals": 0},
        }
    }
    assert reliability.passed(ok)
    assert not reliability.passed(
        {"variants": {**ok["variants"], "on_demand": {"lost": 0, "dlq_arrivals": 1}}}
    )
    assert not reliability.passed(
        {"variants": {**ok["variants"], "provisioned": {"lost": 1, "dlq_arrivals": 40}}}
    )


def test_reports_hold_every_count_the_issue_asks_for(tmp_path: Path) -> None:
    from scenarios import plot

    doc = {
        "compress": 10.0,
        "time_scale": 0.1,
        "config_overrides": {},
        "variants": {"direct": _variant(lost=1), "flow": _variant()},
    }
    picture = plot.concurrency_png(doc, tmp_path / "concurrency.png")
    text = observability.markdown(doc, picture)
    header = text.split("| variant |", 1)[1].split("\n", 1)[0]
    for column in (
        "requests",
        "deliveries",
        "throttled_429",
        "retries",
        "dlq_arrivals",
        "lost",
        "peak_concurrency",
    ):
        assert column in header
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = report.write_documents(tmp_path, doc, {"report.md": text})
    assert json.loads(written.read_text())["variants"]["direct"]["lost"] == 1


def test_the_tap_counts_retries_as_calls_after_an_events_first() -> None:
    calls = [(0.0, 500, "a"), (1.0, 429, "a"), (2.0, 200, "a"), (0.5, 200, "b"), (0.7, 429, "c")]
    summary = SlowApiTap.summary(calls)
    assert summary == {
        "calls": 5,
        "by_status": {"200": 2, "429": 2, "500": 1},
        "throttled_429": 2,
        "events_calling": 3,
        "retries": 2,
    }


def test_an_unknown_variant_is_refused_by_name(tmp_path: Path) -> None:
    from scenarios.__main__ import main

    assert main(["reliability", "--variants", "provisioned,cheap", "--reports", str(tmp_path)]) == 2


def test_host_limits_apply_for_the_run_and_yield_to_the_callers_environment(monkeypatch) -> None:
    import os

    monkeypatch.delenv("LOCALCLOUD_MAX_WORKERS", raising=False)
    monkeypatch.setenv("LOCALCLOUD_INIT_TIMEOUT", "45")
    with base.host_limits({"LOCALCLOUD_MAX_WORKERS": "160", "LOCALCLOUD_INIT_TIMEOUT": "30"}):
        assert os.environ["LOCALCLOUD_MAX_WORKERS"] == "160"
        assert os.environ["LOCALCLOUD_INIT_TIMEOUT"] == "45"  # the caller's setting wins
    assert "LOCALCLOUD_MAX_WORKERS" not in os.environ
    assert os.environ["LOCALCLOUD_INIT_TIMEOUT"] == "45"
