"""Asynchronously invoked worker: an SNS event, or a direct async invoke whose payload is the event.

Errors are raised: Lambda's async retries (MaximumRetryAttempts), then the
OnFailure destination or the function DLQ, decide where a failing event ends.
"""

from __future__ import annotations

from typing import Any

from functions.common import ledger
from functions.common.events import require_id, sns_payload
from functions.common.idempotency import run_once
from functions.common.observability import lambda_entry, logger, metrics


def process(payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": payload["id"], "count": ledger.record(payload["id"])}


def payloads(event: Any) -> list[Any]:
    """The event payloads carried by an SNS event, or the direct payload itself."""
    records = event.get("Records") if isinstance(event, dict) else None
    if (
        isinstance(records, list)
        and records
        and isinstance(records[0], dict)
        and "Sns" in records[0]
    ):
        return [sns_payload(r) for r in records]
    return [event]


@lambda_entry()
def handler(event: Any, context: Any) -> dict[str, Any]:
    results = []
    for payload in payloads(event):
        event_id = require_id(payload)
        logger.append_keys(event_id=event_id)
        results.append(run_once(process, payload, context))
        metrics.add_metric(name="Processed", unit="Count", value=1)
    return {"processed": results}
