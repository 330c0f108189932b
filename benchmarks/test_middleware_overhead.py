"""Fault middleware overhead per invocation: off, and on with rate 0, against the bare handler.

Run with `make bench` (or `pytest benchmarks/test_middleware_overhead.py --benchmark-only -s`).
Figures are medians from pytest-benchmark, printed and written to benchmarks/results.json.
Target: under 5 microseconds added when off. Reported, not asserted: a loaded
machine would make an assertion flaky, and the number is what matters.
"""

from __future__ import annotations

import pytest

from functions.faults import inject_faults, settings

TARGET_OFF_MICROSECONDS = 5.0

EVENT = {"Records": [{"messageId": "m1", "body": '{"id": "e1"}'}]}


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def bare(event, context):
    return event


middleware = inject_faults(bare)
per_record_middleware = inject_faults(bare, per_record=True)

VARIANTS: dict[str, tuple] = {
    "bare": (bare, {}),
    "off_unset": (middleware, {}),
    "off": (middleware, {settings.MASTER: "off"}),
    "on_rate_0": (middleware, {settings.MASTER: "on", settings.FAILURE_RATE: "0"}),
    "on_rate_0_per_record": (
        per_record_middleware,
        {settings.MASTER: "on", settings.FAILURE_RATE: "0"},
    ),
}

_medians: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def report(bench_results):
    yield
    if "bare" not in _medians:
        return  # benchmarks disabled: nothing measured
    base = _medians["bare"]
    added = {k: (v - base) * 1e6 for k, v in _medians.items() if k != "bare"}
    figures = {
        "unit": "microseconds per invocation (median)",
        "bare_handler_us": round(base * 1e6, 3),
        "added_us": {k: round(v, 3) for k, v in added.items()},
        "target_off_us": TARGET_OFF_MICROSECONDS,
        "off_within_target": max(added["off"], added["off_unset"]) < TARGET_OFF_MICROSECONDS,
    }
    bench_results("middleware_overhead", figures)
    print("\nfault middleware overhead (median, microseconds per invocation)")
    print(f"  bare handler           {base * 1e6:8.3f}")
    for name, value in added.items():
        print(f"  + {name:<22}{value:8.3f}")
    print(f"  off within the {TARGET_OFF_MICROSECONDS} us target: {figures['off_within_target']}")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_overhead(benchmark, monkeypatch, variant: str) -> None:
    fn, env = VARIANTS[variant]
    for name in settings.ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    context = Context()
    assert fn(EVENT, context) is EVENT  # the variant really runs the handler
    benchmark(fn, EVENT, context)
    if benchmark.stats is not None:
        _medians[variant] = benchmark.stats.stats.median
