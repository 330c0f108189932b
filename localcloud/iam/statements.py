"""The parts of IAM's policy language every evaluation here shares: a statement's Action,
Resource and Condition elements, matched as the IAM User Guide ("IAM JSON policy elements
reference") describes them.

- Action / NotAction: `service:Action` names, case-insensitive, with the wildcards `*` (any
  run of characters) and `?` (one character).
- Resource / NotResource: ARNs, case-sensitive, with the same wildcards.
- Condition: the operators ArnLike, ArnEquals, StringEquals, StringLike, Bool (and their
  `...IfExists` forms) on the keys a caller passes in its context (for example
  aws:SourceArn, aws:SourceAccount, aws:SecureTransport). Any other operator or key
  cannot be judged here: the caller learns so (`Unjudged`) and decides which way is safe
  (an Allow that cannot be judged grants nothing; a Deny that cannot be judged applies).

Written by hand: moto stores policies and evaluates them only in its opt-in request
authentication, without Resource wildcards in `?` form, NotResource or conditions beyond
trust policies; no maintained library evaluates IAM policies.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "Unjudged",
    "action_matches",
    "as_list",
    "condition_holds",
    "resource_matches",
    "statements_of",
]

_OPERATORS = {"arnlike", "arnequals", "stringequals", "stringlike", "bool"}


class Unjudged(Exception):
    """A condition this evaluation cannot judge (operator or key not modelled)."""


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@lru_cache(maxsize=4096)
def _pattern(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    # fnmatch would also read [...] as a character class; IAM has only * and ?.
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def wildcard_match(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    return _pattern(pattern, case_sensitive).match(value) is not None


def action_matches(element: Any, action: str) -> bool:
    """Does an Action (or NotAction) element name `action`?"""
    return any(wildcard_match(str(a), action, case_sensitive=False) for a in as_list(element))


def resource_matches(element: Any, resource: str) -> bool:
    """Does a Resource (or NotResource) element name `resource`?"""
    return any(wildcard_match(str(r), resource, case_sensitive=True) for r in as_list(element))


def condition_holds(condition: Any, context: Mapping[str, str | None]) -> bool:
    """True when every condition of a statement holds for `context` (keys lower-case).
    Raises Unjudged for an operator or key not modelled here."""
    if not condition:
        return True
    if not isinstance(condition, dict):
        raise Unjudged(f"condition {condition!r} is not an object")
    for operator, pairs in condition.items():
        op = str(operator).lower()
        if_exists = op.endswith("ifexists")
        if if_exists:
            op = op[: -len("ifexists")]
        if op not in _OPERATORS or not isinstance(pairs, dict):
            raise Unjudged(f"condition operator {operator!r}")
        for key, wanted in pairs.items():
            name = str(key).lower()
            if name not in context:
                raise Unjudged(f"condition key {key!r}")
            actual = context[name]
            if actual is None:
                if if_exists:
                    continue
                return False
            patterns = [str(w) for w in as_list(wanted)]
            if op in ("arnlike", "stringlike"):
                if not any(wildcard_match(p, actual, case_sensitive=True) for p in patterns):
                    return False
            elif op == "bool":
                if actual.lower() not in (p.lower() for p in patterns):
                    return False
            elif actual not in patterns:
                return False
    return True


def statements_of(policy: str | Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The statements of a policy document (JSON text or parsed); [] for none or a
    malformed one."""
    if not policy:
        return []
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
        return [st for st in as_list(document.get("Statement")) if isinstance(st, dict)]
    except (ValueError, AttributeError):
        return []
