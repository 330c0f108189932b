"""Moves messages from a DLQ back to its source queue, idempotently, and reports counts.

Input: `{"dlq_url", "source_url", "max_messages"?, "visibility_timeout"?}`; `{"dlq_url"}` alone
to send one DLQ home to the source REDRIVE_SOURCES (JSON: DLQ url -> source url) names for it
(a DLQ it does not name is refused); or `{}` (or `{"max_messages": n}`) to redrive every pair.
Output: RedriveReport {moved, failed, skipped, by_source}.

Why it is safe to crash (the chosen design): for each DLQ message the send is
an idempotent operation keyed by the DLQ message's MessageId (Powertools
idempotency in IDEMPOTENCY_TABLE), and the message is deleted from the DLQ
only after the send succeeded and was recorded. A crash or failed delete
after the send leaves the message in the DLQ; the next run finds the send
already COMPLETED, does not send again, and only deletes (counted `skipped`).
So a crash between send and delete does not put a second copy downstream.
FIFO sources also get MessageDeduplicationId = the original MessageId, so SQS
itself drops a repeat within its 5-minute window. The one window left (the
process dies after SQS accepted the send but before the idempotency record
says COMPLETED) cannot be closed without a transaction spanning SQS and
DynamoDB; the copy it could make carries the same event `id`, which the
workers' idempotency deduplicates, and the original MessageId in the
attribute `failmodes_redriven_from`. Without IDEMPOTENCY_TABLE that logged
fallback is all there is.
Each completed move is recorded in the ledger (event `id` of the body, or the
DLQ MessageId when the body has none), after the delete.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from functions.common import clients, ledger
from functions.common.config import env_str
from functions.common.exceptions import PoisonEventError
from functions.common.idempotency import run_once
from functions.common.observability import lambda_entry, logger, metrics
from functions.common.types import RedriveReport, SourceReport

REDRIVE_SOURCES = "REDRIVE_SOURCES"
REDRIVEN_FROM_ATTRIBUTE = "failmodes_redriven_from"
DEFAULT_MAX_MESSAGES = 100
DEFAULT_VISIBILITY_TIMEOUT = 30
# Stop receiving when less than this is left: each move needs a few SDK calls.
RESERVE_MILLIS = 3000
# ...but never keep back more than 1/RESERVE_DIVISOR of the time the invocation started
# with: with a short timeout (3 s is Lambda's default) a fixed 3 s reserve would
# stop before the first receive and report {"moved": 0} on a full DLQ.
RESERVE_DIVISOR = 4
SQS_MAX_ATTRIBUTES = 10

_sends = 0  # bumped by send_copy only when it really sends (a replay returns the stored result)


def send_copy(payload: dict[str, Any]) -> dict[str, Any]:
    """Send one DLQ message to its source; idempotent on payload['MessageId']."""
    global _sends
    message = payload["message"]
    attributes = dict(message.get("MessageAttributes") or {})
    if len(attributes) < SQS_MAX_ATTRIBUTES:
        attributes[REDRIVEN_FROM_ATTRIBUTE] = {
            "DataType": "String",
            "StringValue": message["MessageId"],
        }
    params: dict[str, Any] = {
        "QueueUrl": payload["source_url"],
        "MessageBody": message["Body"],
    }
    if attributes:
        params["MessageAttributes"] = {
            k: {f: v for f, v in a.items() if f in ("DataType", "StringValue", "BinaryValue")}
            for k, a in attributes.items()
        }
    if payload["source_url"].endswith(".fifo"):
        group = (message.get("Attributes") or {}).get("MessageGroupId")
        if not group:
            raise PoisonEventError(
                "FIFO source but the DLQ message has no MessageGroupId", message["MessageId"]
            )
        params["MessageGroupId"] = group
        params["MessageDeduplicationId"] = message["MessageId"]
    sent = clients.client("sqs").send_message(**params)
    _sends += 1
    return {"MessageId": message["MessageId"], "sent_as": sent["MessageId"]}


def _ledger_id(body: str, message_id: str) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return message_id
    event_id = doc.get("id") if isinstance(doc, dict) else None
    return event_id if isinstance(event_id, str) and event_id else message_id


def redrive(
    dlq_url: str, source_url: str, max_messages: int, visibility: int, context: Any
) -> SourceReport:
    sqs = clients.client("sqs")
    report: SourceReport = {"dlq_url": dlq_url, "moved": 0, "failed": 0, "skipped": 0}
    seen: set[str] = set()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    reserve = min(RESERVE_MILLIS, remaining() // RESERVE_DIVISOR) if remaining else 0
    while len(seen) < max_messages:
        if remaining is not None and remaining() < reserve:
            logger.warning("stopping early: the invocation is running out of time")
            break
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(10, max_messages - len(seen)),
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break  # empty, or only messages this run already handled
        for message in fresh:
            seen.add(message["MessageId"])
            sends_before = _sends
            try:
                run_once(
                    send_copy,
                    {
                        "MessageId": message["MessageId"],
                        "message": message,
                        "source_url": source_url,
                    },
                    context,
                    key="MessageId",
                )
            except (ClientError, PoisonEventError) as exc:
                report["failed"] += 1
                logger.warning(
                    "send failed; left in the DLQ",
                    extra={"message_id": message["MessageId"], "error": str(exc)},
                )
                continue
            replay = _sends == sends_before
            try:
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            except ClientError as exc:
                report["failed"] += 1
                logger.warning(
                    "sent but not deleted; the next run skips the send",
                    extra={"message_id": message["MessageId"], "error": str(exc)},
                )
                continue
            ledger.record(_ledger_id(message["Body"], message["MessageId"]))
            report["skipped" if replay else "moved"] += 1
    return report


def _pairs(event: dict[str, Any]) -> dict[str, str]:
    # Present at all, not truthy: a falsy non-string dlq_url must be refused, not read as
    # "every configured pair" (which would widen the request).
    if "source_url" in event:
        if not isinstance(event.get("dlq_url"), str) or not isinstance(
            event.get("source_url"), str
        ):
            raise PoisonEventError("give both dlq_url and source_url as strings")
        return {event["dlq_url"]: event["source_url"]}
    if "dlq_url" in event:
        # One DLQ, sent home to the source the stack configured for it.
        dlq_url = event["dlq_url"]
        if not isinstance(dlq_url, str):
            raise PoisonEventError("dlq_url must be a string")
        configured = _configured_pairs()
        if dlq_url not in configured:
            known = ", ".join(sorted(configured)) or "none"
            raise PoisonEventError(
                f"dlq_url {dlq_url!r} is not in {REDRIVE_SOURCES}; configured DLQs: {known}"
            )
        return {dlq_url: configured[dlq_url]}
    return _configured_pairs()


def _configured_pairs() -> dict[str, str]:
    raw = env_str(REDRIVE_SOURCES)
    try:
        pairs = json.loads(raw)
    except ValueError:
        raise PoisonEventError(f"{REDRIVE_SOURCES} is not JSON: {raw!r}") from None
    if not isinstance(pairs, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in pairs.items()
    ):
        raise PoisonEventError(f"{REDRIVE_SOURCES} must map DLQ url -> source url: {raw!r}")
    return pairs


def _positive_int(event: dict[str, Any], key: str, default: int) -> int:
    value = event.get(key, default)
    least = 1 if key == "max_messages" else 0
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise PoisonEventError(f"{key} must be an integer >= {least}, got {value!r}")
    return value


@lambda_entry()
def handler(event: Any, context: Any) -> RedriveReport:
    if event is None:
        event = {}
    if not isinstance(event, dict):
        raise PoisonEventError(f"expected a JSON object, got {type(event).__name__}")
    max_messages = _positive_int(event, "max_messages", DEFAULT_MAX_MESSAGES)
    visibility = _positive_int(event, "visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT)
    report: RedriveReport = {"moved": 0, "failed": 0, "skipped": 0, "by_source": {}}
    for dlq_url, source_url in _pairs(event).items():
        part = redrive(dlq_url, source_url, max_messages, visibility, context)
        report["by_source"][source_url] = part
        for key in ("moved", "failed", "skipped"):
            report[key] += part[key]  # type: ignore[literal-required]
    for key in ("moved", "failed", "skipped"):
        metrics.add_metric(name=f"Redrive{key.capitalize()}", unit="Count", value=report[key])  # type: ignore[literal-required]
    logger.info("redrive done", extra={"report": report})
    return report
