"""The slow third-party API (seed demo): fails SLOW_API_FAILURE_RATE of calls at once, else is slow.

API Gateway proxy (POST, JSON body with `id`). A failing call returns 500
without delay; otherwise it sleeps uniform SLOW_API_MIN_DELAY..SLOW_API_MAX_DELAY
seconds, records the event in the ledger (the third party's side effect: a
count above 1 shows a retry after a slow-but-successful call) and returns
200 {id}. SLOW_API_SEED makes the draws repeatable per process.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from functions.common import ledger
from functions.common.config import env_float
from functions.common.events import api_payload, require_id
from functions.common.exceptions import MissingConfigError, PoisonEventError
from functions.common.observability import bind_event, lambda_entry, metrics
from functions.common.types import ApiResponse

SLOW_API_FAILURE_RATE = "SLOW_API_FAILURE_RATE"
SLOW_API_MIN_DELAY = "SLOW_API_MIN_DELAY"
SLOW_API_MAX_DELAY = "SLOW_API_MAX_DELAY"
SLOW_API_SEED = "SLOW_API_SEED"

sleep: Callable[[float], None] = time.sleep

_rng: tuple[str | None, random.Random] | None = None


def _random() -> random.Random:
    import os

    global _rng
    raw = os.environ.get(SLOW_API_SEED) or None
    if _rng is None or _rng[0] != raw:
        try:
            seed = int(raw) if raw is not None else None
        except ValueError:
            raise MissingConfigError(SLOW_API_SEED, "is not an integer", raw) from None
        _rng = (raw, random.Random(seed))
    return _rng[1]


def _response(status: int, body: dict[str, Any]) -> ApiResponse:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


@lambda_entry()
def handler(event: dict[str, Any], context: Any) -> ApiResponse:
    # Required: SlowApi always sets them (its Settings hold the seed's 0.2 and 1..10 s).
    rate = env_float(SLOW_API_FAILURE_RATE, maximum=1.0)
    low = env_float(SLOW_API_MIN_DELAY)
    high = env_float(SLOW_API_MAX_DELAY)
    if low > high:
        raise MissingConfigError(
            SLOW_API_MIN_DELAY, f"is greater than {SLOW_API_MAX_DELAY}", str(low)
        )
    try:
        payload = api_payload(event)
        event_id = require_id(payload)
    except PoisonEventError as exc:
        if exc.event_id is not None:
            raise  # marked poison: fail loudly, as every handler does
        metrics.add_metric(name="Rejected", unit="Count", value=1)
        return _response(400, {"message": str(exc)})
    bind_event(event_id, payload)
    rng = _random()
    if rng.random() < rate:
        metrics.add_metric(name="Failed", unit="Count", value=1)
        return _response(500, {"message": "upstream failure", "id": event_id})
    delay = rng.uniform(low, high)
    sleep(delay)
    ledger.record(event_id)
    metrics.add_metric(name="Served", unit="Count", value=1)
    return _response(200, {"id": event_id, "delay": round(delay, 3)})
