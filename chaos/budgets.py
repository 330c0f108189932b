"""Time budgets and declared attempts, computed from the stack's LIVE settings.

A setting the computation needs and the stack lacks (no redrive policy, no event invoke
config, no Retry on the task) raises MissingSettingError naming it: the experiment fails on
that, never on a default that would let a broken stack talk its budget down.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from chaos.errors import ChaosError, aws_call
from chaos.expectations import async_delivery_seconds, sqs_delivery_seconds
from chaos.experiments.model import Budget, Setting
from chaos.stack import Stack


class MissingSettingError(ChaosError):
    """A budget or a declared attempt count needs a setting the live stack does not have."""


def redrive(stack: Stack, queue_url: str) -> tuple[float, int]:
    """(VisibilityTimeout, RedrivePolicy maxReceiveCount) of a queue, read live."""
    with aws_call(queue_url, "sqs:GetQueueAttributes"):
        attrs = stack.client("sqs").get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
        )["Attributes"]
    policy = json.loads(attrs.get("RedrivePolicy") or "{}")
    if "maxReceiveCount" not in policy:
        raise MissingSettingError(
            f"queue {queue_url} has no RedrivePolicy maxReceiveCount: its failures have no DLQ"
        )
    if "VisibilityTimeout" not in attrs:
        raise MissingSettingError(f"queue {queue_url} reports no VisibilityTimeout")
    return float(attrs["VisibilityTimeout"]), int(policy["maxReceiveCount"])


def async_settings(stack: Stack, function: str) -> tuple[int, int, float]:
    """(MaximumRetryAttempts, MaximumEventAgeInSeconds, Timeout) of a function, read live. The
    design declares an event invoke config for every async function: none is a failure."""
    lam = stack.client("lambda")
    with aws_call(function, "lambda:GetFunctionConfiguration"):
        conf = lam.get_function_configuration(FunctionName=function)
    if "Timeout" not in conf:
        raise MissingSettingError(f"function {function} reports no Timeout")
    try:
        with aws_call(function, "lambda:GetFunctionEventInvokeConfig"):
            invoke = lam.get_function_event_invoke_config(FunctionName=function)
    except ChaosError as exc:
        if "ResourceNotFound" not in str(exc):
            raise
        raise MissingSettingError(
            f"function {function} has no event invoke config (MaximumRetryAttempts,"
            " MaximumEventAgeInSeconds): AWS's defaults are not what the design declares"
        ) from None
    for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if key not in invoke:
            raise MissingSettingError(f"function {function}'s event invoke config has no {key}")
    return (
        int(invoke["MaximumRetryAttempts"]),
        int(invoke["MaximumEventAgeInSeconds"]),
        float(conf["Timeout"]),
    )


def task_retriers(stack: Stack, state_machine_arn: str, function_arn: str) -> list[dict[str, Any]]:
    """The Retry list of the Task state that runs `function_arn`, from the live definition."""
    with aws_call(state_machine_arn, "states:DescribeStateMachine"):
        doc = json.loads(
            stack.client("stepfunctions").describe_state_machine(stateMachineArn=state_machine_arn)[
                "definition"
            ]
        )
    function_name = function_arn.rsplit(":", 1)[-1]
    for state_name, state in (doc.get("States") or {}).items():
        if state.get("Type") != "Task":
            continue
        target = json.dumps([state.get("Resource"), state.get("Parameters")])
        if function_arn in target or f'"{function_name}"' in target:
            if not state.get("Retry"):
                raise MissingSettingError(
                    f"state {state_name} of {state_machine_arn} has no Retry: the design"
                    " declares retries before Catch"
                )
            return list(state["Retry"])
    raise MissingSettingError(f"no Task state of {state_machine_arn} runs {function_arn}")


# ASL: a retrier without MaxAttempts retries 3 times (States Language specification).
ASL_DEFAULT_MAX_ATTEMPTS = 3


def retrier_max_attempts(retriers: list[dict[str, Any]], error: str | None) -> int:
    """MaxAttempts of the first retrier matching `error` (ASL: first match wins, States.ALL
    matches any error); 0 when none matches (no retry)."""
    for r in retriers:
        equals = r.get("ErrorEquals") or []
        if "States.ALL" in equals or (error is not None and error in equals):
            return int(r.get("MaxAttempts", ASL_DEFAULT_MAX_ATTEMPTS))
    return 0


def target_retries(stack: Stack, rule: str, bus: str) -> int:
    """RetryPolicy MaximumRetryAttempts of the rule's (single) target, read live."""
    with aws_call(rule, "events:ListTargetsByRule"):
        targets = stack.client("events").list_targets_by_rule(Rule=rule, EventBusName=bus)[
            "Targets"
        ]
    for t in targets:
        policy = t.get("RetryPolicy") or {}
        if "MaximumRetryAttempts" in policy:
            return int(policy["MaximumRetryAttempts"])
    raise MissingSettingError(f"no target of rule {rule} declares RetryPolicy MaximumRetryAttempts")


def usage_plan_throttle(stack: Stack, api_id: str) -> tuple[float, float]:
    """(rateLimit, burstLimit) of the usage plan on an API, read live; the tightest when
    several plans name it."""
    gateway = stack.client("apigateway")
    with aws_call(api_id, "apigateway:GetUsagePlans"):
        plans = [
            p
            for page in gateway.get_paginator("get_usage_plans").paginate()
            for p in page.get("items", [])
            if any(stage.get("apiId") == api_id for stage in p.get("apiStages") or [])
        ]
    limits = [
        (float(p["throttle"]["rateLimit"]), float(p["throttle"]["burstLimit"]))
        for p in plans
        if "rateLimit" in (p.get("throttle") or {}) and "burstLimit" in (p.get("throttle") or {})
    ]
    if not limits:
        raise MissingSettingError(f"no usage plan on API {api_id} sets a throttle")
    return min(limits)


def stream_mapping(stack: Stack, uuid: str) -> tuple[int, int, bool]:
    """(MaximumRetryAttempts, BatchSize, BisectBatchOnFunctionError) of a mapping, read live."""
    with aws_call(uuid, "lambda:GetEventSourceMapping"):
        m = stack.client("lambda").get_event_source_mapping(UUID=uuid)
    if "MaximumRetryAttempts" not in m:
        raise MissingSettingError(f"mapping {uuid} has no MaximumRetryAttempts")
    return (
        int(m["MaximumRetryAttempts"]),
        int(m.get("BatchSize") or 1),
        bool(m.get("BisectBatchOnFunctionError")),
    )


def bisect_invokes(batch_size: int) -> int:
    """Extra invokes a bisecting mapping spends isolating one record (halvings do not use a
    retry, but each is an invoke): ceil(log2(batch))."""
    return math.ceil(math.log2(batch_size)) if batch_size > 1 else 0


def live_setting(stack: Stack, setting: Setting, target: str) -> int:
    """One declared number, read live (for FromSetting values of a method's steps)."""
    if setting == "max_receive_count":
        return redrive(stack, target)[1]
    if setting == "maximum_retry_attempts":
        return async_settings(stack, target)[0]
    if setting == "retry_max_attempts":
        with aws_call(target, "states:DescribeStateMachine"):
            doc = json.loads(
                stack.client("stepfunctions").describe_state_machine(stateMachineArn=target)[
                    "definition"
                ]
            )
        tasks = [s for s in (doc.get("States") or {}).values() if s.get("Retry")]
        if not tasks:
            raise MissingSettingError(f"no state of {target} has a Retry")
        return retrier_max_attempts(tasks[0]["Retry"], "States.TaskFailed")
    raise ValueError(f"unknown setting {setting!r}")


def settle_seconds(
    stack: Stack, budget: Budget, resolve: Callable[[str], Any], time_scale: float = 1.0
) -> float:
    """Seconds within which a failing event must reach its place, per the stack's settings."""
    return settle_and_floor_seconds(stack, budget, resolve, time_scale)[0]


def settle_and_floor_seconds(
    stack: Stack,
    budget: Budget,
    resolve: Callable[[str], Any],
    time_scale: float = 1.0,
    failed: int | None = None,
) -> tuple[float, float]:
    """(settle, floor): the seconds within which a failing event must reach its place, and
    the seconds the settings make it wait at the least (visibility timeouts x receives,
    Lambda's async retry delays, the event age a throttled event is retried for, a
    workflow's Retry intervals), however fast each attempt fails. The floor is what no
    speed of the host can shorten: the run summary sets the suite's wall time against it.

    `failed`: the floor of an event that failed that many attempts and then ended (an event
    processed on its attempt failed + 1); None: one that failed every attempt."""
    if budget.kind == "none":
        return 0.0, 0.0
    if budget.kind == "sqs":
        visibility, max_receives = redrive(stack, str(resolve(budget.path)))
        waits = sqs_delivery_seconds(visibility, max_receives)
        # Each failed receive keeps the message invisible for the visibility timeout.
        floor = waits if failed is None else visibility * min(failed, max_receives)
        return waits, floor
    if budget.kind in ("async", "event_age"):
        retries, age, timeout = async_settings(stack, str(resolve(budget.path)))
        if budget.kind == "event_age":
            # Throttled events are retried until MaximumEventAgeInSeconds, which is the stack's
            # own setting and is not compressed by the local cloud. Only an event that aged
            # out waited it all; attempts a handler counted say nothing of throttles.
            return age + timeout, float(age) if failed is None else 0.0
        delayed = retries if failed is None else min(failed, retries)
        return (
            async_delivery_seconds(retries, timeout, time_scale),
            async_delivery_seconds(delayed, 0.0, time_scale),
        )
    if budget.kind == "stream":  # Lambda retries a failing batch at once: no imposed wait
        out = resolve(budget.path)
        timeout = float(out["function"]["timeout"])
        retries = int(out["maximum_retry_attempts"])
        age = int(out["maximum_record_age"])
        # Bisecting doubles the attempts per retry round at most: log2(batch) splits, bounded here
        # by the retry count; an infinite retry count is bounded by the record age instead.
        by_retries = (retries + 1) * 2 * timeout if retries >= 0 else float("inf")
        by_age = float(age) if age > 0 else float("inf")
        if min(by_retries, by_age) == float("inf"):
            raise MissingSettingError(
                f"{budget.path}: infinite MaximumRetryAttempts and MaximumRecordAgeInSeconds:"
                " a poison record blocks its shard for the stream's retention"
            )
        return min(by_retries, by_age), 0.0
    if budget.kind == "workflow":
        out = resolve(budget.path)
        attempts, interval = int(out["retry_max_attempts"]), float(out["retry_interval"])
        rate = float(out["retry_backoff_rate"])

        def intervals(retries: int) -> float:
            return sum(interval * rate**i for i in range(retries))

        settle = intervals(attempts) + (attempts + 1) * float(out["step"]["timeout"])
        return settle, intervals(attempts if failed is None else min(failed, attempts))
    raise ValueError(f"unknown budget kind {budget.kind!r}")
