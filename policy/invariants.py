"""Failure-handling invariants over a stack's resources, as plain functions.

Each check takes the stack's resources as (type, name, props, urn) and returns the
violations (the URN, where a resource sits in the program, is known to a preview and to
the mock-recorded graph, not to a read-back; a rule that needs it skips what lacks it).
pulumi-policy runs them in `pulumi preview --policy-pack policy`
(policy/__main__.py); the unit tests run them over the mock-recorded graph, since
pulumi-policy itself needs the CLI; chaos.preflight runs them over the
configuration read back from the deployed cloud. Props use the provider's
camelCase names. A property that is not known yet (an ARN during a first preview)
cannot be correlated and is skipped; `pulumi up` checks the real values. A
setting that is absent is judged by the value AWS then applies (e.g. a Kinesis
mapping without MaximumRetryAttempts retries forever).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from components.limits import RECEIVE_COUNT_RANGE, VISIBILITY_FACTOR
from policy.iam import check_admin_policies, check_grants_in_components, check_iam_wildcards
from policy.model import (
    ALARM,
    EVENT_TARGET,
    FUNCTION,
    INVOKE_CONFIG,
    MAPPING,
    PERMISSION,
    QUEUE,
    SCALING_POLICY,
    SCALING_TARGET,
    SUBSCRIPTION,
    TABLE,
    Resource,
    Violation,
    arn_service,
    get,
    known,
    number,
    parse_json,
    resources_from,
)
from policy.resource_policies import check_resource_policy_sources

__all__ = [
    "CHECKS",
    "Resource",
    "Violation",
    "check_all",
    "dead_letter_arns",
    "resources_from",
]

LAMBDA_DEFAULT_TIMEOUT = 3
SQS_DEFAULT_VISIBILITY = 30
# Lambda's default BatchSize when a mapping sets none.
DEFAULT_BATCH_SIZE = {"sqs": 10, "kinesis": 100, "dynamodb": 100}
INFINITE = -1  # Kinesis/DynamoDB mappings: MaximumRetryAttempts / MaximumRecordAgeInSeconds
STREAM_SERVICES = ("kinesis", "dynamodb")
# Services that invoke Lambda asynchronously (Lambda's async retry/DLQ rules apply).
ASYNC_PRINCIPALS = {"sns.amazonaws.com", "events.amazonaws.com", "s3.amazonaws.com"}
DLQ_METRIC = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
# ApproximateNumberOfMessagesVisible is a gauge: over a period Maximum is the highest sample,
# and Sum >= Maximum (samples are >= 0), so both reach 1 as soon as one message is seen.
# Average and Minimum stay below 1 in a period where the message is there for part of it
# (a redriver or a reader took it out); SampleCount counts samples, not messages.
ONE_MESSAGE_STATISTICS = ("Maximum", "Sum")


class _Index:
    def __init__(self, resources: Sequence[Resource]) -> None:
        self.resources = resources
        self.queues_by_arn = {
            r.props["arn"]: r for r in resources if r.type == QUEUE and known(r.props.get("arn"))
        }
        self.functions: dict[str, Resource] = {}
        for r in resources:
            if r.type == FUNCTION:
                for key in ("arn", "name", "qualifiedArn"):
                    if known(r.props.get(key)):
                        self.functions[r.props[key]] = r

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def function(self, ref: Any) -> Resource | None:
        return self.functions.get(ref) if known(ref) else None


def _source_service(mapping: Resource) -> str | None:
    service = arn_service(mapping.props.get("eventSourceArn"))
    if service is None and known(mapping.props.get("startingPosition")):
        return "kinesis"  # only stream mappings have a starting position
    return service


def _sqs_mappings(index: _Index) -> list[tuple[Resource, Resource]]:
    pairs = []
    for mapping in index.of_type(MAPPING):
        queue = index.queues_by_arn.get(mapping.props.get("eventSourceArn"))
        if queue is not None:
            pairs.append((mapping, queue))
    return pairs


def _stream_mappings(index: _Index) -> list[Resource]:
    return [m for m in index.of_type(MAPPING) if _source_service(m) in STREAM_SERVICES]


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
    for r in index.of_type(EVENT_TARGET):  # EventBridge invokes a Lambda target asynchronously
        fn = index.function(r.props.get("arn"))
        if fn is not None:
            async_functions[fn.name] = fn
    on_failure = set()
    for r in index.of_type(INVOKE_CONFIG):
        fn = index.function(r.props.get("functionName"))
        if fn is not None:
            async_functions[fn.name] = fn
            if known(get(r.props, "destinationConfig", "onFailure", "destination")):
                on_failure.add(fn.name)
    violations = []
    for name, fn in sorted(async_functions.items()):
        has_dlq = known(get(fn.props, "deadLetterConfig", "targetArn"))
        if not has_dlq and name not in on_failure:
            violations.append(
                Violation(
                    "async-failure-destination",
                    name,
                    "invoked asynchronously but has neither a DLQ (DeadLetterConfig) nor an "
                    "OnFailure destination: events that exhaust their retries are dropped",
                )
            )
    return violations


def _writers(index: _Index, queue_arn: str) -> list[str]:
    """What delivers into a queue besides producers: EventBridge targets, SNS subscriptions."""
    return sorted(
        r.name
        for r in index.resources
        if (r.type == EVENT_TARGET and r.props.get("arn") == queue_arn)
        or (r.type == SUBSCRIPTION and r.props.get("endpoint") == queue_arn)
    )


def check_sqs_redrive(resources: Sequence[Resource]) -> list[Violation]:
    """Every SQS event source has a redrive policy (DLQ and maxReceiveCount) on its queue."""
    index = _Index(resources)
    violations = []
    for mapping, queue in _sqs_mappings(index):
        writers = _writers(index, queue.props["arn"])
        fed = f" (written by {', '.join(writers)})" if writers else ""
        policy = parse_json(queue.props.get("redrivePolicy"))
        if not isinstance(policy, Mapping) or not policy.get("deadLetterTargetArn"):
            message = (
                f"feeds {mapping.name}{fed} but has no redrive policy (RedrivePolicy."
                "deadLetterTargetArn): a poison message is retried until retention expires, "
                "then lost"
            )
        else:
            count = number(policy.get("maxReceiveCount"))
            low, high = RECEIVE_COUNT_RANGE
            if count is not None and count == int(count) and low <= count <= high:
                continue
            message = (
                f"feeds {mapping.name}{fed} but its redrive policy has no valid maxReceiveCount "
                f"({policy.get('maxReceiveCount')!r}, allowed {low}..{high})"
            )
        violations.append(Violation("sqs-source-redrive", queue.name, message))
    return violations


def check_visibility_timeout(resources: Sequence[Resource]) -> list[Violation]:
    """An SQS source's visibility timeout is >= 6x its function's timeout."""
    index = _Index(resources)
    violations = []
    for mapping, queue in _sqs_mappings(index):
        fn = index.function(mapping.props.get("functionName"))
        if fn is None:
            continue
        timeout = number(fn.props.get("timeout"), LAMBDA_DEFAULT_TIMEOUT)
        visibility = number(queue.props.get("visibilityTimeoutSeconds"), SQS_DEFAULT_VISIBILITY)
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


def check_batch_item_failures(resources: Sequence[Resource]) -> list[Violation]:
    """SQS and stream mappings with batches > 1 have FunctionResponseTypes ReportBatchItemFailures.

    The batch handlers (Powertools BatchProcessor) return the failed records instead of
    raising unless the whole batch failed; without ReportBatchItemFailures Lambda reads
    that answer as success and deletes (SQS) or checkpoints past (streams) the failed ones.
    """
    violations = []
    for mapping in _Index(resources).of_type(MAPPING):
        service = _source_service(mapping)
        if service not in DEFAULT_BATCH_SIZE:
            continue
        batch = number(mapping.props.get("batchSize"), DEFAULT_BATCH_SIZE[service])
        types = mapping.props.get("functionResponseTypes") or []
        if batch > 1 and "ReportBatchItemFailures" not in types:
            violations.append(
                Violation(
                    "batch-item-failures",
                    mapping.name,
                    f"{service} batch size {batch:g} without FunctionResponseTypes "
                    "ReportBatchItemFailures: the records a handler reports as failed are "
                    "treated as processed and lost",
                )
            )
    return violations


def check_stream_bisect(resources: Sequence[Resource]) -> list[Violation]:
    """Stream mappings split a failing batch (BisectBatchOnFunctionError)."""
    return [
        Violation(
            "stream-bisect",
            m.name,
            "BisectBatchOnFunctionError is not true: one bad record fails its whole batch, and "
            "every good record in it shares its retries and its fate",
        )
        for m in _stream_mappings(_Index(resources))
        if m.props.get("bisectBatchOnFunctionError") is not True
    ]


def check_stream_on_failure(resources: Sequence[Resource]) -> list[Violation]:
    """Stream mappings have an OnFailure destination."""
    return [
        Violation(
            "stream-on-failure",
            m.name,
            "no OnFailure destination (DestinationConfig.OnFailure): a record that exhausts its "
            "retries or its age is skipped without a trace",
        )
        for m in _stream_mappings(_Index(resources))
        if not known(get(m.props, "destinationConfig", "onFailure", "destinationArn"))
    ]


def check_stream_finite_retries(resources: Sequence[Resource]) -> list[Violation]:
    """Stream mappings give up: finite MaximumRetryAttempts or MaximumRecordAgeInSeconds."""
    violations = []
    for m in _stream_mappings(_Index(resources)):
        retries = number(m.props.get("maximumRetryAttempts"), INFINITE)
        age = number(m.props.get("maximumRecordAgeInSeconds"), INFINITE)
        if retries == INFINITE and age == INFINITE:
            violations.append(
                Violation(
                    "stream-finite-retries",
                    m.name,
                    "MaximumRetryAttempts and MaximumRecordAgeInSeconds are both infinite (-1 or "
                    "unset): one bad record blocks its shard until it expires from the stream",
                )
            )
    return violations


def dead_letter_arns(resources: Sequence[Resource]) -> dict[str, str]:
    """DLQ ARN -> what sends to it: redrive policies, function DLQs, OnFailure destinations,
    EventBridge target DLQs and SNS subscription DLQs."""
    found: dict[str, str] = {}

    def add(arn: Any, source: str) -> None:
        if known(arn):
            found.setdefault(arn, source)

    for r in resources:
        if r.type == QUEUE:
            add(get(parse_json(r.props.get("redrivePolicy")) or {}, "deadLetterTargetArn"), r.name)
        elif r.type == FUNCTION:
            add(get(r.props, "deadLetterConfig", "targetArn"), r.name)
        elif r.type == INVOKE_CONFIG:
            add(get(r.props, "destinationConfig", "onFailure", "destination"), r.name)
        elif r.type == MAPPING:
            add(get(r.props, "destinationConfig", "onFailure", "destinationArn"), r.name)
        elif r.type == EVENT_TARGET:
            add(get(r.props, "deadLetterConfig", "arn"), r.name)
        elif r.type == SUBSCRIPTION:
            add(get(parse_json(r.props.get("redrivePolicy")) or {}, "deadLetterTargetArn"), r.name)
    return found


def _dlq_queues(index: _Index) -> list[tuple[str, str, Resource | None]]:
    """(DLQ ARN, sender, queue resource or None) for every SQS dead-letter target."""
    return [
        (arn, source, index.queues_by_arn.get(arn))
        for arn, source in sorted(dead_letter_arns(index.resources).items())
        if arn_service(arn) == "sqs"
    ]


def _watching(index: _Index, queue_name: str) -> list[Resource]:
    return [
        a for a in index.of_type(ALARM) if get(a.props, "dimensions", "QueueName") == queue_name
    ]


def _why_not_on_one(alarm: Mapping[str, Any]) -> str | None:
    """None when the alarm fires on ONE message in its queue, else the reason it does not."""
    metric = (alarm.get("namespace"), alarm.get("metricName"))
    if metric != DLQ_METRIC:
        return f"watches {'/'.join(map(str, metric))}, not {'/'.join(DLQ_METRIC)}"
    dimensions = alarm.get("dimensions") or {}
    if len(dimensions) != 1:
        # CloudWatch matches a metric on all of its dimensions: an extra one matches nothing.
        return f"has dimensions {sorted(dimensions)}; the SQS metric has QueueName alone"
    statistic = alarm.get("statistic") or alarm.get("extendedStatistic")
    if statistic not in ONE_MESSAGE_STATISTICS:
        return f"statistic {statistic} can stay below 1 while a message is there (use Maximum)"
    operator, threshold = alarm.get("comparisonOperator"), number(alarm.get("threshold"))
    if threshold is None:
        return "has no threshold"
    # >= 0 (or > a negative number) is in ALARM with an empty queue too: it never transitions,
    # so its actions never run when the first message arrives.
    if operator == "GreaterThanOrEqualToThreshold" and 0 < threshold <= 1:
        return None
    if operator == "GreaterThanThreshold" and 0 <= threshold < 1:
        return None
    return f"{operator} {threshold:g} does not fire on one message (needs >= 1 or > 0)"


def check_dlq_alarm(resources: Sequence[Resource]) -> list[Violation]:
    """Every DLQ has an alarm on its own ApproximateNumberOfMessagesVisible that fires on ONE."""
    index = _Index(resources)
    violations = []
    for arn, source, queue in _dlq_queues(index):
        if queue is None:
            violations.append(
                Violation(
                    "dlq-alarm-on-one",
                    arn,
                    f"DLQ of {source} is not a queue of this stack (deleted, or outside it): no "
                    "alarm on it can be checked",
                )
            )
            continue
        queue_name = queue.props.get("name")
        if not isinstance(queue_name, str) or not queue_name:
            continue
        alarms = _watching(index, queue_name)
        reasons = {a.name: _why_not_on_one(a.props) for a in alarms}
        if alarms and None in reasons.values():
            continue
        detail = (
            "; ".join(f"its alarm {name} {why}" for name, why in sorted(reasons.items()))
            if alarms
            else f"no alarm watches {'/'.join(DLQ_METRIC)} of QueueName {queue_name}"
        )
        violations.append(Violation("dlq-alarm-on-one", queue.name, f"DLQ of {source}: {detail}"))
    return violations


def check_dlq_alarm_actions(resources: Sequence[Resource]) -> list[Violation]:
    """Every alarm on a DLQ notifies: actions enabled, at least one alarm action, to SNS."""
    index = _Index(resources)
    violations = []
    for _, source, queue in _dlq_queues(index):
        if queue is None or not known(queue.props.get("name")):
            continue
        for alarm in _watching(index, queue.props["name"]):
            actions = alarm.props.get("alarmActions") or []
            not_sns = [a for a in actions if known(a) and arn_service(a) != "sns"]
            if alarm.props.get("actionsEnabled") is False:
                problem = "has its actions disabled (ActionsEnabled false)"
            elif not actions:
                problem = "has no alarm action (AlarmActions is empty)"
            elif not_sns and len(not_sns) == len(actions):
                problem = f"notifies no SNS topic (AlarmActions {not_sns})"
            else:
                continue
            violations.append(
                Violation(
                    "dlq-alarm-actions",
                    alarm.name,
                    f"watches DLQ {queue.props['name']} (of {source}) but {problem}: it changes "
                    "state and nobody is told",
                )
            )
    return violations


def check_event_target_dlq(resources: Sequence[Resource]) -> list[Violation]:
    """Every EventBridge target has a dead-letter queue."""
    return [
        Violation(
            "event-target-dlq",
            t.name,
            "no DeadLetterConfig: an event EventBridge cannot deliver after its retries is dropped",
        )
        for t in _Index(resources).of_type(EVENT_TARGET)
        if not known(get(t.props, "deadLetterConfig", "arn"))
    ]


def check_event_target_retry_policy(resources: Sequence[Resource]) -> list[Violation]:
    """Every EventBridge target sets its RetryPolicy (retries and event age)."""
    violations = []
    for t in _Index(resources).of_type(EVENT_TARGET):
        policy = t.props.get("retryPolicy") or {}
        missing = [
            key
            for key in ("maximumRetryAttempts", "maximumEventAgeInSeconds")
            if number(get(policy, key)) is None
        ]
        if missing:
            violations.append(
                Violation(
                    "event-target-retry-policy",
                    t.name,
                    f"RetryPolicy lacks {', '.join(missing)}: AWS's 185 retries over 24 h apply, "
                    "and when an event reaches the DLQ is not a setting of the stack",
                )
            )
    return violations


def check_subscription_dlq(resources: Sequence[Resource]) -> list[Violation]:
    """Every SNS subscription to a queue or a function has a redrive policy (a DLQ).

    Subscriptions of an alarm topic (one an alarm's actions name) are the notification path
    itself: a notification lost there is what the chaos verdict "alarm notified" catches,
    and a DLQ alarm on it would notify the very topic that cannot deliver."""
    index = _Index(resources)
    alarm_topics = {
        arn for a in index.of_type(ALARM) for arn in (a.props.get("alarmActions") or [])
    }
    return [
        Violation(
            "subscription-dlq",
            r.name,
            "no RedrivePolicy: a message SNS cannot deliver to this "
            f"{r.props.get('protocol')} endpoint (its grant gone, the endpoint gone) is not "
            "retried and is lost",
        )
        for r in index.of_type(SUBSCRIPTION)
        if r.props.get("protocol") in ("sqs", "lambda")
        and r.props.get("topic") not in alarm_topics
        and not known(get(parse_json(r.props.get("redrivePolicy")) or {}, "deadLetterTargetArn"))
    ]


def check_table_capacity(resources: Sequence[Resource]) -> list[Violation]:
    """A PROVISIONED table scales its write capacity: an Application Auto Scaling target on
    WriteCapacityUnits with a scaling policy. Fixed units throttle a burst the writers then
    retry into their DLQ; PAY_PER_REQUEST (absent BillingMode is PROVISIONED) needs none."""
    index = _Index(resources)
    scaled: dict[str, set[str]] = {}
    for kind in (SCALING_TARGET, SCALING_POLICY):
        for r in index.of_type(kind):
            if (
                r.props.get("serviceNamespace") == "dynamodb"
                and r.props.get("scalableDimension") == "dynamodb:table:WriteCapacityUnits"
            ):
                scaled.setdefault(str(r.props.get("resourceId")), set()).add(kind)
    out = []
    for table in index.of_type(TABLE):
        name = table.props.get("name")
        if table.props.get("billingMode", "PROVISIONED") != "PROVISIONED" or not known(name):
            continue
        has = scaled.get(f"table/{name}", set())
        missing = [
            what
            for kind, what in ((SCALING_TARGET, "scalable target"), (SCALING_POLICY, "policy"))
            if kind not in has
        ]
        if missing:
            out.append(
                Violation(
                    "table-capacity",
                    table.name,
                    f"PROVISIONED table {name} has no write autoscaling {' or '.join(missing)}"
                    " (fixed capacity throttles a burst into the writers' DLQ); use"
                    " PAY_PER_REQUEST or scale WriteCapacityUnits",
                )
            )
    return out


CHECKS: dict[str, tuple[str, Callable[[Sequence[Resource]], list[Violation]]]] = {
    "async-failure-destination": (
        "Every asynchronously invoked function has a DLQ or an OnFailure destination.",
        check_async_failure_destination,
    ),
    "sqs-source-redrive": (
        "Every SQS event source has a redrive policy with a maxReceiveCount on its queue.",
        check_sqs_redrive,
    ),
    "visibility-timeout-6x": (
        "An SQS source's visibility timeout is at least 6x its function's timeout.",
        check_visibility_timeout,
    ),
    "batch-item-failures": (
        "SQS and stream mappings with batches > 1 report batch item failures.",
        check_batch_item_failures,
    ),
    "stream-bisect": (
        "Stream mappings bisect a failing batch.",
        check_stream_bisect,
    ),
    "stream-on-failure": (
        "Stream mappings have an OnFailure destination.",
        check_stream_on_failure,
    ),
    "stream-finite-retries": (
        "Stream mappings have finite retries or a finite maximum record age.",
        check_stream_finite_retries,
    ),
    "dlq-alarm-on-one": (
        "Every DLQ has an alarm on its own depth that fires on one message.",
        check_dlq_alarm,
    ),
    "dlq-alarm-actions": (
        "Every alarm on a DLQ has enabled actions that notify an SNS topic.",
        check_dlq_alarm_actions,
    ),
    "event-target-dlq": (
        "Every EventBridge target has a dead-letter queue.",
        check_event_target_dlq,
    ),
    "event-target-retry-policy": (
        "Every EventBridge target sets its retry policy.",
        check_event_target_retry_policy,
    ),
    "subscription-dlq": (
        "Every SNS subscription to a queue or a function has a DLQ.",
        check_subscription_dlq,
    ),
    "table-capacity": (
        "A PROVISIONED DynamoDB table autoscales its write capacity.",
        check_table_capacity,
    ),
    "iam-no-wildcards": (
        "No IAM action or resource wildcard beyond what a pattern needs.",
        check_iam_wildcards,
    ),
    "iam-no-admin-policies": (
        "No AWS managed administrator, power-user or full-access policy on a role.",
        check_admin_policies,
    ),
    "iam-grants-in-components": (
        "A role's inline policies and attachments are made by a pattern component.",
        check_grants_in_components,
    ),
    "queue-topic-policy-scoped": (
        "No queue or topic policy allows Principal '*' without a source condition.",
        check_resource_policy_sources,
    ),
}


def check_all(items: Iterable[Any]) -> list[Violation]:
    resources = resources_from(items)
    return [v for _, (_, check) in CHECKS.items() for v in check(resources)]
