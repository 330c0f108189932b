"""One Lambda function with its own least-privilege role, used by every pattern.

Not a ComponentResource: the role, its policies and the function are children of
the pattern that owns them, so the graph reads pattern -> function directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import validation

__all__ = [
    "FUNCTION_SETTINGS",
    "FunctionArgs",
    "LambdaFunction",
    "LedgerArgs",
    "function_outputs",
    "function_timeout",
    "statement",
    "validate_function_args",
]

RUNTIME = "python3.11"

_ASSUME_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


class FunctionArgs(TypedDict):
    """Code and sizing of one function."""

    code: pulumi.Input[pulumi.Archive]
    """The deployment zip (components.packaging.function_code)."""
    handler: str
    """Handler path, e.g. functions.queue_worker.handler.handler."""
    timeout: NotRequired[int]
    """Seconds the function may run."""
    memory_size: NotRequired[int]
    """MB of memory (CPU scales with it)."""
    layers: NotRequired[Sequence[pulumi.Input[str]]]
    """Layer version ARNs (the shared dependency layer)."""
    environment: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Extra environment variables (fault variables are set later by the chaos package)."""
    reserved_concurrency: NotRequired[int]
    """Reserved concurrency; unset means unreserved (0 throttles every call)."""
    extra_policy_statements: NotRequired[Sequence[Mapping[str, Any]]]
    """IAM statements added to the function's role; the policy pack rejects wildcards."""


FUNCTION_SETTINGS = validation.Settings(
    FunctionArgs,
    timeout=validation.Setting(30, 1, 900),
    memory_size=validation.Setting(256, 128, 10_240),
    reserved_concurrency=validation.Setting(None, 0, 1000),
)


class LedgerArgs(TypedDict):
    """The stack's shared ledger and idempotency tables."""

    table_name: pulumi.Input[str]
    """Ledger table (pattern S hash, event_id S range)."""
    table_arn: pulumi.Input[str]
    """Ledger table ARN, for the role's dynamodb:UpdateItem."""
    idempotency_table_name: pulumi.Input[str]
    """Powertools idempotency table (id S)."""
    idempotency_table_arn: pulumi.Input[str]
    """Idempotency table ARN."""


def validate_function_args(component: str, field: str, args: FunctionArgs) -> FunctionArgs:
    if not isinstance(args, Mapping):
        raise validation.ArgsValidationError(component, field, args, "a FunctionArgs mapping")
    validation.require(component, args, "code")
    handler = validation.require(component, args, "handler")
    if not isinstance(handler, str) or handler.count(".") < 1:
        raise validation.ArgsValidationError(
            component, f"{field}.handler", handler, "a dotted path module.function"
        )
    FUNCTION_SETTINGS.check(component, args, prefix=f"{field}.")
    return args


def function_timeout(args: FunctionArgs) -> int:
    return FUNCTION_SETTINGS.value(args, "timeout")


def statement(actions: Sequence[str], resources: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}


def _ledger_statements(ledger: LedgerArgs) -> list[dict[str, Any]]:
    return [
        statement(["dynamodb:UpdateItem"], [ledger["table_arn"]]),
        # Powertools idempotency: put the in-progress record, read it back, update or delete it.
        statement(
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [ledger["idempotency_table_arn"]],
        ),
    ]


def _log_statements(function_arn: str) -> str:
    # arn:aws:lambda:<region>:<account>:function:<name>: the log group follows from it,
    # so the role is scoped to its own log group without a get_caller_identity invoke.
    parts = function_arn.split(":")
    region, account, name = parts[3], parts[4], parts[6]
    group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{name}"
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                statement(["logs:CreateLogGroup"], [group]),
                statement(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{group}:*"]),
            ],
        }
    )


class LambdaFunction:
    """Role -> access policy -> function -> logs policy, all children of `parent`."""

    def __init__(
        self,
        parent: pulumi.Resource,
        name: str,
        args: FunctionArgs,
        *,
        ledger: LedgerArgs,
        ledger_pattern: str,
        statements: Sequence[Mapping[str, Any]] = (),
        environment: Mapping[str, pulumi.Input[str]] | None = None,
        dead_letter_arn: pulumi.Input[str] | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions(parent=parent)
        self.name = name
        self.timeout: int = function_timeout(args)
        self.role = aws.iam.Role(
            f"{name}-role", assume_role_policy=pulumi.Output.json_dumps(_ASSUME_LAMBDA), opts=opts
        )
        all_statements = [*_ledger_statements(ledger), *statements]
        all_statements.extend(args.get("extra_policy_statements", ()))
        # Lambda checks the role at create time (DLQ target, event source mapping), so the
        # access policy must exist before the function and before any mapping.
        self.access_policy = aws.iam.RolePolicy(
            f"{name}-access",
            role=self.role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": all_statements}),
            opts=opts,
        )
        env: dict[str, pulumi.Input[str]] = {
            "LEDGER_TABLE": ledger["table_name"],
            "LEDGER_PATTERN": ledger_pattern,
            "IDEMPOTENCY_TABLE": ledger["idempotency_table_name"],
            "POWERTOOLS_SERVICE_NAME": ledger_pattern,
            "FAILMODES_FAULTS": "off",
            **(environment or {}),
            **args.get("environment", {}),
        }
        extra: dict[str, Any] = {}
        if dead_letter_arn is not None:
            extra["dead_letter_config"] = aws.lambda_.FunctionDeadLetterConfigArgs(
                target_arn=dead_letter_arn
            )
        if "reserved_concurrency" in args:
            extra["reserved_concurrent_executions"] = args["reserved_concurrency"]
        self.function = aws.lambda_.Function(
            name,
            runtime=RUNTIME,
            handler=args["handler"],
            code=args["code"],
            role=self.role.arn,
            timeout=self.timeout,
            memory_size=FUNCTION_SETTINGS.value(args, "memory_size"),
            layers=list(args.get("layers", [])),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=env),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[self.access_policy]),
            **extra,
        )
        self.logs_policy = aws.iam.RolePolicy(
            f"{name}-logs",
            role=self.role.id,
            policy=self.function.arn.apply(_log_statements),
            opts=opts,
        )
        self.ready: list[pulumi.Resource] = [self.access_policy, self.function]

    def outputs(self) -> dict[str, Any]:
        return function_outputs(self)


def function_outputs(fn: LambdaFunction) -> dict[str, Any]:
    return {"name": fn.function.name, "arn": fn.function.arn, "timeout": fn.timeout}
