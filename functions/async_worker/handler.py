"""Asynchronously invoked worker: an SNS event, or a direct async invoke whose payload is the event.

Errors are raised: Lambda's async retries (MaximumRetryAttempts), then the
OnFailure destination or the function DLQ, decide where a failing event ends.
"""

from __future__ import annotations

from typing import Any

from functions.common import ledger
from functions.common.events import async_payloads, require_id
from functions.common.idempotency import run_once
from functions.common.observability import bind_event, lambda_entry, metrics


def process(payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": payload["id"], "count": ledger.record(payload["id"])}


@lambda_entry()
def handler(event: Any, context: Any) -> dict[str, Any]:
    results = []
    for payload in async_payloads(event):
        event_id = require_id(payload)
        bind_event(event_id, payload)
        results.append(run_once(process, payload, context))
        metrics.add_metric(name="Processed", unit="Count", value=1)
    return {"processed": results}
