"""The deployed stack's life on the local cloud, timed: emulated `up`, the SQS DLQ experiment
(fault injection to verdict), the whole chaos suite, and emulated `destroy`.

    .venv/bin/python -m pytest benchmarks/test_stack_lifecycle.py --benchmark-only -s

The tests run in file order on one module-scoped local cloud: `up` first, `destroy` last.
Each figure is one run (these take seconds to minutes, so pytest-benchmark's rounds would
only multiply the wait), printed and merged into benchmarks/results.json.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localcloud

PROJECT_DIR = Path(__file__).resolve().parents[1]
SQS_DLQ_EXPERIMENT = "sqs-poison-to-dlq"


class Lifecycle:
    def __init__(self, cloud: localcloud.LocalCloud, state_dir: Path) -> None:
        from localcloud.deploy import Engine

        self.cloud = cloud
        self.state_dir = state_dir
        self.engine = Engine(
            PROJECT_DIR, "local", cloud.endpoint, state_dir=state_dir, client_factory=cloud.client
        )
        self.stack: Any = None
        self.figures: dict[str, Any] = {}

    def chaos(self, names: list[str] | None) -> tuple[float, list[dict[str, Any]]]:
        from rich.console import Console

        from chaos import cli as chaos_cli

        if self.stack is None:
            pytest.skip("the stack is not deployed (the up benchmark failed)")
        began = time.monotonic()
        _, results = chaos_cli.run(
            self.stack.name,
            names,
            stack=self.stack,
            root=self.state_dir,
            reports_root=str(self.state_dir / "r"),
            console=Console(stderr=True, quiet=True),
        )
        return time.monotonic() - began, results


@pytest.fixture(scope="module")
def life() -> Iterator[Lifecycle]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-stack-") as state_dir,
        localcloud.start() as cloud,
    ):
        yield Lifecycle(cloud, Path(state_dir))


def test_emulated_up(benchmark, life: Lifecycle, bench_results) -> None:
    from chaos.stack import Stack

    result = benchmark.pedantic(life.engine.up, rounds=1, iterations=1)
    custom = sum(1 for r in life.engine.load_state().resources.values() if r.custom)
    life.stack = Stack(
        name="local", outputs=dict(result.outputs), endpoint=life.cloud.endpoint, source="benchmark"
    )
    print(
        f"\nemulated up: {custom} resources ({len(result.steps)} registrations) in "
        f"{result.seconds:.1f} s"
    )
    life.figures["up"] = {
        "seconds": round(result.seconds, 2),
        "resources": custom,
        "registrations": len(result.steps),
    }
    bench_results("emulated_up", life.figures["up"])


def test_sqs_dlq_experiment_fault_to_verdict(benchmark, life: Lifecycle, bench_results) -> None:
    seconds, results = benchmark.pedantic(
        life.chaos, args=([SQS_DLQ_EXPERIMENT],), rounds=1, iterations=1
    )
    (result,) = results
    assert result["verdict"] == "pass", result
    print(
        f"\n{SQS_DLQ_EXPERIMENT}: fault injection to verdict {result['wall_time_s']} s "
        f"(with run set-up and report {seconds:.1f} s)"
    )
    bench_results(
        "sqs_dlq_fault_to_verdict",
        {
            "experiment": SQS_DLQ_EXPERIMENT,
            "seconds": result["wall_time_s"],
            "with_setup_and_report_seconds": round(seconds, 2),
            "verdict": result["verdict"],
            "time_scale": life.cloud.clock.time_scale,
        },
    )


def test_whole_chaos_suite(benchmark, life: Lifecycle, bench_results) -> None:
    seconds, results = benchmark.pedantic(life.chaos, args=(None,), rounds=1, iterations=1)
    verdicts = {r["name"]: r["verdict"] for r in results}
    passed = sum(1 for v in verdicts.values() if v == "pass")
    print(
        f"\nwhole chaos suite: {len(results)} experiments in {seconds:.1f} s wall, {passed} passed"
    )
    for r in results:  # the report goes with the benchmark's state: say here what failed
        if r["verdict"] != "pass":
            failed = [v for v in r["verdicts"] if ": PASS" not in v]
            print(f"  {r['name']}: {r['verdict']}: {'; '.join(failed)} {r.get('error') or ''}")
    bench_results(
        "chaos_suite",
        {
            "seconds": round(seconds, 2),
            "experiments": len(results),
            "passed": passed,
            "verdicts": verdicts,
            "time_scale": life.cloud.clock.time_scale,
        },
    )


def test_emulated_destroy(benchmark, life: Lifecycle, bench_results) -> None:
    if life.stack is None:
        pytest.skip("the stack is not deployed (the up benchmark failed)")
    result = benchmark.pedantic(life.engine.destroy, rounds=1, iterations=1)
    left = len(life.engine.load_state().resources)
    assert left == 0, f"destroy left {left} resources in the state file"
    print(f"\nemulated destroy: {len(result.steps)} deletions in {result.seconds:.1f} s")
    bench_results(
        "emulated_destroy", {"seconds": round(result.seconds, 2), "deletions": len(result.steps)}
    )
