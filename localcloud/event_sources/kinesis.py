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
import threading
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .base import (
    ClientFactory,
    Invocation,
    InvokeFn,
    MappingSpec,
    Stoppable,
    arn_region,
    arn_resource,
    invoke_sync,
    throttle_backoff,
)
from .types import KinesisOnFailureRecord, KinesisRecord

logger = logging.getLogger(__name__)

# AWS polls each shard about once a second; an idle shard backs off to that, a busy one
# is read again at once (every GetRecords takes the endpoint's lock).
IDLE_POLL_MIN, IDLE_POLL_MAX = 0.05, 1.0


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


@dataclass
class KinesisMappingRunner:
    """The shard pollers of one Kinesis mapping. `checkpoints` (shard -> sequence) outlives it."""

    spec: MappingSpec
    clients: ClientFactory
    invoke: InvokeFn
    time_scale: float
    checkpoints: dict[str, str] = field(default_factory=dict)
    latest_at: float | None = None  # when the mapping was created, for StartingPosition LATEST
    emit_metric: Callable[..., None] | None = None

    def __post_init__(self) -> None:
        self._stop = Stoppable()
        self._threads: list[threading.Thread] = []
        self._kinesis = self.clients("kinesis")
        self._role_arn = ""

    def start(self) -> None:
        self._threads = [
            threading.Thread(
                target=self._supervise, daemon=True, name=f"kinesis-esm-{self.spec.uuid[:8]}"
            )
        ]
        self._threads[0].start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.request_stop()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def _supervise(self) -> None:
        stream = arn_resource(self.spec.event_source_arn)
        try:
            config = self.clients("lambda").get_function_configuration(
                FunctionName=self.spec.function_arn
            )
            self._role_arn = config.get("Role", "")
            shards = self._kinesis.list_shards(StreamName=stream)["Shards"]
        except Exception as exc:
            logger.warning("mapping %s: cannot start on %s: %s", self.spec.uuid, stream, exc)
            return
        for shard in shards:
            thread = threading.Thread(
                target=self._shard_loop,
                args=(shard["ShardId"],),
                daemon=True,
                name=f"kinesis-{self.spec.uuid[:8]}-{shard['ShardId'][-4:]}",
            )
            self._threads.append(thread)
            thread.start()

    def _iterator(self, shard_id: str) -> str:
        # By name: moto 5.2.5 builds an iterator without the stream name when given the ARN.
        stream = arn_resource(self.spec.event_source_arn)
        args: dict[str, Any] = {"StreamName": stream, "ShardId": shard_id}
        if shard_id in self.checkpoints:
            args.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                StartingSequenceNumber=self.checkpoints[shard_id],
            )
        elif (
            self.spec.starting_position == "AT_TIMESTAMP" and self.spec.starting_position_timestamp
        ):
            args.update(
                ShardIteratorType="AT_TIMESTAMP", Timestamp=self.spec.starting_position_timestamp
            )
        elif self.spec.starting_position == "LATEST" and self.latest_at is not None:
            # LATEST as of the mapping's creation, not of this thread's start.
            args.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=self.latest_at)
        else:
            args.update(ShardIteratorType=self.spec.starting_position or "TRIM_HORIZON")
        return self._kinesis.get_shard_iterator(**args)["ShardIterator"]

    def _shard_loop(self, shard_id: str) -> None:
        iterator: str | None = None
        idle = IDLE_POLL_MIN
        while not self._stop.stopping:
            batch: list[StreamRecord] = []
            deadline = time.monotonic() + self.spec.batching_window
            try:
                if iterator is None:
                    # From the checkpoint: a batch read but not finished is read again.
                    iterator = self._iterator(shard_id)
                while len(batch) < self.spec.batch_size and not self._stop.stopping:
                    response = self._kinesis.get_records(
                        ShardIterator=iterator, Limit=min(10_000, self.spec.batch_size - len(batch))
                    )
                    iterator = response["NextShardIterator"]
                    batch.extend(_stream_record(r) for r in response["Records"])
                    if (batch and self.spec.batching_window <= 0) or time.monotonic() >= deadline:
                        break
                    if not response["Records"] and self._stop.pause(IDLE_POLL_MIN):
                        return
            except Exception as exc:  # stream deleted or endpoint stopping
                logger.warning(
                    "mapping %s: get_records on %s failed: %s", self.spec.uuid, shard_id, exc
                )
                iterator = None
                if self._stop.pause(1.0):
                    return
                continue
            if not batch:
                if self._stop.pause(idle):
                    return
                idle = min(IDLE_POLL_MAX, idle * 2)
                continue
            idle = IDLE_POLL_MIN
            completed = process_batch(
                batch,
                BatchSettings.of(self.spec),
                invoke=lambda records: self._invoke(shard_id, records),
                on_discard=lambda discard: self._send_on_failure(shard_id, discard),
                on_checkpoint=lambda seq: self.checkpoints.__setitem__(shard_id, seq),
                backoff=lambda n: self._stop.pause(throttle_backoff(n, self.time_scale)),
                stopping=lambda: self._stop.stopping,
            )
            if not completed:
                return

    def _invoke(self, shard_id: str, records: list[StreamRecord]) -> Invocation:
        arn = self.spec.event_source_arn
        event = {
            "Records": [
                kinesis_record(r, shard_id=shard_id, stream_arn=arn, role_arn=self._role_arn)
                for r in records
            ]
        }
        if self.emit_metric is not None:
            age_ms = max(0.0, (time.time() - records[-1].arrival) * 1000)
            function_name = self.spec.function_arn.split(":")[6]
            try:
                self.emit_metric(
                    "AWS/Lambda",
                    "IteratorAge",
                    age_ms,
                    {"FunctionName": function_name},
                    unit="Milliseconds",
                )
            except Exception:  # a metric must never block the shard
                logger.exception("IteratorAge emission failed")
        return invoke_sync(self.invoke, self.spec.function_arn, json.dumps(event).encode())

    def _send_on_failure(self, shard_id: str, discard: Discard) -> None:
        logger.info(
            "mapping %s: %s discards %d records of %s",
            self.spec.uuid,
            discard.condition,
            len(discard.records),
            shard_id,
        )
        destination = self.spec.on_failure_arn
        if not destination:
            return
        document = json.dumps(
            on_failure_record(
                discard,
                shard_id=shard_id,
                stream_arn=self.spec.event_source_arn,
                function_arn=self.spec.function_arn,
                now=time.time(),
            )
        )
        send_to_destination(self.clients, destination, document)


def send_to_destination(clients: ClientFactory, destination_arn: str, document: str) -> None:
    """Deliver a failure document to an SQS queue or SNS topic, retrying briefly."""
    from tenacity import retry, stop_after_attempt, wait_exponential

    service = destination_arn.split(":")[2]

    @retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.05, max=1), reraise=True)
    def send() -> None:
        if service == "sqs":
            sqs = clients("sqs")
            url = sqs.get_queue_url(
                QueueName=arn_resource(destination_arn),
                QueueOwnerAWSAccountId=destination_arn.split(":")[4],
            )["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=document)
        elif service == "sns":
            clients("sns").publish(TopicArn=destination_arn, Message=document)
        else:
            raise ValueError(
                f"OnFailure destination {destination_arn!r}: only SQS or SNS is allowed"
            )

    try:
        send()
    except Exception as exc:
        # AWS counts DestinationDeliveryFailures; the record is gone either way.
        logger.error("OnFailure delivery to %s failed: %s", destination_arn, exc)


def _stream_record(raw: dict[str, Any]) -> StreamRecord:
    arrival = raw.get("ApproximateArrivalTimestamp")
    stamp = arrival.timestamp() if hasattr(arrival, "timestamp") else float(arrival or time.time())
    return StreamRecord(
        raw["SequenceNumber"], raw.get("PartitionKey", ""), raw.get("Data", b""), stamp
    )
