"""Delivers an event to the slow third-party API, with tenacity retries inside its own time budget.

Two triggers (docs/contracts.md):
- direct: EventBridge invokes the function asynchronously with the event;
  a delivery that fails all attempts raises, for the async retry / DLQ path;
- flow-controlled: an SQS batch whose bodies are EventBridge events; a failed
  record is a batch item failure, so SQS redelivers it and then dead-letters it.

Retries (seed demo): wait DELIVERY_WAIT_BASE s + random 0..DELIVERY_WAIT_JITTER s,
DELIVERY_ATTEMPTS attempts, on HTTP 429, 5xx, timeouts and connection errors (every
variable required: EventPipeline always sets them, its Settings hold the defaults);
other 4xx are permanent and not retried. Each attempt's HTTP timeout is
DELIVERY_HTTP_TIMEOUT capped below the invocation's remaining time, and no
attempt starts that could not finish before the function's own deadline.

The API key is read from the Secrets Manager secret SLOW_API_KEY_SECRET names (Powertools
parameters, cached SLOW_API_KEY_MAX_AGE s per execution environment), never from the
environment; a 403 reads the secret again, and a key rotated since is tried at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_fixed,
    wait_random,
)
from tenacity.stop import stop_base

from functions.common import clients, ledger
from functions.common.config import env_float, env_int, env_str
from functions.common.events import eventbridge_payload, require_id, sqs_payload
from functions.common.exceptions import PoisonEventError
from functions.common.idempotency import run_once
from functions.common.observability import bind_event, lambda_entry, logger, metrics
from functions.faults import record_faults

SLOW_API_URL = "SLOW_API_URL"
SLOW_API_KEY_SECRET = "SLOW_API_KEY_SECRET"  # ARN of the secret holding the API key
SLOW_API_KEY_MAX_AGE = "SLOW_API_KEY_MAX_AGE"  # seconds a read key is cached
DELIVERY_ATTEMPTS = "DELIVERY_ATTEMPTS"
DELIVERY_WAIT_BASE = "DELIVERY_WAIT_BASE"
DELIVERY_WAIT_JITTER = "DELIVERY_WAIT_JITTER"
DELIVERY_HTTP_TIMEOUT = "DELIVERY_HTTP_TIMEOUT"

# Kept back from the remaining time: logging, the ledger write and the return must still fit.
SAFETY_SECONDS = 1.0
# An attempt with less time than this is not worth starting.
MIN_ATTEMPT_SECONDS = 0.2

# Injectable so tests need not sleep the backoff.
sleep: Callable[[float], None] = time.sleep

_http: Any = None
_secrets: Any = None  # Powertools SecretsProvider on this process's secretsmanager client
# The invocation's context, for the idempotent deliver_current() (which takes only the payload).
_context: Any = None


class DeliveryError(RuntimeError):
    """The slow API did not accept the event; `retryable` says whether another try could help."""

    def __init__(self, event_id: str, reason: str, *, retryable: bool, status: int | None = None):
        self.event_id, self.reason, self.retryable, self.status = (
            event_id,
            reason,
            retryable,
            status,
        )
        super().__init__(f"delivery of {event_id} failed: {reason}")


class RetryableDeliveryError(DeliveryError):
    def __init__(self, event_id: str, reason: str, status: int | None = None):
        super().__init__(event_id, reason, retryable=True, status=status)


class DeliveryExhaustedError(DeliveryError):
    """Every attempt failed (or the time budget ran out); the last failure is the cause."""


def _session() -> Any:
    global _http
    if _http is None:
        import requests

        _http = requests.Session()
    return _http


def api_key(*, fresh: bool = False) -> str:
    """The slow API's key from its secret, cached for SLOW_API_KEY_MAX_AGE s; `fresh` reads
    the secret again whatever the cache holds."""
    global _secrets
    if _secrets is None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        # The shared client: the local endpoint, and the fault middleware's throttle hook.
        _secrets = SecretsProvider(boto3_client=clients.client("secretsmanager"))
    return str(
        _secrets.get(
            env_str(SLOW_API_KEY_SECRET),
            max_age=env_int(SLOW_API_KEY_MAX_AGE, minimum=1),
            force_fetch=fresh,
        )
    )


def _remaining_seconds(context: Any) -> float:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter() / 1000.0 if getter else float("inf")


def post_once(payload: dict[str, Any], context: Any) -> dict[str, Any]:
    import requests

    event_id = payload["id"]
    budget = _remaining_seconds(context) - SAFETY_SECONDS
    if budget < MIN_ATTEMPT_SECONDS:
        raise RetryableDeliveryError(event_id, f"only {budget:.2f}s left before the deadline")
    timeout = min(env_float(DELIVERY_HTTP_TIMEOUT, minimum=0.001), budget)
    key = api_key()
    headers = {"x-api-key": key, "Content-Type": "application/json"}
    if payload.get("correlation_id"):
        headers["x-correlation-id"] = str(payload["correlation_id"])
    try:
        response = _session().post(
            env_str(SLOW_API_URL),
            json={"id": event_id, "correlation_id": payload.get("correlation_id")},
            headers=headers,
            timeout=timeout,
        )
    except requests.Timeout:
        raise RetryableDeliveryError(event_id, f"timed out after {timeout:.2f}s") from None
    except requests.ConnectionError as exc:
        raise RetryableDeliveryError(event_id, f"connection error: {exc}") from None
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableDeliveryError(event_id, f"HTTP {status}", status)
    # API Gateway's answer to a key it does not know: one rotated since it was cached.
    if status == 403 and api_key(fresh=True) != key:
        raise RetryableDeliveryError(event_id, "HTTP 403 with a key rotated since", status)
    if status >= 400:
        raise DeliveryError(
            event_id, f"HTTP {status}: {response.text[:200]}", retryable=False, status=status
        )
    return {"status": status}


class stop_when_out_of_time(stop_base):  # noqa: N801 (tenacity's naming for stop conditions)
    """Stop when the next attempt could not finish before the function's own deadline."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def __call__(self, retry_state: RetryCallState) -> bool:
        left = _remaining_seconds(self.context) - SAFETY_SECONDS - retry_state.upcoming_sleep
        return left < MIN_ATTEMPT_SECONDS


def deliver(payload: dict[str, Any], context: Any) -> dict[str, Any]:
    """POST the event to the slow API with retries; raises DeliveryError when it does not land."""
    attempts = env_int(DELIVERY_ATTEMPTS, minimum=1)
    retrying = Retrying(
        stop=stop_after_attempt(attempts) | stop_when_out_of_time(context),
        wait=wait_fixed(env_float(DELIVERY_WAIT_BASE))
        + wait_random(0, env_float(DELIVERY_WAIT_JITTER)),
        retry=retry_if_exception_type(RetryableDeliveryError),
        sleep=lambda seconds: sleep(seconds),
        before_sleep=lambda s: logger.warning(
            "delivery attempt failed, retrying",
            extra={"attempt": s.attempt_number, "error": str(s.outcome and s.outcome.exception())},
        ),
        reraise=False,
    )
    try:
        for attempt in retrying:
            with attempt:
                result = post_once(payload, context)
    except RetryError as exc:  # attempts or time ran out; a permanent error propagates as is
        last = exc.last_attempt.exception()
        n = exc.last_attempt.attempt_number
        raise DeliveryExhaustedError(
            payload["id"], f"gave up after {n} attempt(s): {last}", retryable=True
        ) from last
    ledger.record(payload["id"])
    metrics.add_metric(name="Delivered", unit="Count", value=1)
    return {"id": payload["id"], "attempts": attempt.retry_state.attempt_number, **result}


def _deliver_event(payload: Any, context: Any) -> dict[str, Any]:
    event_id = require_id(payload)
    bind_event(event_id, payload)
    global _context
    _context = context
    return run_once(deliver_current, payload, context)


def deliver_current(payload: dict[str, Any]) -> dict[str, Any]:
    return deliver(payload, _context)


@record_faults
def record_handler(record: SQSRecord, context: Any = None) -> dict[str, Any]:
    body = sqs_payload(record.raw_event)
    if not isinstance(body, dict):
        raise PoisonEventError("SQS body is not an EventBridge event object")
    return _deliver_event(eventbridge_payload(body), context)


def _is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        bool(records)
        and isinstance(records, list)
        and isinstance(records[0], dict)
        and records[0].get("eventSource") == "aws:sqs"
    )


@lambda_entry()
def _direct(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _deliver_event(eventbridge_payload(event), context)


@lambda_entry(per_record=True)
def _batch(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    response = process_partial_response(
        event=event,
        record_handler=lambda record: record_handler(record, context),
        processor=BatchProcessor(event_type=EventType.SQS),
        context=context,
    )
    failures = len(response.get("batchItemFailures", []))
    metrics.add_metric(name="RecordFailures", unit="Count", value=failures)
    return response


def handler(event: Any, context: Any) -> Any:
    if _is_sqs_batch(event):
        return _batch(event, context)
    if not isinstance(event, dict):
        raise PoisonEventError(
            f"expected an EventBridge event or SQS batch, got {type(event).__name__}"
        )
    return _direct(event, context)
