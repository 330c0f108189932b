"""Step Functions Catch target: writes a failure record for the id, then the ledger.

Input `{id, error: {Error, Cause}, ...}` (the Catch ResultPath "$.error").
Poison events are compensated too: recording why an event failed is this
step's whole job, so only a missing id or error is rejected.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from functions.common import clients, ledger
from functions.common.config import env_str
from functions.common.events import require_id
from functions.common.exceptions import PoisonEventError
from functions.common.idempotency import run_once
from functions.common.observability import bind_event, lambda_entry, metrics
from functions.common.types import FailureRecord

FAILURE_QUEUE_URL = "FAILURE_QUEUE_URL"


def failure_record(event: dict[str, Any]) -> FailureRecord:
    error = event.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("Error"), str):
        raise PoisonEventError(
            "compensation input has no error.Error (Catch ResultPath $.error)", event.get("id")
        )
    cause = error.get("Cause") or ""
    try:
        detail = json.loads(cause) if isinstance(cause, str) and cause else None
    except ValueError:
        detail = None
    return {
        "id": event["id"],
        "error": error["Error"],
        "cause": cause if isinstance(cause, str) else json.dumps(cause),
        "cause_detail": detail,
        "input": {k: v for k, v in event.items() if k != "error"},
        "recorded_at": datetime.now(UTC).isoformat(),
    }


def write(payload: dict[str, Any]) -> dict[str, Any]:
    record = failure_record(payload)
    sent = clients.client("sqs").send_message(
        QueueUrl=env_str(FAILURE_QUEUE_URL),
        MessageBody=json.dumps(record),
        MessageAttributes={
            "event_id": {"DataType": "String", "StringValue": record["id"]},
            "error": {"DataType": "String", "StringValue": record["error"]},
        },
    )
    ledger.record(record["id"])
    return {
        "id": record["id"],
        "status": "compensated",
        "error": record["error"],
        "message_id": sent["MessageId"],
    }


@lambda_entry()
def handler(event: Any, context: Any) -> dict[str, Any]:
    event_id = require_id(event, allow_poison=True)
    bind_event(event_id, event)
    failure_record(event)  # validate before the idempotency record is taken
    result = run_once(write, event, context)
    metrics.add_metric(name="Compensated", unit="Count", value=1)
    return result
