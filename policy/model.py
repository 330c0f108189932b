"""The resources the invariants read: (type, name, props) with pulumi-aws camelCase props."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, overload

__all__ = [
    "ALARM",
    "EVENT_TARGET",
    "FUNCTION",
    "IAM_POLICY",
    "INVOKE_CONFIG",
    "MAPPING",
    "PERMISSION",
    "QUEUE",
    "ROLE_POLICY",
    "SCALING_POLICY",
    "SCALING_TARGET",
    "STATE_MACHINE",
    "SUBSCRIPTION",
    "TABLE",
    "USAGE_PLAN",
    "Resource",
    "Violation",
    "resources_from",
]

QUEUE = "aws:sqs/queue:Queue"
FUNCTION = "aws:lambda/function:Function"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
PERMISSION = "aws:lambda/permission:Permission"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
TABLE = "aws:dynamodb/table:Table"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"


class Resource(NamedTuple):
    type: str
    name: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str  # logical name of the offending resource (the live name in preflight)
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource}: {self.message}"


def resources_from(items: Iterable[Any]) -> list[Resource]:
    """Accept (type, name, props) tuples, RecordingMocks registrations or PolicyResources."""
    out = []
    for item in items:
        if isinstance(item, tuple):
            out.append(Resource(*item))
        elif hasattr(item, "resource_type"):  # pulumi_policy.PolicyResource
            out.append(Resource(item.resource_type, item.name, dict(item.props or {})))
        else:  # localcloud.deploy.mocks.Registration (duck-typed: policy imports no localcloud)
            out.append(Resource(item.type, item.name, item.props))
    return out


def known(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def parse_json(value: Any) -> Any:
    """A JSON document given as a string (as Pulumi and SQS keep them) or already parsed."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def get(props: Mapping[str, Any], *path: str) -> Any:
    value: Any = props
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


@overload
def number(value: Any) -> float | None: ...
@overload
def number(value: Any, default: float) -> float: ...
def number(value: Any, default: float | None = None) -> float | None:
    """A number, also from the numeric strings SQS attributes come as; else `default`."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


def arn_service(arn: Any) -> str | None:
    parts = arn.split(":") if known(arn) else []
    return parts[2] if len(parts) > 5 and parts[0] == "arn" else None
