"""What both seed scenarios share: a deployed local stack, counting ids, and the run report.

A scenario deploys the real Pulumi program on a local cloud through the local stack
session (app.session; config overrides per variant, as `--config` does on the command line),
drives traffic with the chaos package's drivers, and accounts for every event
id: processed (its ledger entry), dead-lettered (read back from a DLQ), still
buffered (read back from a queue), or lost (none of these).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from app.session import PROJECT_DIR
from chaos import probes
from chaos.stack import Stack

logger = logging.getLogger(__name__)

REPORTS_ROOT = PROJECT_DIR / "reports" / "scenarios"
POLL_SECONDS = 1.0
# The scenarios' load wants more Lambda concurrency than the local cloud's defaults (32
# workers, 32 async attempts): with those, the LRU eviction of warm workers at the cap turns
# into a storm of cold starts on 2 cores, and async events age out waiting for a thread
# rather than in Lambda's retries. Cold starts all at once also take longer than Lambda's
# 10 s init limit on such a host, so that limit is relaxed. Recorded in every report.
HOST_LIMITS = {
    "LOCALCLOUD_MAX_WORKERS": "160",
    "LOCALCLOUD_ASYNC_CONCURRENCY": "128",
    "LOCALCLOUD_INIT_TIMEOUT": "30",
}


class ScenarioError(RuntimeError):
    """A scenario could not run (bad parameter, deploy failure); the message says which."""


@contextlib.contextmanager
def host_limits(limits: Mapping[str, str]) -> Iterator[None]:
    """Set the local cloud's host limits (localcloud/lambda_/limits.py) for one run, unless
    the caller's environment already sets them; restore the environment afterwards."""
    import os

    saved = {name: os.environ.get(name) for name in limits}
    for name, value in limits.items():
        os.environ.setdefault(name, str(value))
    try:
        yield
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


def warm_up(stack: Stack, environments: Mapping[str, int], deadline_seconds: float = 180.0) -> int:
    """Start `environments[function]` execution environments of each function before a run's
    clock starts, by invoking each that many times at once with `{}` (every handler refuses
    an event without an id, so nothing happens). On a 2-core host, dozens of workers
    cold-starting at once in the middle of a run slow every invocation past its timeout, a
    failure AWS's hosts do not have. A cold start that fails is tried again, within a
    deadline. Returns the environments warmed."""
    from concurrent.futures import ThreadPoolExecutor

    lam = stack.client("lambda")
    deadline = time.monotonic() + deadline_seconds

    def warm(function: str) -> bool:
        while time.monotonic() < deadline:
            try:
                lam.invoke(FunctionName=function, Payload=b"{}")
                return True
            except Exception as exc:  # a failed cold start: 5xx from the Invoke API
                logger.warning("warm-up of %s failed, trying again: %s", function, exc)
        return False

    calls = [name for name, count in environments.items() for _ in range(count)]
    with ThreadPoolExecutor(max(1, len(calls))) as pool:
        warmed = sum(pool.map(warm, calls))
    if warmed < len(calls):
        logger.warning("only %d of %d execution environments warmed up", warmed, len(calls))
    # Metrics are per whole second and a run's are read from 1 s before its start: start the
    # run in the second after next, so the warm-up's (refused) invocations are not counted.
    # A wait for the clock itself, not for a condition.
    now = time.time()
    time.sleep(math.floor(now) + 2 - now)
    return warmed


# ---- accounting -------------------------------------------------------------------------
def drain_ids(stack: Stack, queue_url: str | None, record_to: Path | None = None) -> list[str]:
    """Remove every message from a queue; the event ids they carry (one per message)."""
    if not queue_url:
        return []
    ids = []
    for message in probes.drain_queue(stack, queue_url, record_to):
        event_id = probes.event_id_of(message.get("Body"))
        ids.append(event_id if event_id is not None else f"unparsed:{message['MessageId']}")
    return ids


def settle(done: Callable[[], bool], *, deadline: float, interval: float = POLL_SECONDS) -> bool:
    """Poll `done` until it is true or the monotonic `deadline` passes; whether it became true."""
    while True:
        if done():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def conservation(
    accepted: set[str],
    processed: set[str],
    dead: Mapping[str, list[str]],
    buffered: set[str] | None = None,
) -> dict[str, Any]:
    """Counts over accepted ids: each must be processed, dead-lettered or buffered, else lost."""
    dead_ids = {i for ids in dead.values() for i in ids} & accepted
    processed = processed & accepted
    buffered = (buffered or set()) & accepted
    accounted = processed | dead_ids | buffered
    return {
        "sent": len(accepted),
        "delivered": len(processed),
        "dead_lettered": len(dead_ids - processed),
        "buffered": len(buffered - processed - dead_ids),
        "lost": len(accepted - accounted),
        "lost_ids": sorted(accepted - accounted),
        "processed_and_dead_lettered": len(processed & dead_ids),
        "dlq_messages": {name: len(ids) for name, ids in dead.items()},
        "dlq_duplicates": sum(len(ids) for ids in dead.values())
        - len({i for ids in dead.values() for i in ids}),
    }


def metric_sum(
    stack: Stack, namespace: str, name: str, dimensions: Mapping[str, str], start: float, end: float
) -> float:
    points = metric_points(stack, namespace, name, dimensions, start, end, "Sum")
    return sum(v for _, v in points)


def metric_points(
    stack: Stack,
    namespace: str,
    name: str,
    dimensions: Mapping[str, str],
    start: float,
    end: float,
    statistic: str,
) -> list[tuple[float, float]]:
    """(epoch seconds, value) per 1 s period, as CloudWatch aggregates the datapoints."""
    from datetime import UTC, datetime

    answer = stack.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=datetime.fromtimestamp(start - 1, UTC),
        EndTime=datetime.fromtimestamp(end + 1, UTC),
        Period=1,
        Statistics=[statistic],
    )
    points = [
        (p["Timestamp"].timestamp(), float(p[statistic])) for p in answer.get("Datapoints", [])
    ]
    return sorted(points)


def write_report(run_dir: Path, doc: dict[str, Any], markdown: str) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "report.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (run_dir / "report.md").write_text(markdown)
    return run_dir / "report.json"


def new_run_dir(root: Path, name: str) -> Path:
    import uuid

    run_id = f"{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:4]}"
    return root / run_id


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"
