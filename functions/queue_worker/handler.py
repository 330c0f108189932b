"""SQS -> Lambda worker with ReportBatchItemFailures (also each FanOut consumer).

Each record's body is the event JSON; its side effect is a ledger entry, made
at most once per event id. A bad record is reported as a batch item failure,
so SQS redelivers only it and, after maxReceiveCount, moves it to the DLQ.
FIFO queues (source ARN ending .fifo) keep order: a failed record fails the
rest of its message group in this batch.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.common import ledger
from functions.common.events import require_id, sqs_payload
from functions.common.idempotency import run_once
from functions.common.observability import bind_event, lambda_entry, metrics
from functions.faults import record_faults


def process(payload: dict[str, Any]) -> dict[str, Any]:
    count = ledger.record(payload["id"])
    return {"id": payload["id"], "count": count}


@record_faults
def record_handler(record: SQSRecord, context: Any = None) -> dict[str, Any]:
    payload = sqs_payload(record.raw_event)
    event_id = require_id(payload)
    bind_event(event_id, payload)
    result = run_once(process, payload, context)
    metrics.add_metric(name="Processed", unit="Count", value=1)
    return result


def _is_fifo(event: dict[str, Any]) -> bool:
    records = event.get("Records") or []
    return bool(records) and str(records[0].get("eventSourceARN", "")).endswith(".fifo")


@lambda_entry(per_record=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    processor = (
        SqsFifoPartialProcessor(skip_group_on_error=True)
        if _is_fifo(event)
        else BatchProcessor(event_type=EventType.SQS)
    )
    response = process_partial_response(
        event=event,
        record_handler=lambda record: record_handler(record, context),
        processor=processor,
        context=context,
    )
    failures = len(response.get("batchItemFailures", []))
    if failures:
        metrics.add_metric(name="RecordFailures", unit="Count", value=failures)
    return response
