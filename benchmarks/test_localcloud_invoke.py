"""Measured figures for the local cloud's core: start-up, and invoke latency warm and cold.

    .venv/bin/python -m pytest benchmarks/test_localcloud_invoke.py --benchmark-only -s

Cold = a function's first invoke (a new worker process: interpreter start,
zip extraction, handler import); warm = a reused worker. Both through boto3
and the HTTP endpoint, as a user's program calls them.
"""

from __future__ import annotations

import io
import itertools
import json
import time
import zipfile
from collections.abc import Iterator

import pytest

import localcloud
from tests.local.helpers import create_lambda_role

HANDLER = "def handler(event, context):\n    return event\n"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cloud() -> Iterator[localcloud.LocalCloud]:
    began = time.perf_counter()
    with localcloud.start() as running:
        print(
            f"\nstart(): {time.perf_counter() - began:.3f} s wall, core "
            f"{running.core_started_in:.3f} s, with extensions {running.started_in:.3f} s"
        )
        yield running


@pytest.fixture(scope="module")
def role(cloud: localcloud.LocalCloud) -> str:
    # A role Lambda may assume (the local cloud refuses any other); the handler calls nothing.
    return create_lambda_role(cloud.client("iam"), ())


def _record(benchmark, bench_results, name: str, cloud: localcloud.LocalCloud) -> None:
    stats = benchmark.stats.stats
    figures = {
        "median_ms": round(stats.median * 1000, 2),
        "mean_ms": round(stats.mean * 1000, 2),
        "min_ms": round(stats.min * 1000, 2),
        "max_ms": round(stats.max * 1000, 2),
        "rounds": stats.rounds,
        "cloud_start_seconds": round(cloud.started_in or 0, 3),
        "cloud_core_start_seconds": round(cloud.core_started_in or 0, 3),
    }
    print(
        f"\n{name}: median {figures['median_ms']} ms (min {figures['min_ms']}, max "
        f"{figures['max_ms']}) over {stats.rounds} invokes"
    )
    bench_results(name, figures)


def test_invoke_warm(benchmark, cloud, role, bench_results):
    lam = cloud.client("lambda")
    lam.create_function(
        FunctionName="bench-warm",
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip()},
    )
    lam.invoke(FunctionName="bench-warm", Payload=b"{}")  # the cold start, not measured

    def invoke() -> bytes:
        return lam.invoke(FunctionName="bench-warm", Payload=b'{"id": "w"}')["Payload"].read()

    assert json.loads(benchmark(invoke)) == {"id": "w"}
    _record(benchmark, bench_results, "localcloud_invoke_warm", cloud)


def test_invoke_cold(benchmark, cloud, role, bench_results):
    lam = cloud.client("lambda")
    names = (f"bench-cold-{n}" for n in itertools.count())

    def setup() -> tuple[tuple[str], dict]:
        name = next(names)
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": _zip()},
        )
        return (name,), {}

    def invoke(name: str) -> bytes:
        return lam.invoke(FunctionName=name, Payload=b'{"id": "c"}')["Payload"].read()

    result = benchmark.pedantic(invoke, setup=setup, rounds=10)
    assert json.loads(result) == {"id": "c"}
    _record(benchmark, bench_results, "localcloud_invoke_cold", cloud)
