"""Envelope parsing: every DLQ / destination wire shape in components/outputs.Envelope, to a
DeadLetter. Pure functions over a received SQS message (no AWS calls)."""

from __future__ import annotations

import json
from typing import Any

from chaos.types import DeadLetter
from components.outputs import Envelope

__all__ = ["event_id_of", "loads_json", "parse_message", "unwrap_event"]


def loads_json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text


def unwrap_event(body: Any) -> Any:
    """The chaos event inside whatever carried it (SNS envelope, SNS Lambda event, EventBridge
    event, destination record, SQS batch record); the body itself when nothing wraps it."""
    body = loads_json(body)
    for _ in range(6):  # wrappers nest at most a few deep (SQS <- EventBridge <- SNS ...)
        if not isinstance(body, dict):
            return body
        if "requestPayload" in body and "requestContext" in body:
            body = loads_json(body["requestPayload"])
        elif "detail-type" in body and "detail" in body:
            body = loads_json(body["detail"])
        elif body.get("Type") == "Notification" and "Message" in body:
            body = loads_json(body["Message"])
        elif isinstance(body.get("Records"), list) and body["Records"]:
            rec = body["Records"][0]
            if "Sns" in rec:
                body = loads_json(rec["Sns"].get("Message"))
            elif "body" in rec:
                body = loads_json(rec["body"])
            else:
                return body
        elif "Payload" in body and "id" not in body:  # Step Functions task input shape
            body = loads_json(body["Payload"])
        else:
            return body
    return body


def event_id_of(body: Any) -> str | None:
    event = unwrap_event(body)
    if isinstance(event, dict) and isinstance(event.get("id"), str):
        return event["id"]
    return None


def _attr(message: dict[str, Any], name: str) -> str | None:
    attr = (message.get("MessageAttributes") or {}).get(name)
    return None if attr is None else attr.get("StringValue")


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def parse_message(envelope: Envelope, queue_url: str, message: dict[str, Any]) -> DeadLetter:
    """One SQS message of a DLQ / destination queue, parsed by the envelope kind its route names.

    Kinesis OnFailure records hold pointers, not records: resolve them with `resolve_kinesis`.
    """
    body = loads_json(message.get("Body"))
    attributes = message.get("Attributes") or {}
    sent = attributes.get("SentTimestamp")
    dl: DeadLetter = {
        "envelope": envelope,
        "queue_url": queue_url,
        "message_id": str(message.get("MessageId", "")),
        "sent_at": int(sent) / 1000 if sent else None,
        "payload": unwrap_event(body),
        "event_id": event_id_of(body),
        "error_code": None,
        "error_message": None,
        "request_id": None,
        "condition": None,
        "approximate_invoke_count": None,
        "rule_arn": None,
        "target_arn": None,
        "retry_attempts": None,
        "pointer": None,
        "receive_count": _int(attributes.get("ApproximateReceiveCount")),
    }
    if envelope == "lambda_dlq":
        dl.update(
            {
                "request_id": _attr(message, "RequestID"),
                "error_code": _attr(message, "ErrorCode"),
                "error_message": _attr(message, "ErrorMessage"),
            }
        )
    elif envelope == "eventbridge_dlq":
        dl.update(
            {
                "error_code": _attr(message, "ERROR_CODE"),
                "error_message": _attr(message, "ERROR_MESSAGE"),
                "rule_arn": _attr(message, "RULE_ARN"),
                "target_arn": _attr(message, "TARGET_ARN"),
                "retry_attempts": _int(_attr(message, "RETRY_ATTEMPTS")),
            }
        )
    elif envelope in ("destination", "kinesis_on_failure") and isinstance(body, dict):
        ctx = body.get("requestContext") or {}
        resp = body.get("responseContext") or {}
        payload = loads_json(body.get("responsePayload"))
        dl.update(
            {
                "condition": ctx.get("condition"),
                "request_id": ctx.get("requestId"),
                "approximate_invoke_count": _int(ctx.get("approximateInvokeCount")),
                "error_code": resp.get("functionError"),
                "error_message": payload.get("errorMessage") if isinstance(payload, dict) else None,
            }
        )
        info = body.get("KinesisBatchInfo")
        if envelope == "kinesis_on_failure" and isinstance(info, dict):
            dl["event_id"] = None  # filled per record by resolve_kinesis
            dl["payload"] = None
            dl["pointer"] = {
                "stream_arn": str(info.get("streamArn", "")),
                "shard_id": str(info.get("shardId", "")),
                "start_sequence_number": str(info.get("startSequenceNumber", "")),
                "end_sequence_number": str(info.get("endSequenceNumber", "")),
                "batch_size": int(info.get("batchSize", 0) or 0),
            }
    elif envelope == "failure_record" and isinstance(body, dict):
        # The compensation's record: {id, error, cause, cause_detail, input, recorded_at}; the
        # raw Catch output {id, error: {Error, Cause}} is accepted too.
        err = body.get("error")
        cause: Any = body.get("cause_detail") or loads_json(body.get("cause"))
        if isinstance(err, dict):
            cause = loads_json(err.get("Cause"))
            err = err.get("Error")
        dl.update(
            {
                "error_code": err if isinstance(err, str) else None,
                "error_message": cause.get("errorMessage") if isinstance(cause, dict) else cause,
            }
        )
    return dl
