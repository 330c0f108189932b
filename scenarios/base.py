"""What both seed scenarios share: a deployed local stack, counting ids, and the run report.

A scenario deploys the real Pulumi program on a local cloud through the local stack
session (app.session; config overrides per variant, as `--config` does on the command line),
drives traffic with the chaos package's drivers, and accounts for every event
id: processed (its ledger entry), dead-lettered (read back from a DLQ), still
buffered (read back from a queue), or lost (none of these).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from app.session import PROJECT_DIR
from chaos import probes
from chaos.errors import PollTimeoutError
from chaos.expectations import Observed, place, poll_until
from chaos.expectations import conservation as chaos_conservation
from chaos.stack import Stack
from chaos.types import SentEvent
from components.outputs import Envelope

logger = logging.getLogger(__name__)

REPORTS_ROOT = PROJECT_DIR / "reports" / "scenarios"
POLL_SECONDS = 1.0  # a fixed cadence: each poll drains the DLQs and reads the whole ledger
METRIC_PERIOD = 1  # seconds: the runs last tens of seconds, so metrics are read per second
# The places conservation knows an id by (chaos.expectations.place): the ledger partition, and
# each queue the scenario drained by its name. The ids are read from each message's body
# (probes.event_id_of), so an envelope kind only names the place.
LEDGER_PATTERN = "ledger"
BUFFER_QUEUE = "buffer"
QUEUE_ENVELOPE: Envelope = "sqs_redrive"
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


def settle(done: Callable[[], bool], *, deadline: float, what: str) -> bool:
    """Poll `done` with chaos' waiting helper until it is true or the monotonic `deadline`
    passes; whether it became true (a scenario reports a missed deadline, it does not fail)."""
    try:
        poll_until(
            done,
            bool,
            timeout=deadline - time.monotonic(),
            what=what,
            interval=POLL_SECONDS,
            max_interval=POLL_SECONDS,
        )
    except PollTimeoutError:
        return False
    return True


def conservation(
    accepted: set[str],
    processed: set[str],
    dead: Mapping[str, list[str]],
    buffered: set[str] | None = None,
) -> dict[str, Any]:
    """Counts over accepted ids: each must be processed, dead-lettered or buffered, else lost.

    Sent, delivered and lost are chaos' conservation figures (an id seen nowhere is lost),
    with a DLQ or the buffer as the places an id may end in besides the ledger. The report
    adds its breakdown: an id processed and dead-lettered counts as delivered, one
    dead-lettered and buffered as dead-lettered; and the DLQs' message counts, foreign
    messages included."""
    buffered = buffered or set()
    queues = {**dead, BUFFER_QUEUE: sorted(buffered)}
    observed = Observed(
        processed={LEDGER_PATTERN: dict.fromkeys(processed, 1)},
        dead_letters=[
            {
                "event_id": event_id,
                "envelope": QUEUE_ENVELOPE,
                "queue_url": queue,
                "message_id": f"{queue}#{n}",  # chaos names a foreign message by it
            }
            for queue, ids in queues.items()
            for n, event_id in enumerate(ids)
        ],
    )
    # Each id may end in exactly one place: the ledger, one DLQ, or the buffer.
    options = [frozenset({place("processed", LEDGER_PATTERN)})] + [
        frozenset({place(QUEUE_ENVELOPE, queue)}) for queue in queues
    ]
    sent: list[SentEvent] = [
        {"id": i, "at": 0.0, "entry": "scenario", "poison": False, "ok": True, "detail": ""}
        for i in sorted(accepted)
    ]
    figures = chaos_conservation(sent, dict.fromkeys(accepted, options), observed).figures
    dead_ids = {i for ids in dead.values() for i in ids} & accepted
    processed = processed & accepted
    return {
        "sent": figures["sent"],
        "delivered": figures["processed"],
        "dead_lettered": len(dead_ids - processed),
        "buffered": len((buffered & accepted) - processed - dead_ids),
        "lost": figures["lost"],
        "lost_ids": figures["lost_ids"],
        "processed_and_dead_lettered": len(processed & dead_ids),
        "dlq_messages": {name: len(ids) for name, ids in dead.items()},
        "dlq_duplicates": sum(len(ids) for ids in dead.values())
        - len({i for ids in dead.values() for i in ids}),
    }


def metric_sum(
    stack: Stack, namespace: str, name: str, dimensions: dict[str, str], start: float, end: float
) -> float:
    points = probes.metric_points(
        stack, namespace, name, dimensions, start, end, METRIC_PERIOD, "Sum"
    )
    return sum(v for _, v in points)


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"
