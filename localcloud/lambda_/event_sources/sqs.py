"""SQS event source mapping: pollers that receive, invoke synchronously, and delete.

Follows "Using Lambda with Amazon SQS": Lambda starts with 5 pollers and adds
more while batches come back full (up to ScalingConfig.MaximumConcurrency, or a
local ceiling); each poller receives a batch (BatchSize, gathering up to
MaximumBatchingWindowInSeconds), invokes the function once with it, and deletes
the messages it processed. Messages of a failed batch are not touched: they
return after the queue's visibility timeout, and the queue's own redrive policy
moves them to its DLQ once ApproximateReceiveCount reaches maxReceiveCount
(moto does that on receive). With ReportBatchItemFailures only the reported
items return. FIFO group order comes from SQS itself: a group with a message
in flight is not delivered again until that message is deleted or visible.

Reads and deletes go through the endpoint with boto3, so they take the same
serialized path to moto as every other client (nothing lost or duplicated).

They are made with the function's execution role: a role that no longer allows
sqs:ReceiveMessage reads nothing (the messages stay in the queue, the mapping's
LastProcessingResult says PROBLEM), one without sqs:DeleteMessage processes batches it
cannot delete (they return after the visibility timeout, and the redrive policy moves them
to the DLQ although they were processed).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .base import (
    AccessDenied,
    Authorize,
    ClientFactory,
    Invocation,
    InvokeFn,
    MappingSpec,
    Report,
    RoleGate,
    Stoppable,
    allow_all,
    arn_account,
    arn_region,
    arn_resource,
    ignore,
    invoke_sync,
    throttle_backoff,
)
from .types import SqsMessageAttribute, SqsRecord

logger = logging.getLogger(__name__)

INITIAL_POLLERS = 5
# AWS lets a mapping grow to 1,000 concurrent invokes; one machine cannot, so
# without MaximumConcurrency the pollers stop here (env overrides).
LOCAL_MAX_POLLERS = int(os.environ.get("LOCALCLOUD_SQS_MAX_POLLERS", "5"))
RECEIVE_MAX = 10  # ReceiveMessage's own limit per call
IDLE_MIN, IDLE_MAX = 0.02, 0.5  # the lead poller's backoff on an empty queue
# Other pollers of an idle queue sleep until a SendMessage to it or the lead finds messages:
# on AWS they long-poll for free; here every empty receive takes the endpoint's lock.
FOLLOWER_IDLE = 5.0
SCALE_UP_EVERY = 0.2  # AWS adds up to 300 concurrent invokes a minute: one per 0.2 s
EMPTY_POLLS_BEFORE_RETIRE = 20


def sqs_record(message: dict[str, Any], queue_arn: str) -> SqsRecord:
    """One ReceiveMessage message (boto3 shape) as Lambda puts it in the event."""
    attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items()}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": arn_region(queue_arn),
    }


def _message_attribute(value: dict[str, Any]) -> SqsMessageAttribute:
    out: SqsMessageAttribute = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [_b64(v) for v in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = _b64(value["BinaryValue"])
    return out


def _b64(raw: bytes | str) -> str:
    return base64.b64encode(raw if isinstance(raw, bytes) else raw.encode()).decode()


def failed_message_ids(
    invocation: Invocation, message_ids: list[str], report_batch_item_failures: bool
) -> set[str]:
    """Which messages of the batch return to the queue after this invocation.

    Per "Reporting batch item failures": an error, throttle or invalid partial
    response fails the whole batch; a null/empty response or an empty
    batchItemFailures succeeds it; otherwise only the listed ids fail.
    """
    everything = set(message_ids)
    if invocation.outcome != "success":
        return everything
    if not report_batch_item_failures:
        return set()
    raw = invocation.payload.strip()
    if not raw or raw == b"null":
        return set()
    try:
        response = json.loads(raw)
    except ValueError:
        logger.warning("partial batch response is not JSON: whole batch fails")
        return everything
    if not isinstance(response, dict):
        return set()
    items = response.get("batchItemFailures")
    if not items:
        return set()
    if not isinstance(items, list):
        return everything
    failed: set[str] = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident or ident not in everything:
            logger.warning("invalid itemIdentifier %r: whole batch fails", ident)
            return everything
        failed.add(ident)
    return failed


def collect_batch(
    receive: Callable[[int], list[dict[str, Any]]],
    batch_size: int,
    window: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], bool],
    idle: float = IDLE_MIN,
) -> list[dict[str, Any]]:
    """Receive up to `batch_size` messages, gathering for at most `window` seconds.

    Window 0 invokes with whatever the first non-empty receive returned (as
    Lambda does); `pause` returns True when the poller is stopping.
    """
    batch: list[dict[str, Any]] = []
    deadline = clock() + window
    while len(batch) < batch_size:
        got = receive(min(RECEIVE_MAX, batch_size - len(batch)))
        batch.extend(got)
        if window <= 0 or clock() >= deadline:
            break
        if not got and pause(min(idle, max(0.0, deadline - clock()))):
            break
    return batch


class Waker:
    """Lets idle pollers sleep until a message is sent, the stop flag, or a timeout."""

    def __init__(self, stop: Stoppable) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._stop = stop

    def notify(self, pollers: int | None = None) -> None:
        """Wake `pollers` sleeping pollers (all when None)."""
        with self._cond:
            self._generation += 1
            if pollers is None:
                self._cond.notify_all()
            else:
                self._cond.notify(pollers)

    def wait(self, timeout: float) -> bool:
        """True when stopping."""
        with self._cond:
            seen = self._generation
            self._cond.wait_for(
                lambda: self._generation != seen or self._stop.stopping, timeout=timeout
            )
        return self._stop.stopping


class SqsMappingRunner:
    """The pollers of one SQS mapping."""

    def __init__(
        self,
        spec: MappingSpec,
        *,
        clients: ClientFactory,
        invoke: InvokeFn,
        time_scale: float,
        max_pollers: int | None = None,
        authorize: Authorize = allow_all,
        report: Report = ignore,
    ) -> None:
        self.spec = spec
        self._invoke = invoke
        self._time_scale = time_scale
        self._sqs = clients("sqs")
        self._stop = Stoppable()
        self.role = RoleGate(spec, authorize, report, lambda: self._stop.stopping)
        self.waker = Waker(self._stop)
        cap = spec.maximum_concurrency or (max_pollers or LOCAL_MAX_POLLERS)
        self._cap = max(1, cap)
        self._floor = min(INITIAL_POLLERS, self._cap)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._active = 0
        self._last_scale_up = 0.0
        self._queue_url: str | None = None
        self._spawned = 0
        self.queue_name = arn_resource(spec.event_source_arn)
        self.invocations = 0

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        for _ in range(self._floor):
            self._spawn()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.request_stop()
        self.waker.notify()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def pollers(self) -> int:
        return self._active

    def _spawn(self) -> None:
        with self._lock:
            if self._active >= self._cap or self._stop.stopping:
                return
            self._active += 1
            lead = self._spawned == 0
            self._spawned += 1
            thread = threading.Thread(
                target=self._poll_loop,
                args=(lead,),
                name=f"sqs-esm-{self.spec.uuid[:8]}",
                daemon=True,
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _maybe_scale_up(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._active >= self._cap or now - self._last_scale_up < SCALE_UP_EVERY:
                return
            self._last_scale_up = now
        self._spawn()

    def _retire(self) -> bool:
        with self._lock:
            if self._active > self._floor:
                self._active -= 1
                return True
        return False

    # -- polling ----------------------------------------------------------------
    def _url(self) -> str:
        if self._queue_url is None:
            arn = self.spec.event_source_arn
            self._queue_url = self._sqs.get_queue_url(
                QueueName=arn_resource(arn), QueueOwnerAWSAccountId=arn_account(arn)
            )["QueueUrl"]
        return self._queue_url

    def _receive(self, count: int) -> list[dict[str, Any]]:
        self.role.require("sqs:ReceiveMessage")
        # WaitTimeSeconds=0: a long poll would hold the endpoint's serialization.
        response = self._sqs.receive_message(
            QueueUrl=self._url(),
            MaxNumberOfMessages=count,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages") or [])

    def _poll_loop(self, lead: bool) -> None:
        idle = IDLE_MIN
        empty_polls = 0
        throttles = 0
        retired = False
        try:
            while not self._stop.stopping:
                try:
                    batch = collect_batch(
                        self._receive,
                        self.spec.batch_size,
                        self.spec.batching_window,
                        pause=self.waker.wait,
                    )
                except AccessDenied:  # reported by the gate; the messages stay in the queue
                    if self._stop.pause(1.0):
                        return
                    continue
                except Exception as exc:  # queue deleted, endpoint stopping...
                    logger.warning("mapping %s: receive failed: %s", self.spec.uuid, exc)
                    if self._stop.pause(1.0):
                        return
                    continue
                if not batch:
                    empty_polls += 1
                    if not lead and empty_polls >= EMPTY_POLLS_BEFORE_RETIRE and self._retire():
                        retired = True
                        return
                    if self.waker.wait(idle if lead else FOLLOWER_IDLE):
                        return
                    idle = min(IDLE_MAX, idle * 2)
                    continue
                if lead and empty_polls:
                    self.waker.notify()  # messages again: wake the followers to share them
                idle, empty_polls = IDLE_MIN, 0
                if len(batch) >= min(self.spec.batch_size, RECEIVE_MAX):
                    # A full batch: there may be more. One more poller shares them (and
                    # wakes the next if it fills a batch too), as AWS's long-polling pollers
                    # would; waking all of them on every send made empty receives, each a
                    # call through the endpoint's lock.
                    self.waker.notify(1)
                    self._maybe_scale_up()
                try:
                    invocation = self._process(batch)
                except Exception:  # keep polling: the batch returns after its visibility timeout
                    logger.exception("mapping %s: batch handling failed", self.spec.uuid)
                    continue
                if invocation.outcome in ("throttled", "failed"):
                    throttles += 1
                    if self._stop.pause(throttle_backoff(throttles, self._time_scale)):
                        return
                else:
                    throttles = 0
        finally:
            if not retired:
                with self._lock:
                    self._active -= 1

    def _process(self, batch: list[dict[str, Any]]) -> Invocation:
        arn = self.spec.event_source_arn
        event = {"Records": [sqs_record(m, arn) for m in batch]}
        invocation = invoke_sync(self._invoke, self.spec.function_arn, json.dumps(event).encode())
        self.invocations += 1
        ids = [m["MessageId"] for m in batch]
        failed = failed_message_ids(invocation, ids, self.spec.report_batch_item_failures)
        done = [m for m in batch if m["MessageId"] not in failed]
        if failed:
            logger.info(
                "mapping %s: %d of %d messages return after the visibility timeout (%s)",
                self.spec.uuid,
                len(failed),
                len(batch),
                invocation.outcome,
            )
        self._delete(done)
        return invocation

    def _delete(self, messages: Iterable[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        if not entries:
            return
        try:
            self.role.require("sqs:DeleteMessage")
        except AccessDenied:  # reported by the gate; they return after the visibility timeout
            return
        self.role.result("OK")
        for start in range(0, len(entries), RECEIVE_MAX):
            chunk = entries[start : start + RECEIVE_MAX]
            try:
                response = self._sqs.delete_message_batch(QueueUrl=self._url(), Entries=chunk)
            except Exception as exc:
                # Not deleted means redelivered later (at least once), never lost.
                logger.warning("mapping %s: delete failed: %s", self.spec.uuid, exc)
                continue
            for failure in response.get("Failed") or []:
                logger.warning("mapping %s: delete failed: %s", self.spec.uuid, failure)
