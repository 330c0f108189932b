"""API Gateway (proxy, POST) -> EventBridge PutEvents, adding a correlation id.

The body must be a JSON object with a string `id`; anything else is a 400 that
names the problem. The correlation id comes from the x-correlation-id header
or is new. A poison event is forwarded like any other: rejecting it here would
leave it nowhere, while downstream (delivery) it fails into the designed DLQ.
A PutEvents entry that EventBridge refuses (FailedEntryCount > 0) raises
PublishError, so API Gateway answers 502 and Lambda counts an error.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from functions.common import clients, ledger
from functions.common.config import env_str
from functions.common.events import api_payload, require_id
from functions.common.exceptions import PoisonEventError
from functions.common.idempotency import run_once
from functions.common.observability import bind_event, lambda_entry, metrics
from functions.common.types import ApiResponse

EVENT_BUS_NAME = "EVENT_BUS_NAME"
EVENT_SOURCE = "EVENT_SOURCE"
EVENT_DETAIL_TYPE = "EVENT_DETAIL_TYPE"
CORRELATION_HEADER = "x-correlation-id"


class PublishError(RuntimeError):
    """EventBridge refused the entry; carries its ErrorCode and ErrorMessage."""

    def __init__(self, event_id: str, code: str | None, message: str | None) -> None:
        self.event_id, self.code = event_id, code
        super().__init__(f"PutEvents refused event {event_id}: {code}: {message}")


def _response(status: int, body: dict[str, Any]) -> ApiResponse:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name and value:
            return str(value)
    return None


def publish(payload: dict[str, Any]) -> dict[str, Any]:
    entry = {
        # Required: EventPipeline sets both, the same values its rule matches.
        "Source": env_str(EVENT_SOURCE),
        "DetailType": env_str(EVENT_DETAIL_TYPE),
        "Detail": json.dumps(payload),
        "EventBusName": env_str(EVENT_BUS_NAME),
    }
    result = clients.client("events").put_events(Entries=[entry])
    if result.get("FailedEntryCount", 0) > 0:
        failed: dict[str, Any] = next(
            (e for e in result.get("Entries", []) if e.get("ErrorCode")), {}
        )
        raise PublishError(payload["id"], failed.get("ErrorCode"), failed.get("ErrorMessage"))
    ledger.record(payload["id"])
    event_ids = [e.get("EventId") for e in result.get("Entries", [])]
    return {
        "id": payload["id"],
        "correlation_id": payload["correlation_id"],
        "event_id": event_ids[0],
    }


@lambda_entry()
def handler(event: dict[str, Any], context: Any) -> ApiResponse:
    try:
        payload = api_payload(event)
        event_id = require_id(payload, allow_poison=True)
    except PoisonEventError as exc:
        metrics.add_metric(name="Rejected", unit="Count", value=1)
        return _response(400, {"message": str(exc)})
    correlation_id = _header(event, CORRELATION_HEADER) or payload.get("correlation_id")
    if not isinstance(correlation_id, str) or not correlation_id:
        correlation_id = str(uuid.uuid4())
    bind_event(event_id, {"correlation_id": correlation_id})
    result = run_once(publish, {**payload, "correlation_id": correlation_id}, context)
    metrics.add_metric(name="Published", unit="Count", value=1)
    return _response(202, {"id": result["id"], "correlation_id": result["correlation_id"]})
