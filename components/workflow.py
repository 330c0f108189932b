"""Workflow: a Step Functions state machine with Retry and Catch -> compensation.

Poison events are not retried (retrying cannot help); everything else is retried
with backoff; whatever still fails is caught, and the compensation step writes a
failure record to a queue, then the execution ends Failed. No event ends nowhere.
"""

from __future__ import annotations

import json
from typing import NotRequired

import pulumi
import pulumi_aws as aws

from components import contract, queues, validation
from components import outputs as keys
from components.alarms import AlarmArgs, AlarmFactory, validate_alarm_args
from components.function import (
    FunctionArgs,
    LambdaFunction,
    LedgerArgs,
    statement,
    validate_function_args,
)

__all__ = ["SETTINGS", "Workflow", "WorkflowArgs", "definition", "validate"]

NAME = "Workflow"
POISON_ERROR = "PoisonEventError"


class WorkflowArgs(contract.InstanceArgs):
    """State machine: Process (Retry, Catch) -> Compensate -> Failed."""

    step: FunctionArgs
    """The task (functions.workflow_step.handler.handler)."""
    compensation: FunctionArgs
    """Writes the failure record (functions.compensation.handler.handler)."""
    ledger: LedgerArgs
    """The stack's ledger and idempotency tables."""
    ledger_pattern: NotRequired[str]
    """LEDGER_PATTERN of the step; compensation gets '<ledger_pattern>.compensation'."""
    alarms: AlarmArgs
    """Alarm topic and timing."""
    retry_max_attempts: NotRequired[int]
    """Retry MaxAttempts of the task."""
    retry_interval: NotRequired[int]
    """Retry IntervalSeconds."""
    retry_backoff_rate: NotRequired[float]
    """Retry BackoffRate."""
    task_timeout: NotRequired[int]
    """TimeoutSeconds of each task (default: the step function's timeout + 5)."""
    failure_retention: NotRequired[int]
    """Failure-record queue retention seconds (default 14 days)."""


# Step Functions' own Retry defaults (3 attempts, 1 s, x2).
SETTINGS = validation.Settings(
    WorkflowArgs,
    retry_max_attempts=validation.Setting(3, 0, 99),
    retry_interval=validation.Setting(1, 1, 3600),
    retry_backoff_rate=validation.Setting(2.0, 1.0, 10.0),
    task_timeout=validation.Setting(None, 1, 3600),
    failure_retention=queues.retention(),
)


def validate(args: WorkflowArgs) -> WorkflowArgs:
    for field in ("step", "compensation", "ledger", "alarms"):
        validation.require(NAME, args, field)
    validate_function_args(NAME, "step", args["step"])
    validate_function_args(NAME, "compensation", args["compensation"])
    validate_alarm_args(NAME, args["alarms"])
    SETTINGS.check(NAME, args)
    return args


def definition(
    step_arn: str,
    compensation_arn: str,
    *,
    max_attempts: int,
    interval: int,
    backoff: float,
    timeout: int,
) -> str:
    """The Amazon States Language document (plain function: the tests read it)."""
    return json.dumps(
        {
            "Comment": "failmodes workflow: Retry, then Catch -> compensation -> failure record",
            "StartAt": "Process",
            "States": {
                "Process": {
                    "Type": "Task",
                    "Resource": step_arn,
                    "TimeoutSeconds": timeout,
                    "Retry": [
                        {"ErrorEquals": [POISON_ERROR], "MaxAttempts": 0},
                        {
                            "ErrorEquals": ["States.ALL"],
                            "IntervalSeconds": interval,
                            "MaxAttempts": max_attempts,
                            "BackoffRate": backoff,
                        },
                    ],
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "ResultPath": "$.error",
                            "Next": "Compensate",
                        }
                    ],
                    "End": True,
                },
                "Compensate": {
                    "Type": "Task",
                    "Resource": compensation_arn,
                    "TimeoutSeconds": timeout,
                    # The record must be written even if compensation is briefly throttled.
                    "Retry": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "IntervalSeconds": 1,
                            "MaxAttempts": 3,
                            "BackoffRate": 2.0,
                        }
                    ],
                    "Next": "Failed",
                },
                "Failed": {
                    "Type": "Fail",
                    "Error": "WorkflowFailed",
                    "Cause": "the step failed; a failure record was written",
                },
            },
        }
    )


class Workflow(contract.PatternComponent):
    """State machine with Retry/Catch, its two functions, and the failure-record queue."""

    def __init__(self, name: str, args: WorkflowArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__(NAME, name, args, opts)
        self.retry_max_attempts = SETTINGS.value(args, "retry_max_attempts")
        self.retry_interval = SETTINGS.value(args, "retry_interval")
        self.retry_backoff_rate = float(SETTINGS.value(args, "retry_backoff_rate"))
        pattern = self.ledger_pattern
        self.failure_queue = queues.dead_letter_queue(
            self, f"{name}-failures", retention=SETTINGS.value(args, "failure_retention")
        )
        self.step = LambdaFunction(
            self, f"{name}-step", args["step"], ledger=args["ledger"], ledger_pattern=pattern
        )
        self.compensation = LambdaFunction(
            self,
            f"{name}-compensation",
            args["compensation"],
            ledger=args["ledger"],
            ledger_pattern=f"{pattern}.compensation",
            statements=[statement(["sqs:SendMessage"], [self.failure_queue.arn])],
            environment={"FAILURE_QUEUE_URL": self.failure_queue.url},
        )
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-states-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "states.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-states-access",
            role=self.role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        statement(
                            ["lambda:InvokeFunction"],
                            [self.step.function.arn, self.compensation.function.arn],
                        )
                    ],
                }
            ),
            opts=child,
        )
        timeout = args.get("task_timeout", self.step.timeout + 5)
        self.state_machine = aws.sfn.StateMachine(
            f"{name}-state-machine",
            role_arn=self.role.arn,
            definition=pulumi.Output.all(
                self.step.function.arn, self.compensation.function.arn
            ).apply(
                lambda arns: definition(
                    arns[0],
                    arns[1],
                    max_attempts=self.retry_max_attempts,
                    interval=self.retry_interval,
                    backoff=self.retry_backoff_rate,
                    timeout=timeout,
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.alarm_factory = AlarmFactory(self, name, args["alarms"])
        self.alarm_factory.dlq("failures", self.failure_queue, f"{name}: failure records")
        self.alarm_factory.errors_and_throttles("step", self.step.function)
        self.alarm_factory.errors_and_throttles("compensation", self.compensation.function)
        self.alarm_factory.metric(
            "executions_failed",
            namespace="AWS/States",
            metric_name="ExecutionsFailed",
            dimensions={"StateMachineArn": self.state_machine.arn},
            description=f"{name}: an execution failed (and was compensated)",
        )
        self.outputs = pulumi.Output.all(
            state_machine_arn=self.state_machine.arn,
            step=pulumi.Output.all(**self.step.outputs()),
            compensation=pulumi.Output.all(**self.compensation.outputs()),
            failure_queue_url=self.failure_queue.url,
            retry_max_attempts=self.retry_max_attempts,
            retry_interval=self.retry_interval,
            retry_backoff_rate=self.retry_backoff_rate,
            alarms=pulumi.Output.all(**self.alarm_factory.names()),
        )
        self.register_outputs({"outputs": self.outputs})
        contract.declare(self, keys.WORKFLOW, name, opts)
