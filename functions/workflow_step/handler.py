"""A Step Functions task whose input chooses how it fails, so Retry and Catch can be exercised.

Input `{id, fail?, fail_attempts?}`:
- no `fail`: records the id in the ledger (once) and returns the input with status "done";
- `fail: "transient"`: raises TransientStepError; with `fail_attempts: n` only the first n
  attempts for this id fail (attempts are counted in the ledger under "<LEDGER_PATTERN>#attempts"),
  so a Retry on TransientStepError can succeed;
- `fail: "permanent"`: raises PermanentStepError (not meant to be retried; Catch it);
- `poison: true` or no `id`: PoisonEventError.
The error names are the exception class names Step Functions sees (ERROR_NAMES).
"""

from __future__ import annotations

from typing import Any

from functions.common import ledger
from functions.common.config import env_str
from functions.common.events import require_id
from functions.common.exceptions import PoisonEventError
from functions.common.idempotency import run_once
from functions.common.observability import bind_event, lambda_entry, metrics


class TransientStepError(RuntimeError):
    """A failure worth retrying (Retry ErrorEquals ["TransientStepError"])."""


class PermanentStepError(RuntimeError):
    """A failure that retrying cannot fix (route it with Catch)."""


ERROR_NAMES = {
    "transient": TransientStepError.__name__,
    "permanent": PermanentStepError.__name__,
    "poison": PoisonEventError.__name__,
}


def complete(payload: dict[str, Any]) -> dict[str, Any]:
    ledger.record(payload["id"])
    return {**payload, "status": "done"}


@lambda_entry()
def handler(event: Any, context: Any) -> dict[str, Any]:
    event_id = require_id(event)
    bind_event(event_id, event)
    mode = event.get("fail")
    if mode not in (None, "transient", "permanent"):
        raise PoisonEventError(f"unknown fail mode {mode!r} (transient, permanent)", event_id)
    if mode == "permanent":
        metrics.add_metric(name="PermanentFailures", unit="Count", value=1)
        raise PermanentStepError(f"permanent failure requested for {event_id}")
    if mode == "transient":
        limit = event.get("fail_attempts")
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 0
        ):
            raise PoisonEventError(
                f"fail_attempts must be a non-negative integer, got {limit!r}", event_id
            )
        attempt = ledger.record(event_id, pattern=f"{env_str(ledger.LEDGER_PATTERN)}#attempts")
        if limit is None or attempt <= limit:
            metrics.add_metric(name="TransientFailures", unit="Count", value=1)
            raise TransientStepError(f"transient failure for {event_id} (attempt {attempt})")
    result = run_once(complete, event, context)
    metrics.add_metric(name="Completed", unit="Count", value=1)
    return result
