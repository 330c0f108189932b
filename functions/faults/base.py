"""The fault-injection middleware: a Powertools handler decorator plus a botocore hook.

Off path: one os.environ lookup, then the handler. On path: the parsed config
comes from settings.load(), cached by the raw variable values.

Order on the on path, per event (per record for batch handlers): count the
attempt (RECORD_ATTEMPTS, or FAIL_ATTEMPTS needing the number), then latency and
timeout, then the failure decision (FAIL_ATTEMPTS first, then FAILURE_RATE),
raised before the handler or, with FAIL_PHASE=after, once it returned.
"""

from __future__ import annotations

import functools
import json
import os
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.middleware_factory import lambda_handler_decorator

from functions.common.events import payload_of
from functions.faults import settings
from functions.faults.exceptions import FaultConfigError, InjectedFailure, InjectedTimeout
from functions.faults.types import FailPhase, FaultConfig, ThrottleError

logger = Logger(child=True)

# Injectable so tests can observe requested delays without sleeping them.
sleep: Callable[[float], None] = time.sleep

# Past the deadline by this much, so the runtime's timer fires before we wake.
TIMEOUT_OVERSHOOT_SECONDS = 1.0


@dataclass(slots=True)
class _Draws:
    """Random streams for one parsed config: re-seeded whenever the environment changes."""

    config: FaultConfig
    faults: random.Random
    throttle: random.Random


@dataclass(slots=True)
class _Batch:
    """One per-record invocation: its draws and, when counted, each record's attempt number."""

    draws: _Draws
    attempts: dict[str, int | None]  # record key (messageId / eventID) -> attempt number


_draws: _Draws | None = None
# The config while an invocation (or, for batch handlers, the current record) is being hit;
# None outside invocations and for events the match excludes. Read by the throttle hook.
_armed: ContextVar[_Draws | None] = ContextVar("failmodes_armed", default=None)
# Set for the whole invocation of a per-record (batch) handler, for the record hooks.
_batch: ContextVar[_Batch | None] = ContextVar("failmodes_batch", default=None)


def _current() -> _Draws | None:
    """The enabled config and its random streams, or None when faults are off."""
    global _draws
    config = settings.load()
    if not config.enabled:
        return None
    if _draws is None or _draws.config is not config:
        seed = config.seed
        _draws = _Draws(
            config,
            random.Random(seed),
            random.Random(None if seed is None else seed + 0x5EED),
        )
    return _draws


def _matches(config: FaultConfig, obj: Any) -> bool:
    if config.match is None:
        return True
    view = {**obj, "payload": payload_of(obj)} if isinstance(obj, dict) else obj
    return bool(config.match.search(view))


def _records(event: Any) -> list[Any]:
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return event["Records"]
    return []


def _record_key(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    key = record.get("messageId") or record.get("eventID")
    return key if isinstance(key, str) else None


def event_id_of(obj: Any) -> str | None:
    """The chaos `id` of an event or record (docs/contracts.md: where the `id` lives), or None.

    Never raises: an undecodable event simply has no id.
    """
    return id_of_payload(payload_of(obj))


def id_of_payload(payload: Any) -> str | None:
    """The chaos `id` in an already decoded payload (common.events.payload_of), or None."""
    if (
        isinstance(payload, dict)
        and "id" not in payload
        and isinstance(payload.get("Payload"), dict)
    ):
        payload = payload["Payload"]  # a Step Functions lambda:invoke Parameters wrapper
    if isinstance(payload, dict) and "detail" in payload and "detail-type" in payload:
        # An EventBridge event carried as an SQS body (delivery's flow-controlled path): its
        # top-level `id` is EventBridge's own, the chaos id is in the detail.
        payload = payload["detail"]
    event_id = payload.get("id") if isinstance(payload, dict) else None
    return event_id if isinstance(event_id, str) and event_id else None


def _receive_count(obj: Any) -> int | None:
    """An SQS record's ApproximateReceiveCount, the number SQS compares with maxReceiveCount."""
    if not isinstance(obj, dict) or obj.get("eventSource") != "aws:sqs":
        return None
    raw = (obj.get("attributes") or {}).get("ApproximateReceiveCount")
    if not isinstance(raw, str | int):
        return None
    try:
        count = int(raw)
    except ValueError:
        return None
    return count if count >= 1 else None


def _attempt(config: FaultConfig, unit: Any, hit: bool) -> int | None:
    """Count this attempt of `unit` when asked (or when its number is needed); its number.

    Runs before any fault and outside the throttle window (_armed unset), so an injected
    SDK throttle never hits the counter and a failed attempt is counted too.
    """
    if not (config.record_attempts or (config.fail_attempts > 0 and hit)):
        return None
    event_id = event_id_of(unit)
    if event_id is None:
        logger.debug("fault: event has no id, attempts not counted")
        return None
    # Imported here: functions.common.clients imports this package (the throttle hook).
    from functions.common import ledger
    from functions.common.config import env_str

    count = ledger.record(
        event_id, pattern=settings.attempts_partition(env_str(ledger.LEDGER_PATTERN))
    )
    received = _receive_count(unit)
    return count if received is None else received


def _single(event: Any) -> Any:
    """The unit whose attempts an invocation counts: the one record of a one-record event."""
    records = _records(event)
    return records[0] if len(records) == 1 else event


def _delay_and_timeout(draws: _Draws, context: Any) -> None:
    config = draws.config
    if config.latency is not None:
        delay = config.latency.draw(draws.faults)
        # Debug, not info: a delay is not an error, and a log line per invocation would
        # cost more than the rest of the middleware.
        logger.debug("fault: latency", extra={"fault_latency_s": round(delay, 6)})
        sleep(delay)
    if config.timeout:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:
            raise FaultConfigError(
                settings.TIMEOUT, "on", "needs a Lambda context with get_remaining_time_in_millis"
            )
        seconds = max(remaining(), 0) / 1000.0 + TIMEOUT_OVERSHOOT_SECONDS
        logger.warning("fault: timeout", extra={"fault_sleep_s": seconds})
        sleep(seconds)
        raise InjectedTimeout(f"injected timeout: slept {seconds:.3f}s past the deadline")


def _failure(draws: _Draws, attempt: int | None, what: str) -> InjectedFailure | None:
    """The failure this attempt gets, if any: FAIL_ATTEMPTS first, then FAILURE_RATE."""
    config = draws.config
    if config.fail_attempts and attempt is not None and attempt <= config.fail_attempts:
        reason = f"{settings.FAIL_ATTEMPTS}={config.fail_attempts}, attempt {attempt}"
    elif config.failure_rate > 0.0 and draws.faults.random() < config.failure_rate:
        reason = f"{settings.FAILURE_RATE}={config.failure_rate}"
    else:
        return None
    logger.warning(
        "fault: failure",
        extra={"fault_target": what, "fault_attempt": attempt, "fault_phase": config.fail_phase},
    )
    return InjectedFailure(f"injected failure ({reason}, phase {config.fail_phase}) for {what}")


@lambda_handler_decorator
def inject_faults(handler: Callable, event: Any, context: Any, per_record: bool = False) -> Any:
    """Apply the faults the environment asks for, then run the handler.

    per_record=True is for batch handlers: attempts are counted for every record
    when the invocation starts; the failures and the match then apply to each
    record through @record_faults (or fault_record()) on the record handler;
    latency and timeout still apply once per invocation, when any record matches.
    """
    raw = os.environ.get(settings.MASTER)
    if raw is None or raw == "" or raw == "off":
        return handler(event, context)
    draws = _current()
    if draws is None:
        return handler(event, context)
    config = draws.config
    failure: InjectedFailure | None = None
    attempt: int | None = None  # of the invocation's event (not per_record)
    attempts: dict[str, int | None] = {}  # of each record (per_record)
    if per_record:
        if config.counts_attempts:
            for record in _records(event):
                key = _record_key(record)
                if key is not None:
                    attempts[key] = _attempt(config, record, _matches(config, record))
        hit = config.match is None or any(_matches(config, r) for r in _records(event))
    else:
        hit = _matches(config, event)
        if config.counts_attempts:
            attempt = _attempt(config, _single(event), hit)
    batch_token = _batch.set(_Batch(draws, attempts) if per_record else None)
    armed_token = _armed.set(draws if hit and not per_record else None)
    try:
        if hit:
            _delay_and_timeout(draws, context)
            if not per_record:
                failure = _failure(draws, attempt, "invocation")
                if failure is not None and config.fail_phase == "before":
                    raise failure
        result = handler(event, context)
        if failure is not None:
            raise failure
        return result
    finally:
        _armed.reset(armed_token)
        _batch.reset(batch_token)


def _record_failure(record: Any) -> tuple[FailPhase, InjectedFailure | None]:
    """Arm throttling for this record and decide its failure (None outside a batch)."""
    batch = _batch.get()
    if batch is None:
        return "before", None
    draws = batch.draws
    raw = getattr(record, "raw_event", record)
    hit = _matches(draws.config, raw)
    _armed.set(draws if hit else None)
    if not hit:
        return draws.config.fail_phase, None
    key = _record_key(raw)
    attempt = batch.attempts.get(key) if key is not None else None
    return draws.config.fail_phase, _failure(draws, attempt, f"record {key}")


def draw_records(records: list[Any]) -> list[tuple[FailPhase, InjectedFailure | None]]:
    """Each record's phase and failure, drawn now and in order, for a batch handler that is
    handed the whole batch (chaos_handler) rather than one record at a time; all None outside
    a per-record invocation. Call arm_records() next: drawing arms each record in turn."""
    return [_record_failure(record) for record in records]


def arm_records(records: list[Any]) -> None:
    """Arm SDK throttling for the calls that follow when any of `records` matches (the
    records a whole-batch handler is handed); a no-op outside a per-record invocation."""
    batch = _batch.get()
    if batch is None:
        return
    config = batch.draws.config
    _armed.set(batch.draws if any(_matches(config, r) for r in records) else None)


def fault_record(record: Any) -> None:
    """Per-record hook for batch handlers, called first: may raise InjectedFailure.

    Also arms SDK throttling for the calls made while this record is processed
    (only when the record matches). Accepts a raw dict or a Powertools record.
    It cannot fail a record after its handler ran: with FAIL_PHASE=after a due
    failure raises FaultConfigError instead, so use @record_faults there.
    """
    phase, failure = _record_failure(record)
    if failure is None:
        return
    if phase == "after":
        raise FaultConfigError(
            settings.FAIL_PHASE,
            "after",
            "fault_record() runs before the record handler; wrap it with @record_faults",
        )
    raise failure


def record_faults(record_handler: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a batch handler's record handler `(record, ...)` with the per-record faults.

    The injected failure is raised before it runs or, with FAIL_PHASE=after, after it
    returned (its side effects done); either way the batch processor reports the record
    as a batch item failure.
    """

    @functools.wraps(record_handler)
    def wrapped(record: Any, *args: Any, **kwargs: Any) -> Any:
        phase, failure = _record_failure(record)
        if failure is not None and phase == "before":
            raise failure
        result = record_handler(record, *args, **kwargs)
        if failure is not None:
            raise failure
        return result

    return wrapped


class _Body:
    """The minimal `raw` object botocore's AWSResponse reads content from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any):
        yield self._data


def _throttle_response(error: ThrottleError, url: str):
    from botocore.awsrequest import AWSResponse

    message = "Rate exceeded (injected by failmodes)"
    headers = {"x-amzn-RequestId": "failmodes-injected"}
    if error.protocol == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{error.code}</Code><Message>{message}</Message></Error>"
            "<RequestId>failmodes-injected</RequestId></ErrorResponse>"
        ).encode()
        headers["Content-Type"] = "text/xml"
    elif error.protocol == "rest-json":
        body = json.dumps({"message": message, "Type": "User"}).encode()
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = error.code
    else:
        type_name = (
            f"{error.json_type_prefix}#{error.code}" if error.json_type_prefix else error.code
        )
        body = json.dumps({"__type": type_name, "message": message}).encode()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        # SQS speaks JSON but keeps its query-era codes in this header (awsQueryCompatible).
        headers["x-amzn-query-error"] = f"{error.code};Sender"
    return AWSResponse(url, error.status, headers, _Body(body))


def _throttle_hook(service: str, request: Any = None, **_: Any):
    draws = _armed.get()
    if draws is None:
        return None
    rate = draws.config.throttle.get(service, 0.0)
    if rate <= 0.0 or draws.throttle.random() >= rate:
        return None
    error = settings.THROTTLE_ERRORS[service]
    logger.warning("fault: throttle", extra={"fault_service": service, "fault_code": error.code})
    return _throttle_response(error, getattr(request, "url", ""))


def install_throttle_hook(client: Any) -> Any:
    """Let FAILMODES_THROTTLE hit this boto3 client's calls; returns the client.

    The hook answers at `before-send`, i.e. in place of the HTTP exchange: the
    response is then parsed and offered to botocore's retry handler like a real
    one, so an injected throttle is retried with backoff as AWS's would be, and
    nothing reaches the service. It is registered first so that it wins over
    any other before-send responder (moto's in-process mock also answers there,
    and still processes the request: with mock_aws, a throttled write may land).
    """
    model = client.meta.service_model
    if model.service_name in settings.THROTTLE_ERRORS:
        service = model.service_name
        client.meta.events.register_first(
            f"before-send.{model.service_id.hyphenize()}",
            lambda request=None, **kw: _throttle_hook(service, request, **kw),
            unique_id=f"failmodes-throttle-{service}",
        )
    return client
