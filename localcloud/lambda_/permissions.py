"""A function's resource-based policy, checked when an AWS service invokes it.

AWS (Lambda developer guide, "Using resource-based policies for Lambda"; SNS, EventBridge
and API Gateway guides): SNS, EventBridge and API Gateway may invoke a function only when
its resource policy allows their service principal `lambda:InvokeFunction`, with the
statement's conditions (AWS:SourceArn, AWS:SourceAccount) met by the invoking topic, rule
or API method. Without that grant the invoke is refused with AccessDeniedException, and the
service takes its own failure path: SNS sends the message to the subscription's DLQ (a
client error, not retried), EventBridge to the target's DLQ with ERROR_CODE NO_PERMISSIONS
(not retried), API Gateway answers 500.

How a policy is judged: localcloud/iam/resource_policy.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localcloud.iam.resource_policy import allows, statements_of
from localcloud.lambda_.types import LambdaApiError

__all__ = ["AccessDenied", "check_service_invoke", "policy_reader"]

INVOKE = "lambda:InvokeFunction"


class AccessDenied(LambdaApiError):
    status = 403
    code = "AccessDeniedException"


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
    statements = statements_of(get_policy())
    if not allows(
        statements, service, INVOKE, source_arn=source_arn, source_account=source_account
    ):
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
