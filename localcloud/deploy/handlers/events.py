"""EventBridge: EventBus, EventRule, EventTarget (retry policy and DLQ included)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Context, Handler, Planned, ignore_missing, num, pascal, pick


def _bus(inputs: Mapping[str, Any]) -> str:
    return inputs.get("eventBusName") or "default"


class EventBus(Handler):
    typ = "aws:cloudwatch/eventBus:EventBus"
    applies = frozenset(
        {"name", "description", "eventSourceName", "kmsKeyIdentifier", "deadLetterConfig"}
    )
    replace_on = frozenset({"name", "eventSourceName"})
    name_input = "name"
    name_max = 256
    already_exists = frozenset({"ResourceAlreadyExistsException"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        kwargs = pick(
            res.inputs,
            {
                "description": "Description",
                "eventSourceName": "EventSourceName",
                "kmsKeyIdentifier": "KmsKeyIdentifier",
            },
        )
        if res.inputs.get("deadLetterConfig"):
            kwargs["DeadLetterConfig"] = pascal(res.inputs["deadLetterConfig"])
        arn = ctx.client("events").create_event_bus(Name=res.physical, **kwargs)["EventBusArn"]
        return res.physical, {"arn": arn, "name": res.physical}

    def adopt(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        arn = ctx.client("events").describe_event_bus(Name=res.physical)["Arn"]
        return res.physical, {"arn": arn, "name": res.physical}

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        kwargs = pick(
            res.inputs, {"description": "Description", "kmsKeyIdentifier": "KmsKeyIdentifier"}
        )
        if res.inputs.get("deadLetterConfig"):
            kwargs["DeadLetterConfig"] = pascal(res.inputs["deadLetterConfig"])
        ctx.client("events").update_event_bus(Name=rid, **kwargs)
        return dict(old)

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("events").delete_event_bus(Name=rid))


class EventRule(Handler):
    typ = "aws:cloudwatch/eventRule:EventRule"
    applies = frozenset(
        {
            "name",
            "namePrefix",
            "eventBusName",
            "eventPattern",
            "scheduleExpression",
            "description",
            "roleArn",
            "state",
            "isEnabled",
            "forceDestroy",
        }
    )
    replace_on = frozenset({"name", "namePrefix", "eventBusName"})
    name_input = "name"

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        arn = self._put(ctx, res)
        bus = _bus(res.inputs)
        rid = res.physical if bus == "default" else f"{bus}/{res.physical}"
        return rid, {"arn": arn, "name": res.physical, "eventBusName": bus}

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        return {**old, "arn": self._put(ctx, res)}

    @staticmethod
    def _put(ctx: Context, res: Planned) -> str:
        inp = res.inputs
        kwargs = pick(
            inp,
            {
                "eventPattern": "EventPattern",
                "scheduleExpression": "ScheduleExpression",
                "description": "Description",
                "roleArn": "RoleArn",
            },
        )
        state = inp.get("state") or ("DISABLED" if inp.get("isEnabled") is False else "ENABLED")
        return ctx.client("events").put_rule(
            Name=res.physical, EventBusName=_bus(inp), State=state, **kwargs
        )["RuleArn"]

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        events = ctx.client("events")
        name, bus = outputs["name"], outputs["eventBusName"]

        def remove() -> None:
            # EventBridge refuses to delete a rule with targets; the stack's targets are gone
            # by now unless a run was interrupted between the two.
            ids = [
                t["Id"] for t in events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
            ]
            if ids:
                events.remove_targets(Rule=name, EventBusName=bus, Ids=ids, Force=True)
            events.delete_rule(Name=name, EventBusName=bus)

        ignore_missing(remove)


class EventTarget(Handler):
    typ = "aws:cloudwatch/eventTarget:EventTarget"
    applies = frozenset(
        {
            "rule",
            "eventBusName",
            "targetId",
            "arn",
            "roleArn",
            "input",
            "inputPath",
            "inputTransformer",
            "retryPolicy",
            "deadLetterConfig",
            "sqsTarget",
            "forceDestroy",
        }
    )
    replace_on = frozenset({"rule", "eventBusName", "targetId"})
    name_input = "targetId"

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        self._put(ctx, res)
        bus, rule = _bus(res.inputs), res.inputs["rule"]
        rid = f"{rule}-{res.physical}" if bus == "default" else f"{bus}/{rule}/{res.physical}"
        return rid, {"targetId": res.physical, "rule": rule, "eventBusName": bus}

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        self._put(ctx, res)
        return dict(old)

    @staticmethod
    def _put(ctx: Context, res: Planned) -> None:
        inp = res.inputs
        target: dict[str, Any] = {"Id": res.physical, "Arn": inp["arn"]}
        target.update(pick(inp, {"roleArn": "RoleArn", "input": "Input", "inputPath": "InputPath"}))
        if inp.get("inputTransformer"):
            target["InputTransformer"] = pascal(
                inp["inputTransformer"], keep_maps=frozenset({"inputPaths"})
            )
        if inp.get("retryPolicy"):
            target["RetryPolicy"] = {k: num(v) for k, v in pascal(inp["retryPolicy"]).items()}
        if inp.get("deadLetterConfig"):
            target["DeadLetterConfig"] = pascal(inp["deadLetterConfig"])
        if inp.get("sqsTarget"):
            target["SqsParameters"] = pascal(inp["sqsTarget"])
        out = ctx.client("events").put_targets(
            Rule=inp["rule"], EventBusName=_bus(inp), Targets=[target]
        )
        if out.get("FailedEntryCount"):
            raise RuntimeError(f"put_targets failed: {out['FailedEntries']}")

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("events").remove_targets(
                Rule=outputs["rule"],
                EventBusName=outputs["eventBusName"],
                Ids=[outputs["targetId"]],
                Force=True,
            )
        )
