"""SNS -> Lambda -> DynamoDB ride record writer (the Wild Rydes pattern).

Writes the ride to RIDES_TABLE (partition key `id`, string), then the ledger.
Errors are raised for the async retry / DLQ path; a DynamoDB throttle is
retried by the SDK first, as on AWS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from functions.common import clients, ledger
from functions.common.config import env_str
from functions.common.events import async_payloads, require_id
from functions.common.idempotency import run_once
from functions.common.observability import bind_event, lambda_entry, metrics

RIDES_TABLE = "RIDES_TABLE"
RIDES_KEY = "id"


def write_ride(payload: dict[str, Any]) -> dict[str, Any]:
    clients.client("dynamodb").put_item(
        TableName=env_str(RIDES_TABLE),
        Item={
            RIDES_KEY: {"S": payload["id"]},
            "payload": {"S": json.dumps(payload, sort_keys=True, default=str)},
            "written_at": {"S": datetime.now(UTC).isoformat()},
        },
    )
    return {"id": payload["id"], "count": ledger.record(payload["id"])}


@lambda_entry()
def handler(event: Any, context: Any) -> dict[str, Any]:
    results = []
    for payload in async_payloads(event):
        event_id = require_id(payload)
        bind_event(event_id, payload)
        results.append(run_once(write_ride, payload, context))
        metrics.add_metric(name="RidesWritten", unit="Count", value=1)
    return {"written": results}
