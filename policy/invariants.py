"""Failure-handling invariants over a stack's resources, as plain functions.

Each check takes the stack's resources as (type, name, props) and returns the
violations. pulumi-policy runs them in `pulumi preview --policy-pack policy`
(policy/__main__.py); the unit tests run them over the mock-recorded graph, since
pulumi-policy itself needs the CLI. Props use the provider's camelCase names.
A property that is not known yet (an ARN during a first preview) cannot be
correlated and is skipped; `pulumi up` checks the real values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "CHECKS",
    "Resource",
    "Violation",
    "check_all",
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

VISIBILITY_FACTOR = 6
LAMBDA_DEFAULT_TIMEOUT = 3
SQS_DEFAULT_VISIBILITY = 30
# Services that invoke Lambda asynchronously (Lambda's async retry/DLQ rules apply).
ASYNC_PRINCIPALS = {"sns.amazonaws.com", "events.amazonaws.com", "s3.amazonaws.com"}
# Actions that support no resource-level permissions: "*" is what they need.
RESOURCELESS_ACTIONS = {
    "cloudwatch:PutMetricData",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
    "kinesis:ListStreams",
}


class Resource(NamedTuple):
    type: str
    name: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str  # logical name of the offending resource
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
        else:  # components.program.Registration
            out.append(Resource(item.type, item.name, item.props))
    return out


def _known(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _get(props: Mapping[str, Any], *path: str) -> Any:
    value: Any = props
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _number(value: Any, default: float) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )


class _Index:
    def __init__(self, resources: Sequence[Resource]) -> None:
        self.resources = resources
        self.queues_by_arn = {r.props.get("arn"): r for r in resources if r.type == QUEUE}
        self.functions: dict[str, Resource] = {}
        for r in resources:
            if r.type == FUNCTION:
                for key in ("arn", "name", "qualifiedArn"):
                    if _known(r.props.get(key)):
                        self.functions[r.props[key]] = r

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def function(self, ref: Any) -> Resource | None:
        return self.functions.get(ref) if _known(ref) else None


def check_async_failure_destination(resources: Sequence[Resource]) -> list[Violation]:
    """Every asynchronously invoked function has a DLQ or an OnFailure destination."""
    index = _Index(resources)
    async_functions: dict[str, Resource] = {}
    for r in index.of_type(PERMISSION):
        if r.props.get("principal") in ASYNC_PRINCIPALS:
            fn = index.function(r.props.get("function"))
            if fn is not None:
                async_functions[fn.name] = fn
    for r in index.of_type(SUBSCRIPTION):
        if r.props.get("protocol") == "lambda":
            fn = index.function(r.props.get("endpoint"))
            if fn is not None:
                async_functions[fn.name] = fn
    on_failure = set()
    for r in index.of_type(INVOKE_CONFIG):
        fn = index.function(r.props.get("functionName"))
        if fn is not None:
            async_functions[fn.name] = fn
            if _known(_get(r.props, "destinationConfig", "onFailure", "destination")):
                on_failure.add(fn.name)
    violations = []
    for name, fn in sorted(async_functions.items()):
        has_dlq = _known(_get(fn.props, "deadLetterConfig", "targetArn"))
        if not has_dlq and name not in on_failure:
            violations.append(
                Violation(
                    "async-failure-destination",
                    name,
                    "invoked asynchronously but has neither a DLQ (deadLetterConfig) nor an "
                    "OnFailure destination: events that exhaust their retries are dropped",
                )
            )
    return violations


def _sqs_mappings(index: _Index) -> list[tuple[Resource, Resource]]:
    pairs = []
    for mapping in index.of_type(MAPPING):
        queue = index.queues_by_arn.get(mapping.props.get("eventSourceArn"))
        if queue is not None:
            pairs.append((mapping, queue))
    return pairs


def check_sqs_redrive(resources: Sequence[Resource]) -> list[Violation]:
    """Every SQS event source has a redrive policy (DLQ) on its queue."""
    violations = []
    for mapping, queue in _sqs_mappings(_Index(resources)):
        policy = _json(queue.props.get("redrivePolicy"))
        if not isinstance(policy, Mapping) or not policy.get("deadLetterTargetArn"):
            violations.append(
                Violation(
                    "sqs-source-redrive",
                    queue.name,
                    f"feeds {mapping.name} but has no redrive policy: a poison message is retried "
                    "until retention expires, then lost",
                )
            )
    return violations


def check_visibility_timeout(resources: Sequence[Resource]) -> list[Violation]:
    """An SQS source's visibility timeout is >= 6x its function's timeout."""
    index = _Index(resources)
    violations = []
    for mapping, queue in _sqs_mappings(index):
        fn = index.function(mapping.props.get("functionName"))
        if fn is None:
            continue
        timeout = _number(fn.props.get("timeout"), LAMBDA_DEFAULT_TIMEOUT)
        visibility = _number(queue.props.get("visibilityTimeoutSeconds"), SQS_DEFAULT_VISIBILITY)
        if visibility < VISIBILITY_FACTOR * timeout:
            violations.append(
                Violation(
                    "visibility-timeout-6x",
                    queue.name,
                    f"visibility timeout {visibility:g} s < {VISIBILITY_FACTOR} x {fn.name} "
                    f"timeout {timeout:g} s: messages reappear while still being processed",
                )
            )
    return violations


def check_stream_failure_handling(resources: Sequence[Resource]) -> list[Violation]:
    """No stream mapping with infinite retries and no OnFailure destination."""
    violations = []
    for mapping in _Index(resources).of_type(MAPPING):
        if _known(mapping.props.get("startingPosition")) is False:
            continue  # SQS mappings have no starting position: only streams do
        retries = _number(mapping.props.get("maximumRetryAttempts"), -1)
        destination = _get(mapping.props, "destinationConfig", "onFailure", "destinationArn")
        if _known(destination):
            continue
        if retries == -1:
            message = (
                "infinite retries and no OnFailure destination: one bad record blocks its shard "
                "until it expires from the stream, then it is lost"
            )
        else:
            message = (
                f"no OnFailure destination: a record failing {retries:g} retries is skipped "
                "and lost without a trace"
            )
        violations.append(Violation("stream-finite-retries", mapping.name, message))
    return violations


def _dead_letter_arns(index: _Index) -> dict[str, str]:
    """DLQ ARN -> what sends to it."""
    found: dict[str, str] = {}

    def add(arn: Any, source: str) -> None:
        if _known(arn):
            found.setdefault(arn, source)

    for r in index.resources:
        if r.type == QUEUE:
            add(_get(_json(r.props.get("redrivePolicy")) or {}, "deadLetterTargetArn"), r.name)
        elif r.type == FUNCTION:
            add(_get(r.props, "deadLetterConfig", "targetArn"), r.name)
        elif r.type == INVOKE_CONFIG:
            add(_get(r.props, "destinationConfig", "onFailure", "destination"), r.name)
        elif r.type == MAPPING:
            add(_get(r.props, "destinationConfig", "onFailure", "destinationArn"), r.name)
        elif r.type == EVENT_TARGET:
            add(_get(r.props, "deadLetterConfig", "arn"), r.name)
        elif r.type == SUBSCRIPTION:
            add(_get(_json(r.props.get("redrivePolicy")) or {}, "deadLetterTargetArn"), r.name)
    return found


def _fires_on_one(alarm: Mapping[str, Any]) -> bool:
    operator = alarm.get("comparisonOperator")
    threshold = _number(alarm.get("threshold"), float("inf"))
    fires = (operator == "GreaterThanOrEqualToThreshold" and threshold <= 1) or (
        operator == "GreaterThanThreshold" and threshold < 1
    )
    return (
        fires
        and alarm.get("namespace") == "AWS/SQS"
        and alarm.get("metricName") == "ApproximateNumberOfMessagesVisible"
        and alarm.get("statistic") in ("Maximum", "Sum")
        and bool(alarm.get("alarmActions"))
    )


def check_dlq_alarm(resources: Sequence[Resource]) -> list[Violation]:
    """Every DLQ has an alarm, with an action, that fires on ONE message."""
    index = _Index(resources)
    alarmed: set[str] = set()
    near_misses: dict[str, str] = {}
    for alarm in index.of_type(ALARM):
        queue_name = _get(alarm.props, "dimensions", "QueueName")
        if not _known(queue_name):
            continue
        if _fires_on_one(alarm.props):
            alarmed.add(queue_name)
        else:
            near_misses[queue_name] = alarm.name
    violations = []
    for arn, source in sorted(_dead_letter_arns(index).items()):
        queue = index.queues_by_arn.get(arn)
        if queue is None:
            continue
        queue_name = queue.props.get("name")
        if not _known(queue_name) or queue_name in alarmed:
            continue
        detail = (
            f"its alarm {near_misses[queue_name]} does not fire on one message "
            "(needs Maximum of ApproximateNumberOfMessagesVisible >= 1 with an alarm action)"
            if queue_name in near_misses
            else "no alarm watches it"
        )
        violations.append(Violation("dlq-alarm-on-one", queue.name, f"DLQ of {source}: {detail}"))
    return violations


def _wildcard_resource(resource: str) -> bool:
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    _, _, service, region, account, rest = parts
    return "*" in (service, region, account) or rest in ("*", "") or rest.startswith("*")


def check_iam_wildcards(resources: Sequence[Resource]) -> list[Violation]:
    """No IAM action or resource wildcard beyond what a pattern needs."""
    violations = []
    for r in resources:
        if r.type not in (ROLE_POLICY, IAM_POLICY):
            continue
        document = _json(r.props.get("policy"))
        if not isinstance(document, Mapping):
            continue
        statements = document.get("Statement", [])
        for stmt in statements if isinstance(statements, list) else [statements]:
            if not isinstance(stmt, Mapping) or stmt.get("Effect") != "Allow":
                continue
            if "NotAction" in stmt or "NotResource" in stmt:
                violations.append(
                    Violation("iam-no-wildcards", r.name, "Allow with NotAction/NotResource")
                )
                continue
            actions = stmt.get("Action", [])
            actions = [actions] if isinstance(actions, str) else list(actions)
            resources_ = stmt.get("Resource", [])
            resources_ = [resources_] if isinstance(resources_, str) else list(resources_)
            for action in actions:
                if isinstance(action, str) and "*" in action:
                    violations.append(
                        Violation("iam-no-wildcards", r.name, f"wildcard action {action!r}")
                    )
            needs_any = all(a in RESOURCELESS_ACTIONS for a in actions)
            for resource in resources_:
                if isinstance(resource, str) and _wildcard_resource(resource) and not needs_any:
                    violations.append(
                        Violation(
                            "iam-no-wildcards",
                            r.name,
                            f"wildcard resource {resource!r} for {sorted(map(str, actions))}",
                        )
                    )
    return violations


CHECKS: dict[str, tuple[str, Callable[[Sequence[Resource]], list[Violation]]]] = {
    "async-failure-destination": (
        "Every asynchronously invoked function has a DLQ or an OnFailure destination.",
        check_async_failure_destination,
    ),
    "sqs-source-redrive": (
        "Every SQS event source has a redrive policy on its queue.",
        check_sqs_redrive,
    ),
    "visibility-timeout-6x": (
        "An SQS source's visibility timeout is at least 6x its function's timeout.",
        check_visibility_timeout,
    ),
    "stream-finite-retries": (
        "No stream mapping with infinite retries and no OnFailure destination.",
        check_stream_failure_handling,
    ),
    "dlq-alarm-on-one": ("Every DLQ has an alarm that fires on one message.", check_dlq_alarm),
    "iam-no-wildcards": (
        "No IAM action or resource wildcard beyond what a pattern needs.",
        check_iam_wildcards,
    ),
}


def check_all(items: Iterable[Any]) -> list[Violation]:
    resources = resources_from(items)
    return [v for _, (_, check) in CHECKS.items() for v in check(resources)]
