"""Build the right traffic driver for a declared Send step from the stack's outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chaos import traffic
from chaos.errors import FaultValueError
from chaos.stack import Stack


def driver_for(
    stack: Stack,
    step: Any,
    resolve: Callable[[str], Any],
    attributes: Callable[[dict[str, Any]], dict[str, str]] | None = None,
) -> traffic.Send:
    target = str(resolve(step.target))
    opt = {k: resolve(v) for k, v in step.options.items()}
    if step.entry == "sqs":
        return traffic.sqs_driver(stack, target, fifo=target.endswith(".fifo"))
    if step.entry == "sns":
        return traffic.sns_driver(stack, target, attributes)
    if step.entry == "eventbridge":
        return traffic.eventbridge_driver(
            stack, target, opt.get("source", "failmodes.chaos"), opt.get("detail_type", "chaos")
        )
    if step.entry == "kinesis":
        return traffic.kinesis_driver(stack, target)
    if step.entry == "invoke":
        return traffic.invoke_driver(stack, target)
    if step.entry == "stepfunctions":
        return traffic.stepfunctions_driver(stack, target)
    if step.entry == "api":
        return traffic.api_driver(target, opt.get("api_key"))
    raise FaultValueError(f"unknown entry point {step.entry!r}")


def filter_attributes(policy: dict[str, Any]) -> dict[str, str]:
    """Message attributes that satisfy an SNS filter policy's exact-string conditions.

    Only the common shape (key -> list of strings) is generated; a key whose list holds no plain
    string (prefix, numeric, anything-but) is left out, which such a policy would then reject.
    """
    attrs: dict[str, str] = {}
    for key, allowed in policy.items():
        values = allowed if isinstance(allowed, list) else [allowed]
        strings = [v for v in values if isinstance(v, str)]
        if strings:
            attrs[key] = strings[0]
    return attrs
