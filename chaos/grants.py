"""A service's grant on a resource, revoked and restored: the fault behind a hop that fails
before any function runs.

SNS, EventBridge and API Gateway reach a function only through its resource policy
(lambda:AddPermission statements for their service principal), and an SQS target or DLQ only
through the queue's policy. Revoking that grant is what a deploy that drops a Permission or
a QueuePolicy does: SNS sends the message to the subscription DLQ, EventBridge to the target
DLQ (NO_PERMISSIONS), and without those DLQs the event is gone. The prior statements are
journalled before the change, so the undo restores them exactly (safe to run twice).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from chaos.errors import aws_call
from chaos.stack import Stack

logger = logging.getLogger(__name__)

GrantOn = Literal["function", "queue"]
_SOURCE_ARN_OPERATORS = ("ArnLike", "ArnEquals")


def _service(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        service = principal.get("Service")
        return [service] if isinstance(service, str) else list(service or [])
    return []


def _function_statements(stack: Stack, function: str) -> list[dict[str, Any]]:
    lam = stack.client("lambda")
    try:
        with aws_call(function, "lambda:GetPolicy"):
            policy = lam.get_policy(FunctionName=function)["Policy"]
    except Exception as exc:  # no policy at all is an empty grant list
        if "ResourceNotFound" not in str(exc):
            raise
        return []
    return list(json.loads(policy).get("Statement") or [])


def _queue_policy(stack: Stack, queue_url: str) -> str | None:
    with aws_call(queue_url, "sqs:GetQueueAttributes"):
        resp = stack.client("sqs").get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["Policy"]
        )
    # A queue without a policy answers no Attributes at all.
    return (resp.get("Attributes") or {}).get("Policy") or None


def current(stack: Stack, on: GrantOn, target: str, principal: str) -> dict[str, Any]:
    """The prior state the journal keeps: the principal's statements (function) or the whole
    policy text (queue)."""
    if on == "function":
        statements = [s for s in _function_statements(stack, target) if principal in _service(s)]
        return {"on": on, "principal": principal, "statements": statements}
    return {"on": on, "principal": principal, "policy": _queue_policy(stack, target)}


def revoke(stack: Stack, on: GrantOn, target: str, principal: str) -> int:
    """Remove every statement granting `principal`; returns how many were removed."""
    if on == "function":
        removed = 0
        for statement in current(stack, on, target, principal)["statements"]:
            with aws_call(target, "lambda:RemovePermission"):
                stack.client("lambda").remove_permission(
                    FunctionName=target, StatementId=statement["Sid"]
                )
            removed += 1
        return removed
    policy = _queue_policy(stack, target)
    doc = json.loads(policy) if policy else {"Version": "2012-10-17", "Statement": []}
    kept = [s for s in doc.get("Statement") or [] if principal not in _service(s)]
    removed = len(doc.get("Statement") or []) - len(kept)
    if removed:
        # SQS refuses a policy with no statements: the attribute is cleared instead.
        value = json.dumps({**doc, "Statement": kept}) if kept else ""
        with aws_call(target, "sqs:SetQueueAttributes"):
            stack.client("sqs").set_queue_attributes(QueueUrl=target, Attributes={"Policy": value})
    return removed


def _condition(statement: dict[str, Any], operators: tuple[str, ...], key: str) -> str | None:
    cond = statement.get("Condition") or {}
    for op in operators:
        for name, value in (cond.get(op) or {}).items():
            if name.lower() == key.lower():
                return str(value[0] if isinstance(value, list) else value)
    return None


def restore(stack: Stack, target: str, prior: dict[str, Any]) -> bool:
    """Put the journalled grant back; False when it is already there (a no-op)."""
    if prior["on"] == "function":
        present = {s.get("Sid") for s in _function_statements(stack, target)}
        changed = False
        for statement in prior["statements"]:
            if statement.get("Sid") in present:
                continue
            kwargs: dict[str, Any] = {
                "FunctionName": target,
                "StatementId": statement["Sid"],
                "Action": statement["Action"]
                if isinstance(statement["Action"], str)
                else statement["Action"][0],
                "Principal": prior["principal"],
            }
            source_arn = _condition(statement, _SOURCE_ARN_OPERATORS, "AWS:SourceArn")
            account = _condition(statement, ("StringEquals",), "AWS:SourceAccount")
            if source_arn:
                kwargs["SourceArn"] = source_arn
            if account:
                kwargs["SourceAccount"] = account
            with aws_call(target, "lambda:AddPermission"):
                stack.client("lambda").add_permission(**kwargs)
            changed = True
        return changed
    if _queue_policy(stack, target) == prior["policy"]:
        return False
    with aws_call(target, "sqs:SetQueueAttributes"):
        stack.client("sqs").set_queue_attributes(
            QueueUrl=target, Attributes={"Policy": prior["policy"] or ""}
        )
    return True
