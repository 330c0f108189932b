"""Resource-based policies (a Lambda function's, an SQS queue's), as AWS judges a call made
by an AWS service principal: SNS, EventBridge, API Gateway.

Evaluated: Allow and Deny statements, Principal {"Service": ...} or "*", the Action, and
the conditions localcloud/iam/statements.py judges, on AWS:SourceArn and
AWS:SourceAccount. A condition that cannot be judged here is logged; its Allow grants
nothing and its Deny applies, so a grant is never assumed that AWS might not give.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from localcloud.iam.statements import (
    Unjudged,
    action_matches,
    as_list,
    condition_holds,
    statements_of,
)

logger = logging.getLogger(__name__)

__all__ = ["SEND_MESSAGE", "allows", "queue_allows", "statements_of"]


def _principal_matches(principal: Any, service: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return service in as_list(principal.get("Service")) or "*" in as_list(principal.get("AWS"))
    return False


def allows(
    statements: Iterable[dict[str, Any]],
    service: str,
    action: str,
    *,
    source_arn: str | None,
    source_account: str | None,
) -> bool:
    """True when an Allow statement grants `service` the `action` and no Deny does."""
    # Service-to-service calls travel over TLS on AWS.
    context = {
        "aws:sourcearn": source_arn,
        "aws:sourceaccount": source_account,
        "aws:securetransport": "true",
    }
    allowed = False
    for st in statements:
        if not isinstance(st, dict):
            continue
        if not (
            _principal_matches(st.get("Principal"), service)
            and action_matches(st.get("Action"), action)
        ):
            continue
        deny = st.get("Effect") == "Deny"
        try:
            holds = condition_holds(st.get("Condition"), context)
        except Unjudged as exc:
            logger.warning("resource policy %s is not evaluated locally", exc)
            holds = deny
        if not holds:
            continue
        if deny:
            return False
        if st.get("Effect") == "Allow":
            allowed = True
    return allowed


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
