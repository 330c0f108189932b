"""Kinesis -> Lambda with ReportBatchItemFailures.

A failed record is reported by its sequence number; Lambda then retries the
batch from the lowest failed sequence number (the records after it are
redelivered too, hence idempotency), bisecting when configured.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)

from functions.common import ledger
from functions.common.events import kinesis_payload, require_id
from functions.common.idempotency import run_once
from functions.common.observability import bind_event, lambda_entry, metrics
from functions.faults import record_faults


def process(payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": payload["id"], "count": ledger.record(payload["id"])}


@record_faults
def record_handler(record: KinesisStreamRecord, context: Any = None) -> dict[str, Any]:
    payload = kinesis_payload(record.raw_event)
    event_id = require_id(payload)
    bind_event(event_id, payload)
    result = run_once(process, payload, context)
    metrics.add_metric(name="Processed", unit="Count", value=1)
    return result


@lambda_entry(per_record=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    response = process_partial_response(
        event=event,
        record_handler=lambda record: record_handler(record, context),
        processor=BatchProcessor(event_type=EventType.KinesisDataStreams),
        context=context,
    )
    failures = len(response.get("batchItemFailures", []))
    if failures:
        metrics.add_metric(name="RecordFailures", unit="Count", value=failures)
    return response
