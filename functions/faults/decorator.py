"""`@chaos_handler`: the one decorator a user's own handler wears.

A plain `handler(event, context)` with business code and no ledger call gets what this
project's handlers get: the observability stack and the fault middleware
(common.observability.lambda_entry, so faults.base's one engine), per record for batch
events, and the ledger record of every event it handled (common.ledger.record, partition
LEDGER_PATTERN, table LEDGER_TABLE, set by every component), which is what the chaos
verdict "processed" reads.

Batch events (SQS, Kinesis; the components set ReportBatchItemFailures): each record's
failure is drawn before the handler runs; a record drawn to fail is kept from the handler
and reported in `batchItemFailures`, merged with the ones the handler returns. Every record
the handler was handed and did not report failed is then recorded. With FAIL_PHASE=after the
drawn records are handed too and reported failed once it returned (their side effects done,
their ledger entries written, so a redelivery shows as a duplicate, as for our handlers).

Single events (async invoke, SNS, EventBridge, API Gateway): a return is handled (for API
Gateway a statusCode below 500), an exception is not; a handled event is recorded once.

A poison event (`"poison": true`, what the chaos traffic sends to prove the poison route,
docs/contracts.md) is never handed to the business code: it fails as our handlers fail it
(PoisonEventError), so it takes the failure route whatever the business code would make of
it; in a batch only its record fails.

An event without a chaos `id` (event_id_of's) is not recorded, and said once per handler;
the business handler never fails for it. A ledger write that fails (e.g. a throttled
DynamoDB) fails the event instead: a handled event that is not recorded, and not retried,
would read as lost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from functions.faults.base import arm_records, draw_records, id_of_payload
from functions.faults.exceptions import InjectedFailure

__all__ = ["BATCH_SOURCES", "SERVER_ERROR", "chaos_handler"]

logger = Logger(child=True)

SQS = "aws:sqs"
KINESIS = "aws:kinesis"
# Record sources whose mapping takes a partial batch response (ReportBatchItemFailures).
BATCH_SOURCES = (SQS, KINESIS)
# API Gateway answers from this status up are the handler failing, not handling the request.
SERVER_ERROR = 500

Handler = Callable[[Any, Any], Any]


def chaos_handler(handler: Handler) -> Handler:
    """Decorate `handler(event, context)`: faults, observability and ledger records around it."""
    # Imported here, not at the top: common.observability (and common.ledger, through
    # common.clients' throttle hook) import this package, which must finish loading first.
    from functions.common.observability import lambda_entry

    said = _Once()

    @functools.wraps(handler)
    def batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return _batch(handler, event, context, said)

    @functools.wraps(handler)
    def single(event: Any, context: Any) -> Any:
        return _single(handler, event, context, said)

    # Both built once, here: which one an invocation takes depends on its event.
    batch_entry = lambda_entry(per_record=True)(batch)
    single_entry = lambda_entry()(single)

    @functools.wraps(handler)
    def entry(event: Any, context: Any) -> Any:
        return (batch_entry if _source(event) else single_entry)(event, context)

    return entry


class _Once:
    """The missing-id warning, once per decorated handler (per cold start)."""

    def __init__(self) -> None:
        self.done = False

    def no_id(self, where: str) -> None:
        if not self.done:
            self.done = True
            logger.warning(
                f"chaos_handler: {where} has no string `id` in its payload, so it is not "
                "recorded in the ledger (chaos traffic sends JSON bodies with an `id`); "
                "said once"
            )


def _source(event: Any) -> str | None:
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records and isinstance(records[0], dict):
        source = records[0].get("eventSource")
        return source if source in BATCH_SOURCES else None
    return None


def _identifier(record: dict[str, Any], source: str) -> str | None:
    """What a partial batch response names a record by: SQS messageId, Kinesis sequence number."""
    if source == KINESIS:
        value = (record.get("kinesis") or {}).get("sequenceNumber")
    else:
        value = record.get("messageId")
    return value if isinstance(value, str) and value else None


def _fifo_group(record: dict[str, Any]) -> str | None:
    if not str(record.get("eventSourceARN", "")).endswith(".fifo"):
        return None
    return (record.get("attributes") or {}).get("MessageGroupId")


def _failing(records: list[dict[str, Any]], source: str, drawn: list[bool]) -> list[int]:
    """Indexes of the records the drawn failures fail (and, under FAIL_PHASE=before, withhold)."""
    if source == KINESIS:
        # Lambda checkpoints a Kinesis shard at the lowest failed sequence number and hands
        # every record from there on again: records after the first failure would run twice,
        # so the handler sees only those before it (Powertools' BatchProcessor would run them).
        first = next((i for i, failed in enumerate(drawn) if failed), len(records))
        return list(range(first, len(records)))
    failing: list[int] = []
    failed_groups: set[str] = set()
    for i, record in enumerate(records):
        group = _fifo_group(record)
        if drawn[i] or (group is not None and group in failed_groups):
            # A FIFO queue keeps order per message group: a later message of a group whose
            # earlier one failed must not be handled before it (SqsFifoPartialProcessor's
            # skip_group_on_error, as queue_worker does).
            failing.append(i)
            if group is not None:
                failed_groups.add(group)
    return failing


def _failures(
    records: list[dict[str, Any]], source: str, indexes: list[int]
) -> list[dict[str, str]]:
    items = []
    for i in indexes[:1] if source == KINESIS else indexes:
        identifier = _identifier(records[i], source)
        if identifier is None:
            # Without an identifier the record cannot be reported alone: fail the batch.
            raise InjectedFailure(f"injected failure for a {source} record with no identifier")
        items.append({"itemIdentifier": identifier})
    return items


def _reported(result: Any) -> list[dict[str, Any]]:
    """The batch item failures the handler returned itself (a dict, a Powertools response)."""
    items = result.get("batchItemFailures") if isinstance(result, dict) else None
    return [item for item in items or [] if isinstance(item, dict)]


def _batch(handler: Handler, event: dict[str, Any], context: Any, said: _Once) -> dict[str, Any]:
    from functions.common import ledger
    from functions.common.observability import metrics

    records: list[dict[str, Any]] = event["Records"]
    source = str(records[0]["eventSource"])
    draws = draw_records(records)
    from functions.common.events import payload_of

    payloads = [payload_of(record) for record in records]  # each body decoded once here
    poison = {i for i, payload in enumerate(payloads) if _poison(payload)}
    drawn = [failure is not None or i in poison for i, (_, failure) in enumerate(draws)]
    failing = set(_failing(records, source, drawn))
    # FAIL_PHASE is one setting: either every drawn failure is raised before or every after.
    after = any(phase == "after" for phase, failure in draws if failure is not None)
    handed = [
        (i, r) for i, r in enumerate(records) if i not in poison and (after or i not in failing)
    ]
    arm_records([r for _, r in handed])
    result: Any = None
    if handed:
        result = handler({**event, "Records": [r for _, r in handed]}, context)
    own = _reported(result)
    reported = {item.get("itemIdentifier") for item in own}
    processed = 0
    for i, record in handed:
        if _identifier(record, source) in reported:
            continue
        event_id = id_of_payload(payloads[i])
        if event_id is None:
            said.no_id(f"a record from {source}")
            continue
        try:
            ledger.record(event_id)
        except Exception:
            logger.exception("chaos_handler: ledger record failed; the record fails with it")
            failing.add(i)
        else:
            processed += 1
    if processed:
        metrics.add_metric(name="Processed", unit="Count", value=processed)
    ours = _failures(records, source, sorted(failing))
    items = own + [item for item in ours if item["itemIdentifier"] not in reported]
    if items:
        metrics.add_metric(name="RecordFailures", unit="Count", value=len(items))
    response = dict(result) if isinstance(result, dict) else {}
    response["batchItemFailures"] = items
    return response


def _poison(payload: Any) -> bool:
    """A decoded payload marked poison by the chaos traffic (docs/contracts.md, "Events and
    the ledger")."""
    return isinstance(payload, dict) and payload.get("poison") is True


def _is_api(event: Any) -> bool:
    return isinstance(event, dict) and "requestContext" in event and "body" in event


def _single(handler: Handler, event: Any, context: Any, said: _Once) -> Any:
    from functions.common import ledger
    from functions.common.events import payload_of
    from functions.common.exceptions import PoisonEventError
    from functions.common.observability import bind_event, metrics

    payload = payload_of(event)
    event_id = id_of_payload(payload)
    if event_id is not None:
        bind_event(event_id, payload)
    if _poison(payload):
        raise PoisonEventError("payload is marked poison", event_id)
    result = handler(event, context)
    if _is_api(event) and isinstance(result, dict):
        status = result.get("statusCode")
        if isinstance(status, int) and status >= SERVER_ERROR:
            return result
    if event_id is None:
        said.no_id("the event")
        return result
    ledger.record(event_id)
    metrics.add_metric(name="Processed", unit="Count", value=1)
    return result
