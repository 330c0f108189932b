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


def fan_out_route_key(subscriber: str) -> str:
    return f"{keys.FAN_OUT}:{subscriber}"


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


def build_routes(
    patterns: dict[str, dict[str, Any]], ledger_patterns: dict[str, str]
) -> dict[str, Any]:
    """patterns: export key -> resolved outputs; ledger_patterns: export key -> LEDGER_PATTERN."""
    routes: dict[str, Any] = {}
    qw = patterns[keys.QUEUE_WORKER]
    redrive = _route("sqs_redrive", qw["dlq_url"])
    routes[keys.QUEUE_WORKER] = {
        "none": _processed(ledger_patterns[keys.QUEUE_WORKER]),
        # Throttled and failed receives both count toward maxReceiveCount.
        **{failure: redrive for failure in ("poison", "function_error", "timeout", "throttle")},
    }
    af = patterns[keys.ASYNC_FUNCTION]
    failed = _async_failure(af)
    routes[keys.ASYNC_FUNCTION] = {
        "none": _processed(ledger_patterns[keys.ASYNC_FUNCTION]),
        # Throttles are retried until MaximumEventAgeInSeconds, then take the same way out.
        **{failure: failed for failure in ("poison", "function_error", "timeout", "throttle")},
        # SNS itself could not invoke the function: the subscription's redrive DLQ.
        "subscription_delivery": _route("sns_dlq", af["subscription_dlq_url"]),
    }
    rr = patterns[keys.RIDE_RECORDS]
    ride_dlq = _route("lambda_dlq", rr["dlq_url"])
    routes[keys.RIDE_RECORDS] = {
        "none": _processed(ledger_patterns[keys.RIDE_RECORDS]),
        **{
            failure: ride_dlq
            for failure in (
                "poison",
                "function_error",
                "timeout",
                "throttle",
                "downstream_throttle",
            )
        },
        "subscription_delivery": _route("sns_dlq", rr["subscription_dlq_url"]),
    }
    for key in (keys.EVENT_PIPELINE, keys.EVENT_PIPELINE_FLOW):
        ep = patterns[key]
        # Direct: delivery's async DLQ. Flow: the buffer's redrive DLQ (SQS body = the event).
        envelope: Envelope = "sqs_redrive" if ep.get("flow_control") else "lambda_dlq"
        failed_delivery = _route(envelope, ep["delivery_dlq_url"])
        routes[key] = {
            "none": _processed(ledger_patterns[key]),
            # The notifier refuses a poison event synchronously: the API caller gets the error.
            "poison": _route("rejected"),
            **{
                failure: failed_delivery
                for failure in ("function_error", "timeout", "throttle", "target_error")
            },
            # EventBridge could not hand the event to its target (the delivery function, or
            # the flow variant's buffer queue): the target's DLQ, with EventBridge's attributes.
            "target_delivery": _route("eventbridge_dlq", ep["target_dlq_url"]),
        }
    routes[keys.SLOW_API] = {
        "none": _processed(ledger_patterns[keys.SLOW_API]),
        **{
            failure: _route("rejected")
            for failure in ("poison", "function_error", "timeout", "throttle")
        },
    }
    sp = patterns[keys.STREAM_PROCESSOR]
    pointers = _route("kinesis_on_failure", sp["on_failure_queue_url"])
    routes[keys.STREAM_PROCESSOR] = {
        "none": _processed(ledger_patterns[keys.STREAM_PROCESSOR]),
        **{failure: pointers for failure in ("poison", "function_error", "timeout", "throttle")},
    }
    wf = patterns[keys.WORKFLOW]
    record = _route("failure_record", wf["failure_queue_url"])
    routes[keys.WORKFLOW] = {
        "none": _processed(ledger_patterns[keys.WORKFLOW]),
        **{failure: record for failure in ("poison", "function_error", "timeout", "throttle")},
    }
    fo = patterns[keys.FAN_OUT]
    first = True
    for sub, out in fo["subscribers"].items():
        attrs = (
            _attributes(out["filter_policy"])
            if fo.get("filter_scope", "MessageAttributes") == "MessageAttributes"
            else None
        )
        sub_routes = {
            "none": _route(
                "processed", ledger_pattern=out["ledger_pattern"], message_attributes=attrs
            ),
            **{
                failure: _route("sqs_redrive", out["dlq_url"], message_attributes=attrs)
                for failure in ("poison", "function_error", "timeout", "throttle")
            },
            "subscription_delivery": _route(
                "sns_dlq", out["subscription_dlq_url"], message_attributes=attrs
            ),
        }
        routes[fan_out_route_key(sub)] = sub_routes
        if first:
            # The plain "fan_out" key is the first subscriber: send with its attributes.
            routes[keys.FAN_OUT] = sub_routes
            first = False
    routes[keys.DLQ_REDRIVER] = {"none": _processed(ledger_patterns[keys.DLQ_REDRIVER])}
    return routes
