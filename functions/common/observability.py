"""Powertools Logger, Metrics and Tracer, and the decorator stack every handler wears.

Tracing is off when AWS_ENDPOINT_URL is set (the local cloud has no X-Ray
daemon) or POWERTOOLS_TRACE_DISABLED is true; Powertools itself also turns it
off outside a Lambda runtime. So tests and the local cloud never need X-Ray.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from functions.faults import inject_faults

NAMESPACE = "failmodes"

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)


def tracing_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """True where no X-Ray daemon can exist: the local cloud (AWS_ENDPOINT_URL) or when asked.

    Otherwise Powertools decides (it also disables tracing outside a Lambda runtime).
    """
    env = os.environ if environ is None else environ
    asked = env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("1", "true", "yes", "on")
    return asked or bool(env.get("AWS_ENDPOINT_URL"))


tracer = Tracer(disabled=True) if tracing_disabled() else Tracer()


def lambda_entry(
    *, per_record: bool = False, correlation_id_path: str | None = None
) -> Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]:
    """Wrap a handler: logging context, tracing, EMF metrics, then the fault middleware.

    Faults sit innermost so an injected failure is logged, traced and counted
    like any other error.
    """

    def wrap(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        faulted = inject_faults(fn, per_record=per_record)

        @functools.wraps(fn)
        def counted(event: Any, context: Any) -> Any:
            try:
                return faulted(event, context)
            except Exception as exc:
                # Every failed invocation leaves a datapoint (and never an empty EMF blob).
                metrics.add_metric(name="HandlerFailures", unit="Count", value=1)
                metrics.add_metadata(key="error_type", value=type(exc).__name__)
                raise

        wrapped = metrics.log_metrics(counted)
        wrapped = tracer.capture_lambda_handler(wrapped, capture_response=False)
        return logger.inject_lambda_context(
            wrapped, correlation_id_path=correlation_id_path, clear_state=True
        )

    return wrap


def bind_event(event_id: str, payload: Any = None) -> None:
    """Tag log lines with the event id and a correlation id (the payload's, else the event id)."""
    logger.append_keys(event_id=event_id)
    correlation = payload.get("correlation_id") if isinstance(payload, dict) else None
    logger.set_correlation_id(
        correlation if isinstance(correlation, str) and correlation else event_id
    )
