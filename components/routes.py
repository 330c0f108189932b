"""Where an event ends, per pattern and failure kind: the `routes` stack output.

Plain functions over the resolved pattern outputs, so the chaos suite's promise
("every event ends processed or in exactly this DLQ") is computed from the same
wiring the components built, not written down twice.
"""

from __future__ import annotations

from typing import Any

from components import outputs as keys
from components.outputs import Envelope, Route, RouteTarget

__all__ = ["build_routes", "fan_out_route_key"]


def _route(
    envelope: Envelope,
    queue_url: str | None = None,
    *,
    ledger_pattern: str | None = None,
    also: list[RouteTarget] | None = None,
    message_attributes: dict[str, str] | None = None,
) -> Route:
    return {
        "envelope": envelope,
        "queue_url": queue_url,
        "ledger_pattern": ledger_pattern,
        "also": list(also or []),
        "message_attributes": message_attributes,
    }


def _processed(pattern: str) -> Route:
    return _route("processed", ledger_pattern=pattern)


def fan_out_route_key(subscriber: str, instance: str = keys.FAN_OUT) -> str:
    """The routes key of one subscriber of a FanOut instance: "<instance key>:<subscriber>"."""
    return f"{instance}:{subscriber}"


def _async_failure(out: dict[str, Any]) -> Route:
    # Lambda sends a failed async event to the OnFailure destination AND the function DLQ.
    destination, dlq = out.get("on_failure_queue_url"), out.get("dlq_url")
    if destination:
        also: list[RouteTarget] = [{"envelope": "lambda_dlq", "queue_url": dlq}] if dlq else []
        return _route("destination", destination, also=also)
    return _route("lambda_dlq", dlq)


def _attributes(policy: dict[str, Any]) -> dict[str, str] | None:
    """An attribute set matching an exact-string filter policy, if the policy is that simple."""
    chosen: dict[str, str] = {}
    for name, allowed in policy.items():
        first = allowed[0] if isinstance(allowed, list) and allowed else None
        if not isinstance(first, str):
            return None
        chosen[name] = first
    return chosen


def _queue_worker(out: dict[str, Any], ledger: str) -> dict[str, Route]:
    redrive = _route("sqs_redrive", out["dlq_url"])
    return {
        "none": _processed(ledger),
        # Throttled and failed receives both count toward maxReceiveCount.
        **{failure: redrive for failure in ("poison", "function_error", "timeout", "throttle")},
    }


def _async_function(out: dict[str, Any], ledger: str) -> dict[str, Route]:
    failed = _async_failure(out)
    return {
        "none": _processed(ledger),
        # Throttles are retried until MaximumEventAgeInSeconds, then take the same way out.
        **{failure: failed for failure in ("poison", "function_error", "timeout", "throttle")},
        # SNS itself could not invoke the function: the subscription's redrive DLQ.
        "subscription_delivery": _route("sns_dlq", out["subscription_dlq_url"]),
    }


def _ride_records(out: dict[str, Any], ledger: str) -> dict[str, Route]:
    ride_dlq = _route("lambda_dlq", out["dlq_url"])
    failures = ("poison", "function_error", "timeout", "throttle", "downstream_throttle")
    return {
        "none": _processed(ledger),
        **{failure: ride_dlq for failure in failures},
        "subscription_delivery": _route("sns_dlq", out["subscription_dlq_url"]),
    }


def _event_pipeline(out: dict[str, Any], ledger: str) -> dict[str, Route]:
    # Direct: delivery's async DLQ. Flow: the buffer's redrive DLQ (SQS body = the event).
    envelope: Envelope = "sqs_redrive" if out.get("flow_control") else "lambda_dlq"
    failed_delivery = _route(envelope, out["delivery_dlq_url"])
    return {
        "none": _processed(ledger),
        # The notifier refuses a poison event synchronously: the API caller gets the error.
        "poison": _route("rejected"),
        **{
            failure: failed_delivery
            for failure in ("function_error", "timeout", "throttle", "target_error")
        },
        # EventBridge could not hand the event to its target (the delivery function, or
        # the flow variant's buffer queue): the target's DLQ, with EventBridge's attributes.
        "target_delivery": _route("eventbridge_dlq", out["target_dlq_url"]),
    }


def _slow_api(out: dict[str, Any], ledger: str) -> dict[str, Route]:
    return {
        "none": _processed(ledger),
        **{
            failure: _route("rejected")
            for failure in ("poison", "function_error", "timeout", "throttle")
        },
    }


def _stream_processor(out: dict[str, Any], ledger: str) -> dict[str, Route]:
    pointers = _route("kinesis_on_failure", out["on_failure_queue_url"])
    return {
        "none": _processed(ledger),
        **{failure: pointers for failure in ("poison", "function_error", "timeout", "throttle")},
    }


def _workflow(out: dict[str, Any], ledger: str) -> dict[str, Route]:
    record = _route("failure_record", out["failure_queue_url"])
    return {
        "none": _processed(ledger),
        **{failure: record for failure in ("poison", "function_error", "timeout", "throttle")},
    }


def _fan_out_subscriber(fan_out: dict[str, Any], out: dict[str, Any]) -> dict[str, Route]:
    attrs = (
        _attributes(out["filter_policy"])
        if fan_out.get("filter_scope", "MessageAttributes") == "MessageAttributes"
        else None
    )
    return {
        "none": _route("processed", ledger_pattern=out["ledger_pattern"], message_attributes=attrs),
        **{
            failure: _route("sqs_redrive", out["dlq_url"], message_attributes=attrs)
            for failure in ("poison", "function_error", "timeout", "throttle")
        },
        "subscription_delivery": _route(
            "sns_dlq", out["subscription_dlq_url"], message_attributes=attrs
        ),
    }


def _dlq_redriver(out: dict[str, Any], ledger: str) -> dict[str, Route]:
    return {"none": _processed(ledger)}


# Component type -> its routes from its resolved outputs and ledger partition (FanOut: below).
ROUTES_BY_TYPE = {
    keys.QUEUE_WORKER: _queue_worker,
    keys.ASYNC_FUNCTION: _async_function,
    keys.RIDE_RECORDS: _ride_records,
    keys.EVENT_PIPELINE: _event_pipeline,
    keys.EVENT_PIPELINE_FLOW: _event_pipeline,
    keys.SLOW_API: _slow_api,
    keys.STREAM_PROCESSOR: _stream_processor,
    keys.WORKFLOW: _workflow,
    keys.DLQ_REDRIVER: _dlq_redriver,
}


def build_routes(
    patterns: dict[str, dict[str, Any]],
    ledger_patterns: dict[str, str],
    types: dict[str, str] | None = None,
) -> dict[str, Any]:
    """patterns: instance key -> resolved outputs; ledger_patterns: instance key ->
    LEDGER_PATTERN; types: instance key -> component type (default: the key is the type)."""
    routes: dict[str, Any] = {}
    for key, out in patterns.items():
        type_ = (types or {}).get(key, key)
        if type_ != keys.FAN_OUT:
            routes[key] = ROUTES_BY_TYPE[type_](out, ledger_patterns[key])
            continue
        for index, (sub, sub_out) in enumerate(out["subscribers"].items()):
            sub_routes = _fan_out_subscriber(out, sub_out)
            routes[fan_out_route_key(sub, key)] = sub_routes
            if index == 0:
                # The plain key is the first subscriber: send with its attributes.
                routes[key] = sub_routes
    return routes
