"""The IAM invariants on execution roles: only the grants a pattern needs, made by its component.

- iam-no-wildcards: no action wildcard, and no resource wildcard (`*` or `?` anywhere in an ARN:
  `table/*`, `function:*`, `role/*`) beyond the two a pattern needs.
- iam-no-admin-policies: no AWS managed administrator, power-user or full-access policy on a role.
- iam-grants-in-components: a role gets its grants only from the pattern component that owns it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from policy.model import (
    COMPONENT_TYPE_PREFIX,
    FUNCTION,
    IAM_POLICY,
    POLICY_ATTACHMENT,
    ROLE,
    ROLE_POLICY,
    ROLE_POLICY_ATTACHMENT,
    ROLE_POLICY_ATTACHMENTS_EXCLUSIVE,
    STACK_TYPE,
    Resource,
    Violation,
    allow_statements,
    as_list,
    known,
    parent_type,
)

__all__ = [
    "LOG_STREAM_ACTIONS",
    "RESOURCELESS_ACTIONS",
    "check_admin_policies",
    "check_grants_in_components",
    "check_iam_wildcards",
]

# Actions that support no resource-level permissions: "*" is what they need.
RESOURCELESS_ACTIONS = {
    "cloudwatch:PutMetricData",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
    "kinesis:ListStreams",
}
# A function writes its logs to streams it names itself, in its own log group: the grant is on
# `log-group:/aws/lambda/<function>:*`, as AWSLambdaBasicExecutionRole's (Lambda Developer
# Guide, "Lambda execution role"; CloudWatch Logs permissions reference).
LOG_STREAM_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents"}
_OWN_LOG_STREAMS = re.compile(
    r"arn:aws[a-z-]*:logs:[^:*?]+:[^:*?]+:log-group:/aws/lambda/([^:*?]+):(?:log-stream:)?\*"
)
# IAM matches `*` and `?` in any segment of a resource ARN (IAM User Guide, "IAM JSON policy
# elements: Resource").
_WILDCARDS = ("*", "?")
_ALLOWED_WILDCARDS = (
    "name each resource (a wildcard is allowed only as '*' for actions without resource-level "
    "permissions, and as log-group:/aws/lambda/<function>:* for that function's own log streams)"
)


def _last_segment(ref: Any) -> str | None:
    """A role name from a role name or ARN (`arn:aws:iam::<account>:role/<path>/<name>`)."""
    return ref.rsplit("/", 1)[-1] if known(ref) else None


def _functions_by_role(resources: Sequence[Resource]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in (r for r in resources if r.type == FUNCTION):
        role, name = _last_segment(r.props.get("role")), r.props.get("name")
        if role and known(name):
            out.setdefault(role, set()).add(name)
    return out


def _identity_documents(r: Resource) -> Iterator[tuple[Any, str | None]]:
    """(policy document, the role it is on when known) of an identity policy resource."""
    if r.type == ROLE_POLICY:
        yield r.props.get("policy"), _last_segment(r.props.get("role"))
    elif r.type == IAM_POLICY:
        yield r.props.get("policy"), None
    elif r.type == ROLE:
        for inline in as_list(r.props.get("inlinePolicies")):
            if isinstance(inline, Mapping):
                yield inline.get("policy"), r.props.get("name")


def _wildcard_problem(resource: str, actions: list[str], owners: set[str] | None) -> str | None:
    """Why a resource of an Allow statement is wider than a pattern needs, or None."""
    if not any(w in resource for w in _WILDCARDS):
        return None
    if resource == "*" and actions and all(a in RESOURCELESS_ACTIONS for a in actions):
        return None
    streams = _OWN_LOG_STREAMS.fullmatch(resource)
    if streams and actions and all(a in LOG_STREAM_ACTIONS for a in actions):
        if owners is None or streams.group(1) in owners:
            return None
        return (
            f"log streams of /aws/lambda/{streams.group(1)}, not of its role's function "
            f"({', '.join(sorted(owners))})"
        )
    return f"wildcard resource {resource!r} for {sorted(map(str, actions))}"


def check_iam_wildcards(resources: Sequence[Resource]) -> list[Violation]:
    """No IAM action or resource wildcard beyond what a pattern needs."""
    by_role = _functions_by_role(resources)
    violations = []
    for r in resources:
        for document, role in _identity_documents(r):
            owners = by_role.get(role) if role else None
            for stmt in allow_statements(document):
                if "NotAction" in stmt or "NotResource" in stmt:
                    violations.append(
                        Violation("iam-no-wildcards", r.name, "Allow with NotAction/NotResource")
                    )
                    continue
                actions = [a for a in as_list(stmt.get("Action")) if isinstance(a, str)]
                for action in actions:
                    if "*" in action:
                        violations.append(
                            Violation("iam-no-wildcards", r.name, f"wildcard action {action!r}")
                        )
                for resource in as_list(stmt.get("Resource")):
                    problem = (
                        _wildcard_problem(resource, actions, owners)
                        if isinstance(resource, str)
                        else None
                    )
                    if problem:
                        violations.append(
                            Violation(
                                "iam-no-wildcards", r.name, f"{problem}: {_ALLOWED_WILDCARDS}"
                            )
                        )
    return violations


# AWS managed policies (`arn:<partition>:iam::aws:policy/<path>/<name>`) that grant a whole
# account or a whole service: AdministratorAccess (and its -Amplify, -AWSElasticBeanstalk
# variants), PowerUserAccess, the job-function *Administrator ones and every *FullAccess*
# (IAM User Guide, "AWS managed policies for job functions"; least privilege is its first best
# practice).
_AWS_MANAGED = re.compile(r"arn:aws[a-z-]*:iam::aws:policy/(?:[^/]+/)*([^/]+)")


def _broad_managed(arn: Any) -> str | None:
    """What a broad AWS managed policy grants ('administrator access', ...), else None."""
    found = _AWS_MANAGED.fullmatch(arn) if known(arn) else None
    if found is None:
        return None
    name = found.group(1)
    if name.startswith("AdministratorAccess") or name.endswith("Administrator"):
        return "administrator access"
    if name == "PowerUserAccess":
        return "every action outside IAM and Organizations"
    if "FullAccess" in name:
        return "every action of a service on every resource"
    return None


def _role(ref: Any) -> str:
    name = _last_segment(ref)
    return f"role {name}" if name else "a role"


def _attached(r: Resource) -> list[tuple[Any, str]]:
    """(managed policy ARN, the role it is on) for each managed policy a resource attaches."""
    props = r.props
    if r.type == ROLE:
        role = _role(props.get("name") or r.name)
        return [(arn, role) for arn in as_list(props.get("managedPolicyArns"))]
    if r.type == ROLE_POLICY_ATTACHMENT:
        return [(props.get("policyArn"), _role(props.get("role")))]
    if r.type == ROLE_POLICY_ATTACHMENTS_EXCLUSIVE:
        role = _role(props.get("roleName"))
        return [(arn, role) for arn in as_list(props.get("policyArns"))]
    if r.type == POLICY_ATTACHMENT:
        return [(props.get("policyArn"), _role(role)) for role in as_list(props.get("roles"))]
    if r.type == IAM_POLICY:  # chaos.preflight: a policy attached to a function's role
        return [(props.get("arn"), _role(props.get("role")))]
    return []


def check_admin_policies(resources: Sequence[Resource]) -> list[Violation]:
    """No AWS managed administrator, power-user or full-access policy on a role."""
    violations = []
    for r in resources:
        for arn, role in _attached(r):
            grants = _broad_managed(arn)
            if grants:
                violations.append(
                    Violation(
                        "iam-no-admin-policies",
                        r.name,
                        f"attaches AWS managed policy {arn} to {role}: it grants {grants}; "
                        "grant only the pattern's actions on its own resources (the component's "
                        "policy, or the function's extra_policy_statements)",
                    )
                )
    return violations


def _grants_of(r: Resource) -> str | None:
    """What a resource grants a role (for the message), or None if it grants nothing."""
    if r.type == ROLE_POLICY:
        return f"an inline policy on {_role(r.props.get('role'))}"
    if r.type == ROLE_POLICY_ATTACHMENT:
        return f"a managed policy attachment to {_role(r.props.get('role'))}"
    if r.type == ROLE_POLICY_ATTACHMENTS_EXCLUSIVE:
        return f"a managed policy attachment to {_role(r.props.get('roleName'))}"
    if r.type == POLICY_ATTACHMENT and as_list(r.props.get("roles")):
        roles = ", ".join(map(_role, as_list(r.props.get("roles"))))
        return f"a managed policy attachment to {roles}"
    if r.type == ROLE:
        inline = [p for p in as_list(r.props.get("inlinePolicies")) if isinstance(p, Mapping)]
        if any(known(p.get("policy")) for p in inline):
            return f"{_role(r.props.get('name') or r.name)} with inline policies"
        if as_list(r.props.get("managedPolicyArns")):
            return f"{_role(r.props.get('name') or r.name)} with managed policies"
    return None


def check_grants_in_components(resources: Sequence[Resource]) -> list[Violation]:
    """A role's grants (inline policies, attachments) are made by a pattern component.

    A component scopes its roles' statements to its own resources; a RolePolicy added beside it
    at the program's top level (a hotfix, a copy from a tutorial) bypasses that. Judged only
    where the resource's URN is known (`pulumi preview`, the emulated deploy, the unit tests),
    not over a configuration read back from a cloud."""
    violations = []
    for r in resources:
        grants = _grants_of(r)
        parent = parent_type(r.urn)
        if grants is None or parent is None or parent.startswith(COMPONENT_TYPE_PREFIX):
            continue
        where = "the stack itself" if parent == STACK_TYPE else parent
        violations.append(
            Violation(
                "iam-grants-in-components",
                r.name,
                f"{grants} is made outside the pattern components (its parent is {where}); a "
                "role's grants come from the component that owns it: add the statements to "
                f"the function's extra_policy_statements ({COMPONENT_TYPE_PREFIX}* components "
                "build them into the role's policy)",
            )
        )
    return violations
