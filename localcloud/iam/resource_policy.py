"""Resource-based policies (a Lambda function's, an SQS queue's), as AWS judges a call made
by an AWS service principal: SNS, EventBridge, API Gateway.

Evaluated: Allow and Deny statements, Principal {"Service": ...} or "*", the Action (string
or list, with `service:*` and `*`), and the condition operators ArnLike, ArnEquals,
StringEquals, StringLike on AWS:SourceArn and AWS:SourceAccount. Any other condition
operator or key cannot be judged here: the statement is treated as not matching (logged),
so a grant is never assumed that AWS might not give. Written by hand: moto stores policies
but evaluates none, and no library evaluates IAM policies.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["SEND_MESSAGE", "allows", "queue_allows", "statements_of"]

_OPERATORS = {"arnlike", "arnequals", "stringequals", "stringlike"}
_KEYS = {"aws:sourcearn", "aws:sourceaccount"}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _principal_matches(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return service in _as_list(principal.get("Service")) or "*" in _as_list(
            principal.get("AWS")
        )
    return False


def _action_matches(action: Any, wanted: str) -> bool:
    service = wanted.split(":", 1)[0]
    accepted = {wanted.lower(), f"{service}:*".lower(), "*"}
    return any(str(a).lower() in accepted for a in _as_list(action))


def _condition_holds(condition: Any, context: dict[str, str | None]) -> bool:
    if not condition:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, pairs in condition.items():
        op = str(operator).lower()
        if op not in _OPERATORS or not isinstance(pairs, dict):
            logger.warning("resource policy condition %r is not evaluated locally", operator)
            return False
        for key, wanted in pairs.items():
            if str(key).lower() not in _KEYS:
                logger.warning("resource policy condition key %r is not evaluated locally", key)
                return False
            actual = context.get(str(key).lower())
            if actual is None:
                return False
            patterns = [str(w) for w in _as_list(wanted)]
            if op in ("arnlike", "stringlike"):
                # IAM wildcards: * any run of characters, ? one character (case-sensitive).
                if not any(fnmatch.fnmatchcase(actual, p) for p in patterns):
                    return False
            elif actual not in patterns:
                return False
    return True


def allows(
    statements: Iterable[dict[str, Any]],
    service: str,
    action: str,
    *,
    source_arn: str | None,
    source_account: str | None,
) -> bool:
    """True when an Allow statement grants `service` the `action` and no Deny does."""
    context = {"aws:sourcearn": source_arn, "aws:sourceaccount": source_account}
    allowed = False
    for st in statements:
        if not isinstance(st, dict):
            continue
        if not (
            _principal_matches(st.get("Principal"), service)
            and _action_matches(st.get("Action"), action)
        ):
            continue
        if not _condition_holds(st.get("Condition"), context):
            continue
        if st.get("Effect") == "Deny":
            return False
        if st.get("Effect") == "Allow":
            allowed = True
    return allowed


def statements_of(policy: str | None) -> list[dict[str, Any]]:
    """The statements of a policy document (JSON text); [] for none or a malformed one."""
    if not policy:
        return []
    try:
        return [st for st in _as_list(json.loads(policy).get("Statement")) if isinstance(st, dict)]
    except (ValueError, AttributeError):
        return []


SEND_MESSAGE = "sqs:SendMessage"


def queue_allows(
    sqs: Any, queue_url: str, service: str, *, source_arn: str | None, source_account: str | None
) -> bool:
    """Does the queue's policy let `service` send to it from `source_arn`? (SNS and EventBridge
    write to a target, a subscription DLQ or a target DLQ only with that grant.) The policy
    is attached to this queue, so a statement's Resource is not compared again."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])
    policy = (attrs.get("Attributes") or {}).get("Policy")
    return allows(
        statements_of(policy),
        service,
        SEND_MESSAGE,
        source_arn=source_arn,
        source_account=source_account,
    )
