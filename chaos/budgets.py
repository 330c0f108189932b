"""Time budgets computed from the stack's live settings (never hard-coded waits)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chaos.errors import aws_call
from chaos.expectations import async_delivery_seconds, sqs_delivery_seconds
from chaos.experiments.model import Budget
from chaos.stack import Stack

# AWS's default when a function has no event invoke config (Lambda docs).
DEFAULT_ASYNC_RETRIES = 2
DEFAULT_EVENT_AGE = 21600


def _async_config(stack: Stack, function: str) -> tuple[int, int, float]:
    lam = stack.client("lambda")
    with aws_call(function, "lambda:GetFunctionConfiguration"):
        timeout = float(lam.get_function_configuration(FunctionName=function).get("Timeout", 3))
    try:
        with aws_call(function, "lambda:GetFunctionEventInvokeConfig"):
            conf = lam.get_function_event_invoke_config(FunctionName=function)
    except Exception as exc:  # no config: AWS defaults apply
        if "ResourceNotFound" not in str(exc):
            raise
        conf = {}
    return (
        int(conf.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES)),
        int(conf.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE)),
        timeout,
    )


def settle_seconds(
    stack: Stack, budget: Budget, resolve: Callable[[str], Any], time_scale: float = 1.0
) -> float:
    """Seconds within which a failing event must reach its place, per the stack's settings."""
    if budget.kind == "none":
        return 0.0
    if budget.kind == "sqs":
        url = str(resolve(budget.path))
        with aws_call(url, "sqs:GetQueueAttributes"):
            attrs = stack.client("sqs").get_queue_attributes(
                QueueUrl=url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
            )["Attributes"]
        redrive = json.loads(attrs.get("RedrivePolicy") or "{}")
        return sqs_delivery_seconds(
            float(attrs.get("VisibilityTimeout", 30)), int(redrive.get("maxReceiveCount", 1))
        )
    if budget.kind in ("async", "event_age"):
        retries, age, timeout = _async_config(stack, str(resolve(budget.path)))
        if budget.kind == "event_age":
            # Throttled events are retried until MaximumEventAgeInSeconds, which is the stack's
            # own setting and is not compressed by the local cloud.
            return age + timeout
        return async_delivery_seconds(retries, timeout, time_scale)
    if budget.kind == "stream":
        out = resolve(budget.path)
        timeout = float(out["function"]["timeout"])
        retries = int(out["maximum_retry_attempts"])
        age = int(out["maximum_record_age"])
        # Bisecting doubles the attempts per retry round at most: log2(batch) splits, bounded here
        # by the retry count; an infinite retry count is bounded by the record age instead.
        by_retries = (retries + 1) * 2 * timeout if retries >= 0 else float("inf")
        by_age = float(age) if age > 0 else float("inf")
        return min(by_retries, by_age) if min(by_retries, by_age) != float("inf") else 600.0
    if budget.kind == "workflow":
        out = resolve(budget.path)
        attempts, interval = int(out["retry_max_attempts"]), float(out["retry_interval"])
        rate = float(out["retry_backoff_rate"])
        waits = sum(interval * rate**i for i in range(attempts))
        return waits + (attempts + 1) * float(out["step"]["timeout"])
    raise ValueError(f"unknown budget kind {budget.kind!r}")
