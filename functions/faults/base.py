"""The fault-injection middleware: a Powertools handler decorator plus a botocore hook.

Off path: one os.environ lookup, then the handler. On path: the parsed config
comes from settings.load(), cached by the raw variable values.
"""

from __future__ import annotations

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
from functions.faults.types import FaultConfig, ThrottleError

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


_draws: _Draws | None = None
# The config while an invocation (or, for batch handlers, the current record) is being hit;
# None outside invocations and for events the match excludes. Read by the throttle hook.
_armed: ContextVar[_Draws | None] = ContextVar("failmodes_armed", default=None)
# Set for the whole invocation of a per-record (batch) handler, for fault_record().
_batch: ContextVar[_Draws | None] = ContextVar("failmodes_batch", default=None)


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


def _maybe_fail(draws: _Draws, what: str) -> None:
    rate = draws.config.failure_rate
    if rate > 0.0 and draws.faults.random() < rate:
        logger.warning("fault: failure", extra={"fault_target": what})
        raise InjectedFailure(f"injected failure ({settings.FAILURE_RATE}={rate}) for {what}")


@lambda_handler_decorator
def inject_faults(handler: Callable, event: Any, context: Any, per_record: bool = False) -> Any:
    """Apply the faults the environment asks for, then run the handler.

    per_record=True is for batch handlers: the failure rate and the match then
    apply to each record through fault_record(), which the record handler calls
    first; latency and timeout still apply once per invocation, when any record
    matches.
    """
    raw = os.environ.get(settings.MASTER)
    if raw is None or raw == "" or raw == "off":
        return handler(event, context)
    draws = _current()
    if draws is None:
        return handler(event, context)
    config = draws.config
    if per_record:
        hit = config.match is None or any(_matches(config, r) for r in _records(event))
    else:
        hit = _matches(config, event)
    batch_token = _batch.set(draws if per_record else None)
    armed_token = _armed.set(draws if hit and not per_record else None)
    try:
        if hit:
            _delay_and_timeout(draws, context)
            if not per_record:
                _maybe_fail(draws, "invocation")
        return handler(event, context)
    finally:
        _armed.reset(armed_token)
        _batch.reset(batch_token)


def fault_record(record: Any) -> None:
    """Per-record hook for batch handlers: may raise InjectedFailure for this record.

    Also arms SDK throttling for the calls made while this record is processed
    (only when the record matches). Accepts a raw dict or a Powertools record.
    """
    draws = _batch.get()
    if draws is None:
        return
    raw = getattr(record, "raw_event", record)
    hit = _matches(draws.config, raw)
    _armed.set(draws if hit else None)
    if hit:
        ident = raw.get("messageId") or raw.get("eventID") if isinstance(raw, dict) else None
        _maybe_fail(draws, f"record {ident}")


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
