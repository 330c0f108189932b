"""Identity-based policies (a role's inline and attached policies), as IAM judges one call.

IAM User Guide, "Policy evaluation logic" (one account, no permissions boundary, SCP or
session policy): an explicit Deny in any policy wins; otherwise an Allow in any policy
grants; otherwise the call is implicitly denied. A statement applies when its Action (or
NotAction), its Resource (or NotResource) and its Condition all match.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from localcloud.iam.statements import (
    Unjudged,
    action_matches,
    condition_holds,
    resource_matches,
    statements_of,
)

logger = logging.getLogger(__name__)

__all__ = ["Decision", "evaluate"]


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"  # no statement allows it


def _applies(st: Mapping[str, Any], action: str, resource: str | None) -> bool:
    if "NotAction" in st:
        if action_matches(st["NotAction"], action):
            return False
    elif not action_matches(st.get("Action"), action):
        return False
    if resource is None:
        # Not resolved here: a Deny of the action applies whatever its Resource; an Allow
        # grants only when it names every resource (its Resource matches "*" itself).
        return st.get("Effect") == "Deny" or (
            "NotResource" not in st and resource_matches(st.get("Resource"), "*")
        )
    if "NotResource" in st:
        return not resource_matches(st["NotResource"], resource)
    return resource_matches(st.get("Resource"), resource)


def evaluate(
    policies: Iterable[str | Mapping[str, Any]],
    action: str,
    resource: str | None,
    context: Mapping[str, str | None] | None = None,
) -> Decision:
    """IAM's decision on `action` against `resource` under these identity policies.
    `resource` None: the caller could not tell which resource the call acts on (judged the
    safe way, see `_applies`). `context` holds the condition keys the call carries
    (lower-case names)."""
    keys = {"aws:securetransport": "true", **(context or {})}
    allowed = False
    for policy in policies:
        for st in statements_of(policy):
            effect = st.get("Effect")
            if effect not in ("Allow", "Deny") or not _applies(st, action, resource):
                continue
            try:
                holds = condition_holds(st.get("Condition"), keys)
            except Unjudged as exc:
                # The safe way: an Allow that cannot be judged grants nothing, a Deny applies.
                logger.warning("identity policy %s is not evaluated locally", exc)
                holds = effect == "Deny"
            if not holds:
                continue
            if effect == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
