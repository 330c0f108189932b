"""The IAM invariant: no action or resource wildcard beyond what a pattern needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from policy.model import IAM_POLICY, ROLE_POLICY, Resource, Violation, parse_json

__all__ = ["RESOURCELESS_ACTIONS", "check_iam_wildcards"]

# Actions that support no resource-level permissions: "*" is what they need.
RESOURCELESS_ACTIONS = {
    "cloudwatch:PutMetricData",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
    "kinesis:ListStreams",
}


def _wildcard_resource(resource: str) -> bool:
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    _, _, service, region, account, rest = parts
    return "*" in (service, region, account) or rest in ("*", "") or rest.startswith("*")


def check_iam_wildcards(resources: Sequence[Resource]) -> list[Violation]:
    """No IAM action or resource wildcard beyond what a pattern needs."""
    violations = []
    for r in resources:
        if r.type not in (ROLE_POLICY, IAM_POLICY):
            continue
        document = parse_json(r.props.get("policy"))
        if not isinstance(document, Mapping):
            continue
        statements = document.get("Statement", [])
        for stmt in statements if isinstance(statements, list) else [statements]:
            if not isinstance(stmt, Mapping) or stmt.get("Effect") != "Allow":
                continue
            if "NotAction" in stmt or "NotResource" in stmt:
                violations.append(
                    Violation("iam-no-wildcards", r.name, "Allow with NotAction/NotResource")
                )
                continue
            actions = stmt.get("Action", [])
            actions = [actions] if isinstance(actions, str) else list(actions)
            resources_ = stmt.get("Resource", [])
            resources_ = [resources_] if isinstance(resources_, str) else list(resources_)
            for action in actions:
                if isinstance(action, str) and "*" in action:
                    violations.append(
                        Violation("iam-no-wildcards", r.name, f"wildcard action {action!r}")
                    )
            needs_any = all(a in RESOURCELESS_ACTIONS for a in actions)
            for resource in resources_:
                if isinstance(resource, str) and _wildcard_resource(resource) and not needs_any:
                    violations.append(
                        Violation(
                            "iam-no-wildcards",
                            r.name,
                            f"wildcard resource {resource!r} for {sorted(map(str, actions))}",
                        )
                    )
    return violations
