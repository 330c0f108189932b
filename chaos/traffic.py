"""Traffic drivers, one per entry point, and artillery-like arrival profiles.

Every event is JSON with a unique string `id` (docs/contracts.md); a poison event adds
`"poison": true`. Sends are paced on a schedule (a rate is a time, so pacing sleeps until
the next due send; nothing else here waits on time) and bounded in count and duration.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
import requests.adapters

from chaos.errors import ChaosError, FaultValueError
from chaos.stack import POOL_CONNECTIONS, Stack
from chaos.types import SentEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Phase:
    """Artillery's phase: `duration` seconds at `arrival_rate`/s, ramping linearly to `ramp_to`."""

    duration: float
    arrival_rate: float
    ramp_to: float | None = None

    def __post_init__(self) -> None:
        if self.duration <= 0:
            raise FaultValueError(f"phase duration must be > 0, got {self.duration}")
        if self.arrival_rate < 0 or (self.ramp_to is not None and self.ramp_to < 0):
            raise FaultValueError(
                f"phase rates must be >= 0, got {self.arrival_rate}->{self.ramp_to}"
            )

    def expected_count(self) -> float:
        end = self.arrival_rate if self.ramp_to is None else self.ramp_to
        return (self.arrival_rate + end) / 2 * self.duration


def schedule(
    phases: Iterable[Phase], *, max_events: int | None = None, max_seconds: float | None = None
) -> list[float]:
    """Send offsets (seconds from start) for the profile, bounded in count and time.

    The k-th event goes out when the cumulative arrivals N(t) = r0*t + (r1-r0)*t^2/(2d)
    reach k (k = 0, 1, ...); for a ramp that is the positive root of the quadratic. Hand-written: no
    library here computes artillery's schedule, and this is the whole of it.
    """
    offsets: list[float] = []
    start = 0.0
    for phase in phases:
        r0 = phase.arrival_rate
        r1 = r0 if phase.ramp_to is None else phase.ramp_to
        d = phase.duration
        a = (r1 - r0) / (2 * d)
        # The k-th arrival (k = 0..n-1) goes out when N(t) = k, so a phase starts with a send.
        for k in range(round(phase.expected_count())):
            if abs(a) < 1e-12:
                t = k / r0
            else:
                t = (-r0 + math.sqrt(max(r0 * r0 + 4 * a * k, 0.0))) / (2 * a)
            offsets.append(start + min(t, d))
        start += d
    if max_seconds is not None:
        offsets = [t for t in offsets if t <= max_seconds]
    if max_events is not None:
        offsets = offsets[:max_events]
    return offsets


def at_rate(rate: float, count: int) -> list[float]:
    if rate <= 0:
        raise FaultValueError(f"rate must be > 0, got {rate}")
    return schedule([Phase(duration=count / rate, arrival_rate=rate)], max_events=count)


RUN_FIELD = "chaos_run"  # every event names the run that sent it (leftovers are told apart)


def new_event(
    *,
    poison: bool = False,
    run: str | None = None,
    base: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A chaos event: a new `id`, the run, the markers; over `base`, the instance's declared
    event of its business (its own fields kept unless a marker has the same name)."""
    event: dict[str, Any] = {**(base or {}), "id": str(uuid.uuid4()), **fields}
    if run:
        event[RUN_FIELD] = run
    if poison:
        event["poison"] = True
    return event


# A driver sends one event and returns a detail string (message id, status ...), raising on failure.
Send = Callable[[dict[str, Any]], str]


def sqs_driver(stack: Stack, queue_url: str, *, fifo: bool = False) -> Send:
    sqs = stack.client("sqs")

    def send(event: dict[str, Any]) -> str:
        kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": json.dumps(event)}
        if fifo:
            kwargs.update(
                MessageGroupId=event.get("group", "chaos"), MessageDeduplicationId=event["id"]
            )
        return str(sqs.send_message(**kwargs)["MessageId"])

    return send


def sns_driver(
    stack: Stack,
    topic_arn: str,
    attributes: Callable[[dict[str, Any]], dict[str, str]] | None = None,
) -> Send:
    sns = stack.client("sns")

    def send(event: dict[str, Any]) -> str:
        kwargs: dict[str, Any] = {"TopicArn": topic_arn, "Message": json.dumps(event)}
        if attributes:
            kwargs["MessageAttributes"] = {
                k: {"DataType": "String", "StringValue": v} for k, v in attributes(event).items()
            }
        return str(sns.publish(**kwargs)["MessageId"])

    return send


def eventbridge_driver(stack: Stack, bus: str, source: str, detail_type: str) -> Send:
    events = stack.client("events")

    def send(event: dict[str, Any]) -> str:
        resp = events.put_events(
            Entries=[
                {
                    "EventBusName": bus,
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(event),
                }
            ]
        )
        entry = resp["Entries"][0]
        if resp.get("FailedEntryCount") or "EventId" not in entry:
            raise ChaosError(
                f"PutEvents on {bus} rejected: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
            )
        return str(entry["EventId"])

    return send


def kinesis_driver(stack: Stack, stream_name: str) -> Send:
    kinesis = stack.client("kinesis")

    def send(event: dict[str, Any]) -> str:
        resp = kinesis.put_record(
            StreamName=stream_name,
            Data=json.dumps(event).encode(),
            PartitionKey=str(event.get("partition", event["id"])),
        )
        return f"{resp['ShardId']}/{resp['SequenceNumber']}"

    return send


def invoke_driver(stack: Stack, function: str) -> Send:
    lam = stack.client("lambda")

    def send(event: dict[str, Any]) -> str:
        resp = lam.invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode()
        )
        if resp["StatusCode"] != 202:
            raise ChaosError(f"async invoke of {function} returned {resp['StatusCode']}")
        return str(resp["ResponseMetadata"].get("RequestId", ""))

    return send


def stepfunctions_driver(stack: Stack, state_machine_arn: str) -> Send:
    sfn = stack.client("stepfunctions")

    def send(event: dict[str, Any]) -> str:
        # The execution name is the event id, so StartExecution itself refuses a duplicate send.
        resp = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=event["id"], input=json.dumps(event)
        )
        return str(resp["executionArn"])

    return send


def api_driver(url: str, api_key: str | None, *, timeout: float = 35.0) -> Send:
    session = requests.Session()
    # As many pooled connections as drive() may use threads (requests keeps 10 by default).
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_CONNECTIONS)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    headers = {"content-type": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key

    def send(event: dict[str, Any]) -> str:
        resp = session.post(url, data=json.dumps(event), headers=headers, timeout=timeout)
        if resp.status_code >= 400:
            raise ChaosError(f"POST {url} -> {resp.status_code}: {resp.text[:200]}")
        return str(resp.status_code)

    return send


def drive(
    send: Send,
    entry: str,
    events: list[dict[str, Any]],
    offsets: list[float],
    *,
    max_seconds: float | None = None,
    workers: int = 8,
    on_sent: Callable[[SentEvent], None] | None = None,
) -> list[SentEvent]:
    """Send events[i] at offsets[i], concurrently: one slow call (an API) keeps no one waiting."""
    if len(offsets) < len(events):
        raise FaultValueError(f"{len(events)} events but only {len(offsets)} send times")
    start = time.monotonic()
    results: list[SentEvent] = []

    def one(event: dict[str, Any]) -> SentEvent:
        try:
            detail, ok = send(event), True
        except Exception as exc:  # a failed send is data for the verdict, not a crash
            detail, ok = f"{type(exc).__name__}: {exc}", False
            # Data for the verdict (counted in the report), not a problem of the run itself.
            logger.info("send %s via %s failed: %s", event["id"], entry, detail)
        sent: SentEvent = {
            "id": event["id"],
            "at": time.time(),
            "entry": entry,
            "poison": bool(event.get("poison")),
            "ok": ok,
            "detail": detail,
        }
        if on_sent:
            on_sent(sent)
        return sent

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"chaos-{entry}") as pool:
        futures = []
        for event, offset in zip(events, offsets, strict=False):
            if max_seconds is not None and offset > max_seconds:
                break
            delay = start + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing to the schedule: the rate IS a time
            futures.append(pool.submit(one, event))
        results = [f.result() for f in futures]
    return results
