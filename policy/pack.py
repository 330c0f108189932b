"""The pulumi-policy adapter: one mandatory stack policy per invariant."""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import EnforcementLevel, Policy, StackValidationArgs, StackValidationPolicy

from policy.invariants import CHECKS, Resource, Violation, resources_from

__all__ = ["PACK_NAME", "build_policies"]

PACK_NAME = "failmodes-failure-handling"


def _validator(
    check: Callable[[list[Resource]], list[Violation]],
) -> Callable[[StackValidationArgs, Callable[..., None]], None]:
    def validate(args: StackValidationArgs, report_violation: Callable[..., None]) -> None:
        resources = list(args.resources)
        by_name = {r.name: r for r in resources}
        for violation in check(resources_from(resources)):
            offender = by_name.get(violation.resource)
            report_violation(violation.message, offender.urn if offender is not None else None)

    return validate


def build_policies() -> list[Policy]:
    return [
        StackValidationPolicy(
            name=name,
            description=description,
            validate=_validator(check),
            enforcement_level=EnforcementLevel.MANDATORY,
        )
        for name, (description, check) in CHECKS.items()
    ]
