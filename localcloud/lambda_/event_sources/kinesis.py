"""Kinesis event source mapping: one poller per shard, in order, blocking on failure.

Follows "Using Lambda with Kinesis" and "Retain discarded batch records": a
failing batch blocks its shard until it succeeds, its records exceed
MaximumRecordAgeInSeconds, or MaximumRetryAttempts run out; then Lambda sends
an OnFailure record (pointers, not data) and moves on.
BisectBatchOnFunctionError splits a failing batch in two without spending a
retry; ReportBatchItemFailures checkpoints before the lowest failed sequence
number and retries only from there. Throttles and service errors are retried
(until the records age out) without counting as attempts. IteratorAge is
emitted per invocation, so a blocked shard shows as a growing age.

The batch logic (`process_batch`) is pure: the shard thread feeds it records
and callbacks, which the unit tests replace with fakes.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .base import (
    Invocation,
    MappingSpec,
    arn_region,
)
from .types import KinesisOnFailureRecord, KinesisRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamRecord:
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: float  # epoch seconds


@dataclass
class _Item:
    records: list[StreamRecord]
    failures: int = 0  # failed invocations that count against MaximumRetryAttempts
    invokes: int = 0  # invocations that included these records
    last: Invocation | None = None


@dataclass(frozen=True)
class Discard:
    records: list[StreamRecord]
    condition: str  # RetryAttemptsExhausted | RecordAgeExceeded
    invoke_count: int
    last: Invocation | None


@dataclass
class BatchSettings:
    bisect_on_error: bool = False
    maximum_retry_attempts: int = -1
    maximum_record_age: int = -1
    report_batch_item_failures: bool = False

    @classmethod
    def of(cls, spec: MappingSpec) -> BatchSettings:
        return cls(
            spec.bisect_on_error,
            spec.maximum_retry_attempts,
            spec.maximum_record_age,
            spec.report_batch_item_failures,
        )


def first_failed_index(
    invocation: Invocation, records: list[StreamRecord], rbif: bool
) -> int | None:
    """Where the batch failed: None for success, 0 for the whole batch.

    A partial response names sequence numbers; Lambda checkpoints before the
    lowest one. An invalid response (not JSON, empty or unknown identifier)
    fails the whole batch, as for SQS.
    """
    if invocation.outcome != "success":
        return 0
    if not rbif:
        return None
    raw = invocation.payload.strip()
    if not raw or raw == b"null":
        return None
    try:
        response = json.loads(raw)
    except ValueError:
        return 0
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return None
    items = response["batchItemFailures"]
    if not isinstance(items, list):
        return 0
    position = {r.sequence_number: i for i, r in enumerate(records)}
    indexes = []
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in position:
            return 0
        indexes.append(position[ident])
    return min(indexes)


def process_batch(
    records: list[StreamRecord],
    settings: BatchSettings,
    *,
    invoke: Callable[[list[StreamRecord]], Invocation],
    on_discard: Callable[[Discard], None],
    on_checkpoint: Callable[[str], None],
    backoff: Callable[[int], bool],
    now: Callable[[], float] = time.time,
    stopping: Callable[[], bool] = lambda: False,
) -> bool:
    """Drive one batch until every record is processed or discarded, in order.

    `backoff(n)` waits after the n-th consecutive throttle and returns True to
    abandon (stopping). Returns False when abandoned: the caller resumes from
    the last checkpoint, so records are delivered at least once, never lost.
    """
    work: deque[_Item] = deque([_Item(list(records))])
    throttles = 0
    while work:
        if stopping():
            return False
        item = work[0]
        if settings.maximum_record_age >= 0:
            cutoff = now() - settings.maximum_record_age
            expired = 0
            while expired < len(item.records) and item.records[expired].arrival < cutoff:
                expired += 1
            if expired:
                on_discard(
                    Discard(item.records[:expired], "RecordAgeExceeded", item.invokes, item.last)
                )
                on_checkpoint(item.records[expired - 1].sequence_number)
                item.records = item.records[expired:]
                if not item.records:
                    work.popleft()
                    continue
        invocation = invoke(item.records)
        if invocation.outcome in ("throttled", "failed"):
            throttles += 1
            if backoff(throttles):
                return False
            continue
        throttles = 0
        item.invokes += 1
        item.last = invocation
        failed_at = first_failed_index(
            invocation, item.records, settings.report_batch_item_failures
        )
        if failed_at is None:
            on_checkpoint(item.records[-1].sequence_number)
            work.popleft()
            continue
        if failed_at > 0:
            on_checkpoint(item.records[failed_at - 1].sequence_number)
            item.records = item.records[failed_at:]
        elif settings.bisect_on_error and len(item.records) > 1:
            # Splitting does not spend a retry (Lambda developer guide).
            half = len(item.records) // 2
            work.popleft()
            work.appendleft(_Item(item.records[half:], item.failures, item.invokes, invocation))
            work.appendleft(_Item(item.records[:half], item.failures, item.invokes, invocation))
            continue
        item.failures += 1
        limit = settings.maximum_retry_attempts
        if limit >= 0 and item.failures > limit:
            on_discard(Discard(item.records, "RetryAttemptsExhausted", item.invokes, invocation))
            on_checkpoint(item.records[-1].sequence_number)
            work.popleft()
    return True


def iso_millis(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def on_failure_record(
    discard: Discard, *, shard_id: str, stream_arn: str, function_arn: str, now: float
) -> KinesisOnFailureRecord:
    """The OnFailure destination document for discarded records (no record data)."""
    first, last = discard.records[0], discard.records[-1]
    record: KinesisOnFailureRecord = {
        "requestContext": {
            "requestId": (discard.last.request_id if discard.last else "") or str(uuidlib.uuid4()),
            "functionArn": function_arn,
            "condition": discard.condition,  # type: ignore[typeddict-item]
            "approximateInvokeCount": discard.invoke_count,
        },
        "version": "1.0",
        "timestamp": iso_millis(now),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first.sequence_number,
            "endSequenceNumber": last.sequence_number,
            "approximateArrivalOfFirstRecord": iso_millis(first.arrival),
            "approximateArrivalOfLastRecord": iso_millis(last.arrival),
            "batchSize": len(discard.records),
            "streamArn": stream_arn,
        },
    }
    if discard.last is not None:
        response = {
            "statusCode": discard.last.status_code,
            "executedVersion": discard.last.executed_version,
        }
        if discard.last.function_error:
            response["functionError"] = discard.last.function_error
        record["responseContext"] = response  # type: ignore[typeddict-item]
    return record


def kinesis_record(
    r: StreamRecord, *, shard_id: str, stream_arn: str, role_arn: str
) -> KinesisRecord:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": r.partition_key,
            "sequenceNumber": r.sequence_number,
            "data": base64.b64encode(r.data).decode(),
            "approximateArrivalTimestamp": round(r.arrival, 3),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{r.sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn,
        "awsRegion": arn_region(stream_arn),
        "eventSourceARN": stream_arn,
    }
