"""The resources the invariants read: (type, name, props[, urn]) with pulumi-aws camelCase props."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, overload

from components.limits import COMPONENT_TYPE_PREFIX

__all__ = [
    "ALARM",
    "COMPONENT_TYPE_PREFIX",
    "EVENT_TARGET",
    "FUNCTION",
    "IAM_POLICY",
    "INVOKE_CONFIG",
    "MAPPING",
    "PERMISSION",
    "POLICY_ATTACHMENT",
    "QUEUE",
    "QUEUE_POLICY",
    "ROLE",
    "ROLE_POLICY",
    "ROLE_POLICY_ATTACHMENT",
    "ROLE_POLICY_ATTACHMENTS_EXCLUSIVE",
    "SCALING_POLICY",
    "SCALING_TARGET",
    "STATE_MACHINE",
    "SUBSCRIPTION",
    "TABLE",
    "TOPIC",
    "TOPIC_POLICY",
    "USAGE_PLAN",
    "Resource",
    "Violation",
    "allow_statements",
    "parent_type",
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
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY_ATTACHMENTS_EXCLUSIVE = (
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
)
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
TABLE = "aws:dynamodb/table:Table"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
STACK_TYPE = "pulumi:pulumi:Stack"


class Resource(NamedTuple):
    type: str
    name: str
    props: Mapping[str, Any]
    # Where it sits in the program: `pulumi preview` and the mock-recorded graph know it; the
    # configuration read back from a cloud (chaos.preflight) does not (None).
    urn: str | None = None


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
            props = dict(item.props or {})
            out.append(Resource(item.resource_type, item.name, props, getattr(item, "urn", None)))
        else:  # localcloud.deploy.mocks.Registration (duck-typed: policy imports no localcloud)
            out.append(Resource(item.type, item.name, item.props, getattr(item, "urn", None)))
    return out


def parent_type(urn: str | None) -> str | None:
    """The type token of a resource's parent, from its URN; STACK_TYPE for a child of the stack
    itself; None when the URN is not known (or not a URN).

    A URN is `urn:pulumi:<stack>::<project>::<qualified type>::<name>`, the qualified type being
    the parent's type(s) and the resource's own, joined by `$`. The engine leaves the stack's
    type out of its children's URNs; the SDK's mock monitor keeps it: both read the same here.
    """
    parts = urn.split("::", 3) if isinstance(urn, str) else []
    if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
        return None
    chain = parts[2].split("$")
    return chain[-2] if len(chain) > 1 else STACK_TYPE


def allow_statements(document: Any) -> list[Mapping[str, Any]]:
    """The Allow statements of a policy document (a JSON string or already parsed)."""
    document = parse_json(document)
    if not isinstance(document, Mapping):
        return []
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    return [s for s in statements if isinstance(s, Mapping) and s.get("Effect") == "Allow"]


def as_list(value: Any) -> list[Any]:
    """A policy element that is one value or a list of them (Action, Resource, ...), as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


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
