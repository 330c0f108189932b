"""The resource-policy invariant: a queue or topic policy lets in only the senders it names.

A statement that allows Principal `*` (or {"AWS": "*"}, or NotPrincipal) lets any account send
to the queue or publish to the topic unless a condition scopes it to a source: the confused
deputy the components guard against with aws:SourceArn (components/queues.py). AWS's own
default topic policy allows {"AWS": "*"} with AWS:SourceOwner, which passes (IAM User Guide,
"The confused deputy problem"; SQS Developer Guide, "Basic examples of Amazon SQS policies";
SNS Developer Guide, "Example cases for Amazon SNS access control").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policy.model import (
    QUEUE,
    QUEUE_POLICY,
    TOPIC,
    TOPIC_POLICY,
    Resource,
    Violation,
    allow_statements,
    as_list,
)

__all__ = ["SOURCE_CONDITION_KEYS", "check_resource_policy_sources"]

# Condition keys that tie a request to its source or its caller's organisation (IAM User Guide,
# "AWS global condition context keys"). Key names are case-insensitive.
SOURCE_CONDITION_KEYS = (
    "aws:SourceArn",
    "aws:SourceAccount",
    "aws:SourceOwner",
    "aws:PrincipalOrgID",
)
_SOURCE_KEYS = {key.lower() for key in SOURCE_CONDITION_KEYS}
_POLICY_OF = {QUEUE: "queue", QUEUE_POLICY: "queue", TOPIC: "topic", TOPIC_POLICY: "topic"}


def _anyone(stmt: Mapping[str, Any]) -> str | None:
    """How a statement lets anyone in (for the message), or None."""
    if "NotPrincipal" in stmt:  # Allow with NotPrincipal: everyone but the ones it names
        return "NotPrincipal"
    principal = stmt.get("Principal")
    if principal == "*":
        return "Principal '*'"
    if isinstance(principal, Mapping) and "*" in as_list(principal.get("AWS")):
        return "Principal {'AWS': '*'}"
    return None


def _scopes(operator: str, values: Any) -> bool:
    """Whether a condition on a source key limits who gets in.

    Null only asks that the key be present; a negated operator lets every other source in;
    ...IfExists and ForAllValues: hold when the key is absent (IAM User Guide, "IAM JSON policy
    elements: Condition operators", "Single-valued vs. multivalued context keys"); and a value of
    wildcards alone matches any source."""
    base = operator.split(":", 1)[-1]
    if (
        base == "Null"
        or "Not" in base
        or base.endswith("IfExists")
        or operator.startswith("ForAllValues:")
    ):
        return False
    values = as_list(values)
    return bool(values) and all(isinstance(v, str) and v.strip("*?") for v in values)


def _source_condition(stmt: Mapping[str, Any]) -> bool:
    condition = stmt.get("Condition")
    if not isinstance(condition, Mapping):
        return False
    return any(
        isinstance(keys, Mapping)
        and any(k.lower() in _SOURCE_KEYS and _scopes(op, v) for k, v in keys.items())
        for op, keys in condition.items()
    )


def check_resource_policy_sources(resources: Sequence[Resource]) -> list[Violation]:
    """No queue or topic policy allows Principal '*' without a source condition."""
    violations = []
    for r in resources:
        kind = _POLICY_OF.get(r.type)
        if kind is None:
            continue
        for stmt in allow_statements(r.props.get("policy")):
            anyone = _anyone(stmt)
            if anyone is None or _source_condition(stmt):
                continue
            sid = f"statement {stmt['Sid']}" if stmt.get("Sid") else "a statement"
            actions = sorted(map(str, as_list(stmt.get("Action"))))
            violations.append(
                Violation(
                    "queue-topic-policy-scoped",
                    r.name,
                    f"{kind} policy {sid} allows anyone ({anyone}) {actions} with no source "
                    f"condition: any account can use the {kind}; allow only the service "
                    "principal (or account) that sends, scoped by "
                    f"{' / '.join(SOURCE_CONDITION_KEYS)}",
                )
            )
    return violations
