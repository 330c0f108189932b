"""Kinesis Stream and Step Functions StateMachine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Context, Handler, Planned, ignore_missing, num, pick


class Stream(Handler):
    typ = "aws:kinesis/stream:Stream"
    applies = frozenset(
        {
            "name",
            "shardCount",
            "retentionPeriod",
            "streamModeDetails",
            "encryptionType",
            "kmsKeyId",
            "enforceConsumerDeletion",
            "shardLevelMetrics",
        }
    )
    replace_on = frozenset({"name"})
    name_input = "name"
    name_max = 128
    already_exists = frozenset({"ResourceInUseException"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        kinesis = ctx.client("kinesis")
        kwargs: dict[str, Any] = {"StreamName": res.physical}
        mode = (inp.get("streamModeDetails") or {}).get("streamMode") or "PROVISIONED"
        kwargs["StreamModeDetails"] = {"StreamMode": mode}
        if mode == "PROVISIONED":
            kwargs["ShardCount"] = num(inp.get("shardCount") or 1)
        kinesis.create_stream(**kwargs)
        return self._finish(ctx, res, current_retention=24)

    def adopt(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        summary = ctx.client("kinesis").describe_stream_summary(StreamName=res.physical)
        return self._finish(
            ctx, res, num(summary["StreamDescriptionSummary"]["RetentionPeriodHours"])
        )

    def _finish(
        self, ctx: Context, res: Planned, current_retention: int
    ) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        kinesis = ctx.client("kinesis")
        kinesis.get_waiter("stream_exists").wait(
            StreamName=res.physical, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        self._settings(ctx, res.physical, inp, set(inp), current_retention=current_retention)
        arn = kinesis.describe_stream_summary(StreamName=res.physical)["StreamDescriptionSummary"][
            "StreamARN"
        ]
        return arn, {
            "arn": arn,
            "name": res.physical,
            "retentionPeriod": num(inp.get("retentionPeriod") or 24),
        }

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        name = old["name"]
        if "shardCount" in changed and res.inputs.get("shardCount"):
            ctx.client("kinesis").update_shard_count(
                StreamName=name,
                TargetShardCount=num(res.inputs["shardCount"]),
                ScalingType="UNIFORM_SCALING",
            )
        self._settings(
            ctx, name, res.inputs, changed, current_retention=num(old.get("retentionPeriod", 24))
        )
        return {**old, "retentionPeriod": num(res.inputs.get("retentionPeriod") or 24)}

    @staticmethod
    def _settings(
        ctx: Context, name: str, inp: Mapping[str, Any], changed: set[str], current_retention: int
    ) -> None:
        kinesis = ctx.client("kinesis")
        retention = num(inp.get("retentionPeriod") or 24)
        if "retentionPeriod" in changed and retention > current_retention:
            kinesis.increase_stream_retention_period(
                StreamName=name, RetentionPeriodHours=retention
            )
        elif "retentionPeriod" in changed and retention < current_retention:
            kinesis.decrease_stream_retention_period(
                StreamName=name, RetentionPeriodHours=retention
            )
        if "encryptionType" in changed and inp.get("encryptionType") == "KMS":
            kinesis.start_stream_encryption(
                StreamName=name,
                EncryptionType="KMS",
                KeyId=inp.get("kmsKeyId") or "alias/aws/kinesis",
            )
        if "shardLevelMetrics" in changed and inp.get("shardLevelMetrics"):
            kinesis.enable_enhanced_monitoring(
                StreamName=name, ShardLevelMetrics=list(inp["shardLevelMetrics"])
            )

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("kinesis").delete_stream(
                StreamName=outputs["name"], EnforceConsumerDeletion=True
            )
        )


class StateMachine(Handler):
    typ = "aws:sfn/stateMachine:StateMachine"
    applies = frozenset(
        {
            "name",
            "namePrefix",
            "definition",
            "roleArn",
            "type",
            "loggingConfiguration",
            "tracingConfiguration",
            "publish",
        }
    )
    replace_on = frozenset({"name", "namePrefix", "type"})
    name_input = "name"
    name_max = 80

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        kwargs = pick(inp, {"type": "type", "publish": "publish"})
        kwargs.update(self._configs(inp))
        out = ctx.client("stepfunctions").create_state_machine(
            name=res.physical, definition=inp["definition"], roleArn=inp["roleArn"], **kwargs
        )
        arn = out["stateMachineArn"]
        return arn, {
            "arn": arn,
            "name": res.physical,
            "status": "ACTIVE",
            "creationDate": str(out.get("creationDate", "")),
            "stateMachineVersionArn": out.get("stateMachineVersionArn", ""),
        }

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        kwargs = {"definition": res.inputs["definition"], "roleArn": res.inputs["roleArn"]}
        kwargs.update(self._configs(res.inputs))
        ctx.client("stepfunctions").update_state_machine(stateMachineArn=rid, **kwargs)
        return dict(old)

    @staticmethod
    def _configs(inp: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        logging_config = inp.get("loggingConfiguration")
        if logging_config:
            config: dict[str, Any] = pick(
                logging_config, {"level": "level", "includeExecutionData": "includeExecutionData"}
            )
            if logging_config.get("logDestination"):
                config["destinations"] = [
                    {"cloudWatchLogsLogGroup": {"logGroupArn": logging_config["logDestination"]}}
                ]
            out["loggingConfiguration"] = config
        if inp.get("tracingConfiguration"):
            out["tracingConfiguration"] = {
                "enabled": bool(inp["tracingConfiguration"].get("enabled"))
            }
        return out

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("stepfunctions").delete_state_machine(stateMachineArn=rid)
        )
