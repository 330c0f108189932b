"""A function's resource-based policy, checked when an AWS service invokes it.

AWS (Lambda developer guide, "Using resource-based policies for Lambda"; SNS, EventBridge
and API Gateway guides): SNS, EventBridge and API Gateway may invoke a function only when
its resource policy allows their service principal `lambda:InvokeFunction`, with the
statement's conditions (AWS:SourceArn, AWS:SourceAccount) met by the invoking topic, rule
or API method. Without that grant the invoke is refused with AccessDeniedException, and the
service takes its own failure path: SNS sends the message to the subscription's DLQ (a
client error, not retried), EventBridge to the target's DLQ with ERROR_CODE NO_PERMISSIONS
(not retried), API Gateway answers 500.

Evaluated here: Allow and Deny statements, Principal {"Service": ...} or "*", Action
`lambda:InvokeFunction` / `lambda:*` / `*` (string or list), and the condition operators
ArnLike, ArnEquals, StringEquals, StringLike on AWS:SourceArn and AWS:SourceAccount. Any
other condition operator or key cannot be judged here: the statement is treated as not
matching (logged), so a grant is never assumed that AWS might not give. Written by hand:
moto stores the policy but evaluates no resource policy, and no library evaluates IAM.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from localcloud.lambda_.types import LambdaApiError

logger = logging.getLogger(__name__)

__all__ = ["AccessDenied", "allows", "check_service_invoke"]

INVOKE_ACTIONS = frozenset({"lambda:invokefunction", "lambda:*", "*"})
_OPERATORS = {"arnlike", "arnequals", "stringequals", "stringlike"}
_KEYS = {"aws:sourcearn", "aws:sourceaccount"}


class AccessDenied(LambdaApiError):
    status = 403
    code = "AccessDeniedException"


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


def _action_matches(action: Any) -> bool:
    return any(str(a).lower() in INVOKE_ACTIONS for a in _as_list(action))


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
    *,
    source_arn: str | None,
    source_account: str | None,
) -> bool:
    """True when an Allow statement grants `service` lambda:InvokeFunction and no Deny does."""
    context = {"aws:sourcearn": source_arn, "aws:sourceaccount": source_account}
    allowed = False
    for st in statements:
        if not isinstance(st, dict):
            continue
        if not (
            _principal_matches(st.get("Principal"), service) and _action_matches(st.get("Action"))
        ):
            continue
        if not _condition_holds(st.get("Condition"), context):
            continue
        if st.get("Effect") == "Deny":
            return False
        if st.get("Effect") == "Allow":
            allowed = True
    return allowed


def check_service_invoke(
    get_policy: Callable[[], str | None],
    function: str,
    service: str,
    *,
    source_arn: str | None,
    source_account: str | None,
) -> None:
    """Raise AccessDenied unless the function's policy lets `service` invoke it from
    `source_arn`. `get_policy` returns the policy JSON, or None when the function has none."""
    text = get_policy()
    statements = []
    if text:
        try:
            statements = _as_list(json.loads(text).get("Statement"))
        except (ValueError, AttributeError):
            statements = []
    if not allows(statements, service, source_arn=source_arn, source_account=source_account):
        raise AccessDenied(
            f"The resource policy of {function} does not allow {service} to invoke it"
            f" (lambda:InvokeFunction from {source_arn})"
        )


def policy_reader(
    client: Any, function: str, qualifier: str | None = None
) -> Callable[[], str | None]:
    """A get_policy for check_service_invoke over a boto3 Lambda client of the cloud itself."""

    def read() -> str | None:
        kwargs: dict[str, Any] = {"FunctionName": function}
        if qualifier:
            kwargs["Qualifier"] = qualifier
        try:
            return str(client.get_policy(**kwargs)["Policy"])
        except client.exceptions.ResourceNotFoundException:
            # No policy at all, or no such function: the invoke itself then answers 404.
            return None

    return read
