"""The grants on the failure path, as mutation operators find and remove them.

Lambda writes a failed async event to the function's DLQ and OnFailure destination, and an
event source mapping polls its queue or stream and sends a stream's failure records, all
with the function's execution role; SNS and EventBridge write to a subscription or target
DLQ only where the queue's policy lets their service principal in. A grant missing from any
of these is a DLQ that stays empty on AWS: the events are lost without a sound.

The predicates find the grant in the recorded graph (its ARNs are the mocks'), and name the
target by its logical name; the mutation resolves the deployed ARN through the registry, so
the grant removed is the one the deploy would create. `checked_by` names the resources
Lambda refuses to configure without the grant (CreateFunction with a DeadLetterConfig,
PutFunctionEventInvokeConfig, CreateEventSourceMapping): a fresh deploy of the mutant fails
there, as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pulumi

from app.mutate.graph import EVENT_TARGET, QUEUE, SUBSCRIPTION, Graph, Node, dig, loads

if TYPE_CHECKING:
    from app.mutate.operators import Registry

__all__ = [
    "async_send_grants",
    "dlq_policy_for",
    "drop_service_statements",
    "mapping_read_grant",
    "revoke_grants",
    "revoked",
    "stream_on_failure_grant",
]

Params = dict[str, Any]
SEND = {"sqs": "sqs:SendMessage", "sns": "sns:Publish"}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _grants(document: Any, action: str, resource: str) -> bool:
    """Does an Allow statement name `action` and `resource` explicitly (no wildcards: a
    wildcard grant is not this operator's to split)?"""
    for st in _as_list(dig(document, "Statement")):
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        actions = [str(a).lower() for a in _as_list(st.get("Action"))]
        if action.lower() in actions and resource in _as_list(st.get("Resource")):
            return True
    return False


def revoked(document: dict[str, Any], action: str, resource: str) -> dict[str, Any]:
    """`document` without `action` on `resource`: each statement granting both keeps its
    other resources, and its other actions stay granted on `resource`."""
    out: list[Any] = []
    for st in _as_list(document.get("Statement")):
        actions = _as_list(st.get("Action")) if isinstance(st, dict) else []
        resources = _as_list(st.get("Resource")) if isinstance(st, dict) else []
        if (
            not isinstance(st, dict)
            or st.get("Effect") != "Allow"
            or action.lower() not in [str(a).lower() for a in actions]
            or resource not in resources
        ):
            out.append(st)
            continue
        others = [r for r in resources if r != resource]
        if others:
            out.append({**st, "Resource": others})
        rest = [a for a in actions if str(a).lower() != action.lower()]
        if rest:
            out.append({**st, "Action": rest, "Resource": [resource]})
    return {**document, "Statement": out}


def _target(graph: Graph, arn: Any) -> tuple[str, str] | None:
    node = graph.by_arn(arn)
    return (node.type, node.name) if node is not None else None


def _granted(graph: Graph, policy: Node, arns: list[Any]) -> list[list[str]]:
    """[action, target type, target name] for each target this policy grants Lambda's send."""
    document = loads(policy.props.get("policy"))
    found = []
    for arn in dict.fromkeys(a for a in arns if isinstance(a, str) and a):
        action = SEND.get(arn.split(":")[2]) if arn.count(":") >= 5 else None
        target = _target(graph, arn)
        if action and target and _grants(document, action, arn):
            found.append([action, *target])
    return found


# ---- predicates -------------------------------------------------------------------------
def async_send_grants(graph: Graph, node: Node) -> Params | None:
    """The role policy granting an async function's sends to its DLQ and OnFailure
    destination: all of them are removed, so the failed event has nowhere to go."""
    grants: list[list[str]] = []
    checked: list[str] = []
    for fn in graph.functions_of_role(node.props.get("role")):
        dlq = dig(fn.props, "deadLetterConfig", "targetArn")
        found = _granted(graph, node, [dlq])
        if found:
            checked.append(fn.name)
            grants += found
        for config in graph.invoke_configs_of(fn):
            destination = dig(config.props, "destinationConfig", "onFailure", "destination")
            found = _granted(graph, node, [destination])
            if found:
                checked.append(config.name)
                grants += [g for g in found if g not in grants]
    return {"grants": grants, "checked_by": checked} if grants else None


def mapping_read_grant(action: str) -> Callable[[Graph, Node], Params | None]:
    """The role policy granting an SQS mapping's `action` on its source queue."""

    def match(graph: Graph, node: Node) -> Params | None:
        document = loads(node.props.get("policy"))
        grants: list[list[str]] = []
        checked: list[str] = []
        for fn in graph.functions_of_role(node.props.get("role")):
            for mapping in graph.mappings_to(fn):
                source = str(mapping.props.get("eventSourceArn") or "")
                target = _target(graph, source)
                if (
                    source.startswith("arn:aws:sqs:")
                    and target
                    and _grants(document, action, source)
                ):
                    grants.append([action, *target])
                    checked.append(mapping.name)
        return {"grants": grants, "checked_by": checked} if grants else None

    return match


def stream_on_failure_grant(graph: Graph, node: Node) -> Params | None:
    """The role policy granting a stream mapping's send to its OnFailure destination."""
    grants: list[list[str]] = []
    checked: list[str] = []
    for fn in graph.functions_of_role(node.props.get("role")):
        for mapping in graph.mappings_to(fn):
            if not str(mapping.props.get("eventSourceArn") or "").startswith("arn:aws:kinesis:"):
                continue
            destination = dig(mapping.props, "destinationConfig", "onFailure", "destinationArn")
            found = _granted(graph, node, [destination])
            if found:
                grants += found
                checked.append(mapping.name)
    return {"grants": grants, "checked_by": checked} if grants else None


def _service_statements(document: Any, service: str) -> list[Any]:
    return [
        st
        for st in _as_list(dig(document, "Statement"))
        if isinstance(st, dict) and service in _as_list(dig(st, "Principal", "Service"))
    ]


def dlq_policy_for(service: str) -> Callable[[Graph, Node], Params | None]:
    """The queue policy of a DLQ `service` writes to (SNS: a subscription's redrive DLQ,
    EventBridge: a target's DLQ) that lets `service` in."""

    def match(graph: Graph, node: Node) -> Params | None:
        queue = graph.by_prop(QUEUE, "url", node.props.get("queueUrl"))
        if queue is None:
            return None
        arn = queue.props.get("arn")
        if service == "sns.amazonaws.com":
            dlqs = {
                dig(loads(s.props.get("redrivePolicy")), "deadLetterTargetArn")
                for s in graph.of_type(SUBSCRIPTION)
            }
        else:
            dlqs = {dig(t.props, "deadLetterConfig", "arn") for t in graph.of_type(EVENT_TARGET)}
        if arn not in dlqs or not _service_statements(loads(node.props.get("policy")), service):
            return None
        return {"service": service}

    return match


# ---- mutations --------------------------------------------------------------------------
def revoke_grants(props: dict[str, Any], params: Params, registry: Registry) -> dict[str, Any]:
    """The role policy without each [action, target type, target name] of params["grants"]."""
    grants = params["grants"]
    arns = [registry.get(type_, name).arn for _, type_, name in grants]

    def edit(got: list[Any]) -> str:
        document = json.loads(got[0])
        for (action, _, _), arn in zip(grants, got[1:], strict=True):
            document = revoked(document, action, arn)
        return json.dumps(document)

    return {**props, "policy": pulumi.Output.all(props["policy"], *arns).apply(edit)}


def drop_service_statements(
    props: dict[str, Any], params: Params, registry: Registry
) -> dict[str, Any]:
    """The queue policy without its statements for params["service"]. A policy left empty
    keeps the owner's own statement (what SQS allows without a policy), since SQS does not
    take a policy without statements."""
    service = params["service"]

    def edit(text: str) -> str:
        document = json.loads(text)
        removed = _service_statements(document, service)
        kept = [st for st in _as_list(document.get("Statement")) if st not in removed]
        if not kept:
            resource = str(_as_list(removed[0].get("Resource"))[0])
            kept = [
                {
                    "Sid": "Owner",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{resource.split(':')[4]}:root"},
                    "Action": "sqs:*",
                    "Resource": resource,
                }
            ]
        return json.dumps({**document, "Statement": kept})

    return {**props, "policy": pulumi.Output.from_input(props["policy"]).apply(edit)}
