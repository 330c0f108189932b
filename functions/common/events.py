"""Event payload extraction, per entry point (docs/contracts.md: where the `id` lives).

payload_of() is lenient (None when undecodable) for matching; the `require_*`
functions are strict and raise PoisonEventError naming what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from functions.common.exceptions import PoisonEventError


def _loads(text: Any, where: str) -> Any:
    if not isinstance(text, str | bytes):
        raise PoisonEventError(f"{where} is not a string but {type(text).__name__}")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PoisonEventError(f"{where} is not JSON ({exc.__class__.__name__}: {exc})") from None


def sqs_payload(record: dict[str, Any]) -> Any:
    return _loads(record.get("body"), "SQS body")


def sns_payload(record: dict[str, Any]) -> Any:
    sns = record.get("Sns")
    if not isinstance(sns, dict):
        raise PoisonEventError("SNS record has no Sns object")
    return _loads(sns.get("Message"), "SNS Message")


def kinesis_payload(record: dict[str, Any]) -> Any:
    data = (record.get("kinesis") or {}).get("data")
    if not isinstance(data, str):
        raise PoisonEventError("Kinesis record has no kinesis.data string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise PoisonEventError("Kinesis data is not base64") from None
    return _loads(raw, "Kinesis data")


def eventbridge_payload(event: dict[str, Any]) -> Any:
    if "detail" not in event:
        raise PoisonEventError("EventBridge event has no detail")
    # PutEvents only accepts a JSON object as Detail, so anything else here is not an event.
    return event["detail"]


def api_payload(event: dict[str, Any]) -> Any:
    body = event.get("body")
    if body is None:
        raise PoisonEventError("request has no body")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise PoisonEventError("body is flagged base64 but is not base64") from None
    return _loads(body, "request body")


def payload_of(obj: Any) -> Any:
    """Best-effort decoded payload of an event or record, or None (used by fault matching)."""
    if not isinstance(obj, dict):
        return None
    try:
        if "body" in obj and "messageId" in obj:
            return sqs_payload(obj)
        if "body" in obj and ("httpMethod" in obj or "requestContext" in obj):
            return api_payload(obj)
        if "Sns" in obj:
            return sns_payload(obj)
        if "kinesis" in obj:
            return kinesis_payload(obj)
        if "detail" in obj and "detail-type" in obj:
            return eventbridge_payload(obj)
        records = obj.get("Records")
        if isinstance(records, list) and len(records) == 1:
            return payload_of(records[0])
    except PoisonEventError:
        return None
    return obj


def require_id(payload: Any, *, allow_poison: bool = False) -> str:
    """The payload's `id`; PoisonEventError when missing or when the payload is marked poison."""
    if not isinstance(payload, dict):
        raise PoisonEventError(f"payload is a JSON {type(payload).__name__}, not an object")
    event_id = payload.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise PoisonEventError("payload has no string `id`")
    if payload.get("poison") is True and not allow_poison:
        raise PoisonEventError("payload is marked poison", event_id)
    return event_id


def async_payloads(event: Any) -> list[Any]:
    """The payloads of an async invocation: each SNS record's Message, or the direct payload."""
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records and isinstance(records[0], dict):
        if "Sns" in records[0]:
            return [sns_payload(r) for r in records]
    return [event]
