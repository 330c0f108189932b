"""The mutation catalog: known failure-handling bugs, each as a Pulumi transformation.

An operator names the resource types it applies to and a predicate over a resource's
recorded properties (camelCase, resolved; see graph.py) that says where the bug can be put
and with which parameters. Its `mutate` then rewrites the resource's inputs at deploy time
(a stack transformation sees the Python input names, snake_case, whose values may still be
Outputs). The program's source is never edited, and no operator knows this program's
resource names: a fork's own queues, alarms and mappings are matched the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from app.mutate import grants
from app.mutate.graph import (
    ALARM,
    EVENT_TARGET,
    FUNCTION,
    INVOKE_CONFIG,
    MAPPING,
    QUEUE,
    QUEUE_POLICY,
    ROLE_POLICY,
    STATE_MACHINE,
    SUBSCRIPTION,
    TABLE,
    USAGE_PLAN,
    Graph,
    Node,
    dig,
    loads,
)
from chaos.declared import REDRIVE_SOURCES
from components.limits import VISIBILITY_FACTOR

__all__ = ["CATALOG", "Operator", "Registry", "by_id"]

IDEMPOTENCY_DISABLED = "POWERTOOLS_IDEMPOTENCY_DISABLED"
Params = dict[str, Any]


class Registry:
    """A stack transformation that keeps every resource object by (type, logical name), so
    a mutation can point one resource at another (an alarm at a different queue)."""

    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], Any] = {}

    def __call__(self, args: Any) -> None:
        self.resources[(args.type_, args.name)] = args.resource
        return None

    def get(self, type_: str, name: str) -> Any:
        try:
            return self.resources[(type_, name)]
        except KeyError:
            raise LookupError(
                f"{type_} {name!r} was not constructed before the resource that refers to it"
            ) from None


@dataclass(frozen=True)
class Operator:
    id: str
    description: str
    types: tuple[str, ...]
    match: Callable[[Graph, Node], Params | None]
    """Where the bug can go: parameters for `mutate`, or None when the node does not fit."""
    mutate: Callable[[dict[str, Any], Params, Registry], dict[str, Any]]
    """The transformation: snake_case inputs -> mutated inputs."""
    also_patterns: tuple[str, ...] = ()
    """Patterns beyond the mutated component's own whose experiments exercise the bug."""
    seed_bug: int | None = None

    def params(self, graph: Graph, node: Node) -> Params | None:
        return self.match(graph, node) if node.type in self.types else None


# ---- helpers over Outputs ------------------------------------------------------------
def _json_edit(value: Any, edit: Callable[[Any], Any]) -> pulumi.Output[str]:
    """Apply `edit` to a JSON document given as a string or an Output of one."""
    return pulumi.Output.from_input(value).apply(lambda text: json.dumps(edit(json.loads(text))))


def _env_edit(environment: Any, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    variables = (
        environment.get("variables")
        if isinstance(environment, dict)
        else getattr(environment, "variables", None)
    )
    merged = pulumi.Output.from_input(variables or {}).apply(lambda v: edit(dict(v)))
    return aws.lambda_.FunctionEnvironmentArgs(variables=merged)


def _without(props: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {**props, **{k: None for k in keys}}


# ---- predicates ------------------------------------------------------------------------
def _fires_on_one(node: Node) -> bool:
    p = node.props
    return p.get("comparisonOperator") == "GreaterThanOrEqualToThreshold" and p.get(
        "threshold"
    ) in (1, 1.0)


def _dlq_alarm(graph: Graph, node: Node) -> Params | None:
    return {} if graph.dlq_alarm_queue(node) is not None else None


def _dlq_alarm_fires_on_one(graph: Graph, node: Node) -> Params | None:
    return {} if _dlq_alarm(graph, node) is not None and _fires_on_one(node) else None


def _dlq_alarm_with_actions(graph: Graph, node: Node) -> Params | None:
    if _dlq_alarm(graph, node) is None or not node.props.get("alarmActions"):
        return None
    return {}


def _dlq_alarm_of_redrive(graph: Graph, node: Node) -> Params | None:
    dlq = graph.dlq_alarm_queue(node)
    source = graph.redrive_source(dlq) if dlq is not None else None
    return {"source": source.name} if source is not None else None


def _mapped_queue(graph: Graph, node: Node) -> list[Node]:
    """The mappings that read this queue (empty when no Lambda consumes it)."""
    return graph.mappings_from(node.props.get("arn"))


def _redrive(node: Node) -> Any:
    return loads(node.props.get("redrivePolicy"))


def _buffer_with_redrive(graph: Graph, node: Node) -> Params | None:
    # The flow-control buffer: an EventBridge target writes it and a mapping reads it.
    if _redrive(node) and _mapped_queue(graph, node) and graph.event_targets_to(node.props["arn"]):
        return {}
    return None


def _source_queue_with_redrive(graph: Graph, node: Node) -> Params | None:
    if (
        _redrive(node)
        and _mapped_queue(graph, node)
        and not graph.event_targets_to(node.props["arn"])
    ):
        return {}
    return None


def _max_receive(graph: Graph, node: Node) -> Params | None:
    count = dig(_redrive(node), "maxReceiveCount")
    return {"to": int(count) + 1} if isinstance(count, int | float) else None


def _visibility_6x(graph: Graph, node: Node) -> Params | None:
    timeouts = []
    for mapping in _mapped_queue(graph, node):
        fn = graph.function(mapping.props.get("functionName"))
        if fn is not None:
            timeouts.append(int(fn.props.get("timeout") or 3))
    visibility = node.props.get("visibilityTimeoutSeconds")
    if not timeouts or not isinstance(visibility, int | float):
        return None
    timeout = max(timeouts)
    # Lambda accepts a mapping on a queue whose visibility is at least the function timeout;
    # the bug is the gap between that and 6x (a retried batch overlaps the next receive).
    return {"to": timeout} if visibility >= VISIBILITY_FACTOR * timeout else None


def _sqs_mapping_batch_failures(graph: Graph, node: Node) -> Params | None:
    source = str(node.props.get("eventSourceArn") or "")
    if source.startswith("arn:aws:sqs:") and "ReportBatchItemFailures" in (
        node.props.get("functionResponseTypes") or []
    ):
        return {}
    return None


def _stream_mapping(node: Node) -> bool:
    return str(node.props.get("eventSourceArn") or "").startswith("arn:aws:kinesis:")


def _bisect_on(graph: Graph, node: Node) -> Params | None:
    return {} if _stream_mapping(node) and node.props.get("bisectBatchOnFunctionError") else None


def _stream_retries(graph: Graph, node: Node) -> Params | None:
    n = node.props.get("maximumRetryAttempts")
    if not _stream_mapping(node) or not isinstance(n, int | float) or n < 0:
        return None
    return {"to": int(n) + 1}


def _async_retries(graph: Graph, node: Node) -> Params | None:
    n = node.props.get("maximumRetryAttempts")
    if not isinstance(n, int | float):
        return None
    return {"to": int(n) - 1 if n > 0 else 1}


def _async_on_failure(graph: Graph, node: Node) -> Params | None:
    return {} if dig(node.props, "destinationConfig", "onFailure", "destination") else None


def _function_dlq(graph: Graph, node: Node) -> Params | None:
    return {} if dig(node.props, "deadLetterConfig", "targetArn") else None


def _definition(node: Node) -> dict[str, Any]:
    doc = loads(node.props.get("definition"))
    return doc if isinstance(doc, dict) else {}


def _sfn_retry(graph: Graph, node: Node) -> Params | None:
    states = _definition(node).get("States") or {}
    retried = any(r.get("MaxAttempts", 3) > 0 for s in states.values() for r in s.get("Retry", []))
    return {} if retried else None


def _sfn_catch(graph: Graph, node: Node) -> Params | None:
    states = _definition(node).get("States") or {}
    return {} if any(s.get("Catch") for s in states.values()) else None


def _target_dlq(graph: Graph, node: Node) -> Params | None:
    return {} if dig(node.props, "deadLetterConfig", "arn") else None


def _target_retries(graph: Graph, node: Node) -> Params | None:
    n = dig(node.props, "retryPolicy", "maximumRetryAttempts")
    return {"to": int(n) + 1} if isinstance(n, int | float) else None


def _lambda_subscription_dlq(graph: Graph, node: Node) -> Params | None:
    if node.props.get("protocol") == "lambda" and node.props.get("redrivePolicy"):
        return {}
    return None


def _filtered_subscription(graph: Graph, node: Node) -> Params | None:
    """A filtered subscription, with the union of every filter on its topic: the policy
    that lets this subscriber receive its siblings' messages too."""
    own = loads(node.props.get("filterPolicy"))
    if not isinstance(own, dict) or not own:
        return None
    union: dict[str, list[Any]] = {}
    for sub in sorted(graph.of_type(SUBSCRIPTION), key=lambda n: n.name):  # stable order
        policy = loads(sub.props.get("filterPolicy"))
        if sub.props.get("topic") != node.props.get("topic") or not isinstance(policy, dict):
            continue
        for key, values in policy.items():
            union.setdefault(key, [])
            union[key] += [v for v in values if v not in union[key]]
    return {"to": json.dumps(union)} if union != own else None


def _redelivered(graph: Graph, node: Node) -> bool:
    """Whether the function's trigger redelivers an event: a queue mapping (visibility
    timeout) or async invoke (retries), where idempotency is what stops a second effect."""
    refs = {node.props.get(k) for k in ("arn", "name")} - {None}
    return any(m.props.get("functionName") in refs for m in graph.of_type(MAPPING, INVOKE_CONFIG))


def _idempotent_function(graph: Graph, node: Node) -> Params | None:
    env = dig(node.props, "environment", "variables") or {}
    if env.get("IDEMPOTENCY_TABLE") and IDEMPOTENCY_DISABLED not in env:
        return {} if _redelivered(graph, node) else None
    return None


def _component_on_demand_table(graph: Graph, node: Node) -> Params | None:
    # A table a function of the same component writes (its name is in the function's env):
    # the shared ledger and idempotency tables sit in a component of their own.
    if node.props.get("billingMode") != "PAY_PER_REQUEST":
        return None
    component = graph.top_component(node)
    if component is None:
        return None
    name = node.props.get("name")
    for fn in graph.descendants(component):
        env = dig(fn.props, "environment", "variables") or {}
        if fn.type == FUNCTION and name in env.values():
            return {}
    return None


def _throttled_plan(graph: Graph, node: Node) -> Params | None:
    return {} if node.props.get("throttleSettings") else None


# A limit no caller reaches: the plan no longer protects the API (set, not removed, since the
# local cloud's API Gateway (moto) cannot clear a usage plan's throttle).
UNTHROTTLED_RATE = 10_000.0
UNTHROTTLED_BURST = 5_000


def _redriver(graph: Graph, node: Node) -> Params | None:
    env = dig(node.props, "environment", "variables") or {}
    sources = loads(env.get(REDRIVE_SOURCES))
    return {} if isinstance(sources, dict) and sources else None


# ---- mutations -------------------------------------------------------------------------
def _sfn_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[..., dict[str, Any]]:
    def mutate(props: dict[str, Any], params: Params, registry: Registry) -> dict[str, Any]:
        def change(doc: dict[str, Any]) -> dict[str, Any]:
            for state in (doc.get("States") or {}).values():
                edit(state)
            return doc

        return {**props, "definition": _json_edit(props["definition"], change)}

    return mutate


def _more_retries(state: dict[str, Any]) -> None:
    for retrier in state.get("Retry", []):
        if retrier.get("MaxAttempts", 3) > 0:
            retrier["MaxAttempts"] = retrier.get("MaxAttempts", 3) + 1


def _no_catch(state: dict[str, Any]) -> None:
    state.pop("Catch", None)


def _alarm_on_source(props: dict[str, Any], params: Params, registry: Registry) -> dict[str, Any]:
    source = registry.get(QUEUE, params["source"])
    dims = pulumi.Output.all(props.get("dimensions") or {}, source.name).apply(
        lambda got: {**got[0], "QueueName": got[1]}
    )
    return {**props, "dimensions": dims}


def _set(**values: Any) -> Callable[..., dict[str, Any]]:
    return lambda props, params, registry: {**props, **values}


def _set_param(key: str) -> Callable[..., dict[str, Any]]:
    return lambda props, params, registry: {**props, key: params["to"]}


def _drop(*keys: str) -> Callable[..., dict[str, Any]]:
    return lambda props, params, registry: _without(props, *keys)


def _max_receive_to(props: dict[str, Any], params: Params, registry: Registry) -> dict[str, Any]:
    to = params["to"]
    return {
        **props,
        "redrive_policy": _json_edit(
            props["redrive_policy"], lambda d: {**d, "maxReceiveCount": to}
        ),
    }


def _target_retries_to(props: dict[str, Any], params: Params, registry: Registry) -> dict[str, Any]:
    policy = props.get("retry_policy")
    age_key = "maximum_event_age_in_seconds"
    age = policy.get(age_key) if isinstance(policy, dict) else getattr(policy, age_key, None)
    retry = aws.cloudwatch.EventTargetRetryPolicyArgs(
        maximum_retry_attempts=params["to"], maximum_event_age_in_seconds=age
    )
    return {**props, "retry_policy": retry}


def _idempotency_off(props: dict[str, Any], params: Params, registry: Registry) -> dict[str, Any]:
    env = _env_edit(props.get("environment"), lambda v: {**v, IDEMPOTENCY_DISABLED: "true"})
    return {**props, "environment": env}


def _no_redrive_sources(props: dict[str, Any], params: Params, registry: Registry) -> dict:
    env = _env_edit(props.get("environment"), lambda v: {**v, REDRIVE_SOURCES: "{}"})
    return {**props, "environment": env}


CATALOG: tuple[Operator, ...] = (
    Operator(
        "dlq-alarm-gt-1",
        "DLQ depth alarm GreaterThanThreshold 1: one dead message never fires it (seed bug 1)",
        (ALARM,),
        _dlq_alarm_fires_on_one,
        _set(comparison_operator="GreaterThanThreshold", threshold=1),
        seed_bug=1,
    ),
    Operator(
        "buffer-no-redrive",
        "the EventBridge -> SQS -> Lambda buffer has no redrive policy (seed bug 2)",
        (QUEUE,),
        _buffer_with_redrive,
        _drop("redrive_policy"),
        seed_bug=2,
    ),
    Operator(
        "queue-no-redrive",
        "a queue a Lambda mapping reads has no redrive policy: poison is retried forever",
        (QUEUE,),
        _source_queue_with_redrive,
        _drop("redrive_policy"),
    ),
    Operator(
        "max-receive-count-plus-1",
        "redrive maxReceiveCount one more than the stack declares",
        (QUEUE,),
        _max_receive,
        _max_receive_to,
    ),
    Operator(
        "visibility-below-6x",
        "mapped queue's visibility timeout = the function timeout (valid, but < 6x)",
        (QUEUE,),
        _visibility_6x,
        _set_param("visibility_timeout_seconds"),
    ),
    Operator(
        "mapping-no-batch-failures",
        "SQS mapping without ReportBatchItemFailures: one poison message fails its batch",
        (MAPPING,),
        _sqs_mapping_batch_failures,
        _set(function_response_types=[]),
    ),
    Operator(
        "kinesis-bisect-off",
        "Kinesis mapping with BisectBatchOnFunctionError off",
        (MAPPING,),
        _bisect_on,
        _set(bisect_batch_on_function_error=False),
    ),
    Operator(
        "kinesis-retries-plus-1",
        "Kinesis mapping MaximumRetryAttempts one more than the stack declares",
        (MAPPING,),
        _stream_retries,
        _set_param("maximum_retry_attempts"),
    ),
    Operator(
        "async-retries-changed",
        "async invoke MaximumRetryAttempts one fewer than declared (2 -> 1)",
        (INVOKE_CONFIG,),
        _async_retries,
        _set_param("maximum_retry_attempts"),
    ),
    Operator(
        "async-no-on-failure",
        "async invoke config without its OnFailure destination",
        (INVOKE_CONFIG,),
        _async_on_failure,
        _drop("destination_config"),
    ),
    Operator(
        "function-dlq-removed",
        "function without its dead-letter queue (DeadLetterConfig)",
        (FUNCTION,),
        _function_dlq,
        _drop("dead_letter_config"),
    ),
    Operator(
        "dlq-alarm-watches-source",
        "DLQ depth alarm watches the source queue instead of its DLQ (dimension swap)",
        (ALARM,),
        _dlq_alarm_of_redrive,
        _alarm_on_source,
    ),
    Operator(
        "alarm-no-actions",
        "DLQ depth alarm with no alarm actions: it fires, nobody is told",
        (ALARM,),
        _dlq_alarm_with_actions,
        _set(alarm_actions=[]),
    ),
    Operator(
        "sfn-retry-attempts-plus-1",
        "Step Functions Retry MaxAttempts one more than declared (definition JSON)",
        (STATE_MACHINE,),
        _sfn_retry,
        _sfn_edit(_more_retries),
    ),
    Operator(
        "sfn-catch-removed",
        "Step Functions task without its Catch: a failure ends the execution uncompensated",
        (STATE_MACHINE,),
        _sfn_catch,
        _sfn_edit(_no_catch),
    ),
    Operator(
        "eventbridge-target-no-dlq",
        "EventBridge target without its dead-letter queue",
        (EVENT_TARGET,),
        _target_dlq,
        _drop("dead_letter_config"),
    ),
    Operator(
        "eventbridge-retries-plus-1",
        "EventBridge target RetryPolicy MaximumRetryAttempts one more than declared",
        (EVENT_TARGET,),
        _target_retries,
        _target_retries_to,
    ),
    Operator(
        "sns-subscription-no-dlq",
        "SNS -> Lambda subscription without its redrive (subscription DLQ)",
        (SUBSCRIPTION,),
        _lambda_subscription_dlq,
        _drop("redrive_policy"),
    ),
    Operator(
        # Broadened rather than removed: the same bug (the subscriber gets every message)
        # without clearing the attribute, which the local cloud's SNS (moto) cannot undo.
        "fan-out-filter-broadened",
        "fan-out subscription whose filter accepts its siblings' messages too",
        (SUBSCRIPTION,),
        _filtered_subscription,
        _set_param("filter_policy"),
    ),
    Operator(
        "idempotency-disabled",
        f"{IDEMPOTENCY_DISABLED}=true on a function: a redelivered event runs twice",
        (FUNCTION,),
        _idempotent_function,
        _idempotency_off,
    ),
    Operator(
        "table-provisioned-no-autoscaling",
        "a component's on-demand table made PROVISIONED 1/1 without autoscaling",
        (TABLE,),
        _component_on_demand_table,
        _set(billing_mode="PROVISIONED", read_capacity=1, write_capacity=1),
    ),
    Operator(
        "usage-plan-unthrottled",
        "API usage plan throttle raised out of reach: the slow API is not protected",
        (USAGE_PLAN,),
        _throttled_plan,
        _set(
            throttle_settings=aws.apigateway.UsagePlanThrottleSettingsArgs(
                rate_limit=UNTHROTTLED_RATE, burst_limit=UNTHROTTLED_BURST
            )
        ),
        # The pipelines are the slow API's callers; their experiments load it.
        also_patterns=("event_pipeline", "event_pipeline_flow"),
    ),
    Operator(
        "redriver-no-sources",
        f"DLQ redriver deployed with an empty {REDRIVE_SOURCES} map",
        (FUNCTION,),
        _redriver,
        _no_redrive_sources,
    ),
    # Grants on the failure path (app/mutate/grants.py). Lambda refuses to configure a DLQ,
    # a destination or a mapping the role cannot serve, so a fresh deploy fails; on a
    # deployed stack the same `up` only rewrites the role's policy, as a user tightening it
    # later would, and the events are lost at run time.
    Operator(
        "async-send-grant-removed",
        "async function's role without sqs:SendMessage on its DLQ and OnFailure queue:"
        " a failed event has nowhere to go",
        (ROLE_POLICY,),
        grants.async_send_grants,
        grants.revoke_grants,
    ),
    Operator(
        "sqs-mapping-receive-grant-removed",
        "queue consumer's role without sqs:ReceiveMessage on its source queue:"
        " the mapping reads nothing",
        (ROLE_POLICY,),
        grants.mapping_read_grant("sqs:ReceiveMessage"),
        grants.revoke_grants,
    ),
    Operator(
        "sqs-mapping-delete-grant-removed",
        "queue consumer's role without sqs:DeleteMessage on its source queue:"
        " processed messages come back and end in the DLQ",
        (ROLE_POLICY,),
        grants.mapping_read_grant("sqs:DeleteMessage"),
        grants.revoke_grants,
    ),
    Operator(
        "stream-on-failure-grant-removed",
        "stream processor's role without sqs:SendMessage on its OnFailure queue:"
        " discarded records leave no pointer",
        (ROLE_POLICY,),
        grants.stream_on_failure_grant,
        grants.revoke_grants,
    ),
    Operator(
        "sns-dlq-policy-no-sns",
        "SNS subscription DLQ whose queue policy has no statement for sns.amazonaws.com:"
        " what SNS cannot deliver is dropped",
        (QUEUE_POLICY,),
        grants.dlq_policy_for("sns.amazonaws.com"),
        grants.drop_service_statements,
    ),
    Operator(
        "eventbridge-dlq-policy-no-events",
        "EventBridge target DLQ whose queue policy has no statement for events.amazonaws.com:"
        " what EventBridge cannot deliver is dropped",
        (QUEUE_POLICY,),
        grants.dlq_policy_for("events.amazonaws.com"),
        grants.drop_service_statements,
    ),
)


def by_id(operator_id: str) -> Operator:
    for op in CATALOG:
        if op.id == operator_id:
            return op
    raise KeyError(f"unknown operator {operator_id!r}; known: {', '.join(o.id for o in CATALOG)}")
