"""The shard pollers of a Kinesis mapping: read each shard in order and drive `process_batch`.

One thread per shard (ParallelizationFactor is not modelled: 1 batch per shard at
a time). Reads go through the endpoint with boto3; the checkpoint per shard
lives in the service, so a mapping update or a disable/enable resumes after the
last record that was processed or discarded.

Reads are made with the function's execution role: one that no longer allows
kinesis:ListShards, GetShardIterator or GetRecords on the stream stops the shard where it is
(the records wait in the stream, IteratorAge grows, the mapping's LastProcessingResult says
PROBLEM) until the grant is back. The OnFailure record is sent with the role too: without
sqs:SendMessage / sns:Publish on the destination it is dropped and
DestinationDeliveryFailures counts it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from localcloud.lambda_.execution_role import send_grant

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
    arn_resource,
    ignore,
    invoke_sync,
    throttle_backoff,
)
from .kinesis import (
    BatchSettings,
    Discard,
    StreamRecord,
    kinesis_record,
    on_failure_record,
    process_batch,
)

logger = logging.getLogger(__name__)

# AWS polls each shard about once a second; an idle shard backs off to that, a busy one
# is read again at once (every GetRecords takes the endpoint's lock).
IDLE_POLL_MIN, IDLE_POLL_MAX = 0.05, 1.0


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
    authorize: Authorize = allow_all
    report: Report = ignore

    def __post_init__(self) -> None:
        self._stop = Stoppable()
        self.role = RoleGate(self.spec, self.authorize, self.report, lambda: self._stop.stopping)
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
        while True:
            try:
                config = self.clients("lambda").get_function_configuration(
                    FunctionName=self.spec.function_arn
                )
                self._role_arn = config.get("Role", "")
                self.role.require("kinesis:ListShards")
                shards = self._kinesis.list_shards(StreamName=stream)["Shards"]
                break
            except AccessDenied:  # reported by the gate: try again until the grant is back
                if self._stop.pause(1.0):
                    return
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
                    self.role.require("kinesis:GetShardIterator")
                    iterator = self._iterator(shard_id)
                while len(batch) < self.spec.batch_size and not self._stop.stopping:
                    self.role.require("kinesis:GetRecords")
                    response = self._kinesis.get_records(
                        ShardIterator=iterator, Limit=min(10_000, self.spec.batch_size - len(batch))
                    )
                    iterator = response["NextShardIterator"]
                    batch.extend(_stream_record(r) for r in response["Records"])
                    if (batch and self.spec.batching_window <= 0) or time.monotonic() >= deadline:
                        break
                    if not response["Records"] and self._stop.pause(IDLE_POLL_MIN):
                        return
            except AccessDenied:  # reported by the gate; the shard waits where it is
                batch, iterator = [], None
                if self._stop.pause(1.0):
                    return
                continue
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
            self.role.result("OK")
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
        grant = send_grant(destination)
        if grant is not None and not self.authorize(
            self.spec.function_arn, grant.action, destination
        ):
            logger.error(
                "mapping %s: OnFailure record for %d records of %s dropped: the execution role"
                " does not allow %s on %s",
                self.spec.uuid,
                len(discard.records),
                shard_id,
                grant.action,
                destination,
            )
            self._delivery_failed()
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
        if not send_to_destination(self.clients, destination, document):
            self._delivery_failed()

    def _delivery_failed(self) -> None:
        if self.emit_metric is None:
            return
        function_name = self.spec.function_arn.split(":")[6]
        try:
            self.emit_metric(
                "AWS/Lambda", "DestinationDeliveryFailures", 1, {"FunctionName": function_name}
            )
        except Exception:  # a metric must never block the shard
            logger.exception("DestinationDeliveryFailures emission failed")


def send_to_destination(clients: ClientFactory, destination_arn: str, document: str) -> bool:
    """Deliver a failure document to an SQS queue or SNS topic, retrying briefly; False when
    it could not be delivered."""
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
        return False
    return True


def _stream_record(raw: dict[str, Any]) -> StreamRecord:
    arrival = raw.get("ApproximateArrivalTimestamp")
    stamp = arrival.timestamp() if hasattr(arrival, "timestamp") else float(arrival or time.time())
    return StreamRecord(
        raw["SequenceNumber"], raw.get("PartitionKey", ""), raw.get("Data", b""), stamp
    )
