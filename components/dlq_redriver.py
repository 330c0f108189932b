"""DlqRedriver: moves messages from DLQs back to their source queues, idempotently.

The role may read and delete from exactly the listed DLQs and send to exactly
their sources; REDRIVE_SOURCES tells the function which DLQ feeds which queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi

from components import contract, validation
from components import outputs as keys
from components.alarms import AlarmArgs, AlarmFactory, validate_alarm_args
from components.function import (
    FunctionArgs,
    LambdaFunction,
    LedgerArgs,
    statement,
    validate_function_args,
)

__all__ = ["DlqRedriver", "DlqRedriverArgs", "RedriveSource", "validate"]

NAME = "DlqRedriver"


class RedriveSource(TypedDict):
    """One DLQ and the queue its messages go back to."""

    dlq_url: pulumi.Input[str]
    """URL of the DLQ."""
    dlq_arn: pulumi.Input[str]
    """ARN of the DLQ (for the role)."""
    source_url: pulumi.Input[str]
    """URL of the source queue."""
    source_arn: pulumi.Input[str]
    """ARN of the source queue (for the role)."""


class DlqRedriverArgs(contract.InstanceArgs):
    """The redriver function and the DLQ -> source pairs it may move messages between."""

    function: FunctionArgs
    """The redriver (functions.dlq_redriver.handler.handler)."""
    ledger: LedgerArgs
    """The stack's ledger and idempotency tables."""
    ledger_pattern: NotRequired[str]
    """LEDGER_PATTERN of the redriver."""
    alarms: AlarmArgs
    """Alarm topic and timing."""
    sources: Sequence[RedriveSource]
    """At least one DLQ -> source pair."""


def validate(args: DlqRedriverArgs) -> DlqRedriverArgs:
    for field in ("function", "ledger", "alarms", "sources"):
        validation.require(NAME, args, field)
    validate_function_args(NAME, "function", args["function"])
    validate_alarm_args(NAME, args["alarms"])
    sources = args["sources"]
    if isinstance(sources, str | bytes) or not isinstance(sources, Sequence) or not sources:
        raise validation.ArgsValidationError(
            NAME, "sources", sources, "a non-empty list of RedriveSource"
        )
    for index, source in enumerate(sources):
        if not isinstance(source, Mapping):
            raise validation.ArgsValidationError(
                NAME, f"sources[{index}]", source, "a RedriveSource mapping"
            )
        for field in ("dlq_url", "dlq_arn", "source_url", "source_arn"):
            if source.get(field) is None:
                raise validation.ArgsValidationError(
                    NAME, f"sources[{index}].{field}", None, "a value is required"
                )
    return args


class DlqRedriver(contract.PatternComponent):
    """A function that redrives the listed DLQs into their sources."""

    def __init__(
        self, name: str, args: DlqRedriverArgs, opts: pulumi.ResourceOptions | None = None
    ):
        validate(args)
        super().__init__(NAME, name, args, opts)
        sources = list(args["sources"])
        source_map = pulumi.Output.all(
            *[pulumi.Output.all(s["dlq_url"], s["source_url"]) for s in sources]
        ).apply(lambda pairs: {dlq: src for dlq, src in pairs})
        self.redriver = LambdaFunction(
            self,
            f"{name}-function",
            args["function"],
            ledger=args["ledger"],
            ledger_pattern=self.ledger_pattern,
            statements=[
                statement(
                    ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                    [s["dlq_arn"] for s in sources],
                ),
                statement(["sqs:SendMessage"], [s["source_arn"] for s in sources]),
            ],
            environment={"REDRIVE_SOURCES": pulumi.Output.json_dumps(source_map)},
        )
        self.alarm_factory = AlarmFactory(self, name, args["alarms"])
        self.alarm_factory.function("errors", self.redriver.function, "Errors")
        self.outputs = pulumi.Output.all(
            function=pulumi.Output.all(**self.redriver.outputs()),
            sources=source_map,
            alarms=pulumi.Output.all(**self.alarm_factory.names()),
        )
        self.register_outputs({"outputs": self.outputs})
        contract.declare(self, keys.DLQ_REDRIVER, name, opts)
