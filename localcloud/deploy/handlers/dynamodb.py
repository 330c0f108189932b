"""DynamoDB Table and Application Auto Scaling Target / Policy (what scales a table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Context, Handler, Planned, ignore_missing, num, pascal, pick, probe


def _throughput(inputs: Mapping[str, Any]) -> dict[str, int]:
    return {
        "ReadCapacityUnits": num(inputs.get("readCapacity") or 1),
        "WriteCapacityUnits": num(inputs.get("writeCapacity") or 1),
    }


def _index(idx: Mapping[str, Any], provisioned: bool, local: bool = False) -> dict[str, Any]:
    keys = [{"AttributeName": idx["hashKey"], "KeyType": "HASH"}]
    if idx.get("rangeKey"):
        keys.append({"AttributeName": idx["rangeKey"], "KeyType": "RANGE"})
    projection: dict[str, Any] = {"ProjectionType": idx.get("projectionType", "ALL")}
    if idx.get("nonKeyAttributes"):
        projection["NonKeyAttributes"] = list(idx["nonKeyAttributes"])
    out: dict[str, Any] = {"IndexName": idx["name"], "KeySchema": keys, "Projection": projection}
    if provisioned and not local:
        out["ProvisionedThroughput"] = _throughput(idx)
    return out


class Table(Handler):
    typ = "aws:dynamodb/table:Table"
    applies = frozenset(
        {
            "name",
            "billingMode",
            "readCapacity",
            "writeCapacity",
            "hashKey",
            "rangeKey",
            "attributes",
            "globalSecondaryIndexes",
            "localSecondaryIndexes",
            "streamEnabled",
            "streamViewType",
            "ttl",
            "pointInTimeRecovery",
            "serverSideEncryption",
            "deletionProtectionEnabled",
            "tableClass",
        }
    )
    # Index changes replace the table here (pulumi-aws updates GSIs in place): documented.
    replace_on = frozenset(
        {
            "name",
            "hashKey",
            "rangeKey",
            "localSecondaryIndexes",
            "globalSecondaryIndexes",
            "attributes",
        }
    )
    name_input = "name"
    name_max = 255
    already_exists = frozenset({"ResourceInUseException"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        billing = inp.get("billingMode") or "PROVISIONED"
        provisioned = billing == "PROVISIONED"
        keys = [{"AttributeName": inp["hashKey"], "KeyType": "HASH"}]
        if inp.get("rangeKey"):
            keys.append({"AttributeName": inp["rangeKey"], "KeyType": "RANGE"})
        kwargs: dict[str, Any] = {
            "TableName": res.physical,
            "KeySchema": keys,
            "AttributeDefinitions": [
                {"AttributeName": a["name"], "AttributeType": a["type"]}
                for a in inp.get("attributes") or []
            ],
            "BillingMode": billing,
        }
        if provisioned:
            kwargs["ProvisionedThroughput"] = _throughput(inp)
        if inp.get("globalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                _index(i, provisioned) for i in inp["globalSecondaryIndexes"]
            ]
        if inp.get("localSecondaryIndexes"):
            kwargs["LocalSecondaryIndexes"] = [
                _index(i, provisioned, local=True) for i in inp["localSecondaryIndexes"]
            ]
        if inp.get("streamEnabled"):
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": inp["streamViewType"],
            }
        sse = inp.get("serverSideEncryption") or {}
        if sse.get("enabled"):
            kwargs["SSESpecification"] = {
                "Enabled": True,
                "SSEType": "KMS",
                **pick(sse, {"kmsKeyArn": "KMSMasterKeyId"}),
            }
        kwargs.update(
            pick(
                inp,
                {
                    "deletionProtectionEnabled": "DeletionProtectionEnabled",
                    "tableClass": "TableClass",
                },
            )
        )
        ctx.client("dynamodb").create_table(**kwargs)
        return self.adopt(ctx, res)

    def adopt(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        ddb = ctx.client("dynamodb")
        ddb.get_waiter("table_exists").wait(
            TableName=res.physical, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        self._extras(ctx, res.physical, inp, set(inp))
        return res.physical, self._outputs(ctx, res.physical)

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        inp = res.inputs
        ddb = ctx.client("dynamodb")
        kwargs: dict[str, Any] = {}
        if changed & {"billingMode", "readCapacity", "writeCapacity"}:
            billing = inp.get("billingMode") or "PROVISIONED"
            kwargs["BillingMode"] = billing
            if billing == "PROVISIONED":
                kwargs["ProvisionedThroughput"] = _throughput(inp)
        if changed & {"streamEnabled", "streamViewType"}:
            kwargs["StreamSpecification"] = (
                {"StreamEnabled": True, "StreamViewType": inp["streamViewType"]}
                if inp.get("streamEnabled")
                else {"StreamEnabled": False}
            )
        if "deletionProtectionEnabled" in changed:
            kwargs["DeletionProtectionEnabled"] = bool(inp.get("deletionProtectionEnabled"))
        if "tableClass" in changed and inp.get("tableClass"):
            kwargs["TableClass"] = inp["tableClass"]
        if kwargs:
            ddb.update_table(TableName=rid, **kwargs)
        self._extras(ctx, rid, inp, changed)
        return self._outputs(ctx, rid)

    @staticmethod
    def _extras(ctx: Context, name: str, inp: Mapping[str, Any], changed: set[str]) -> None:
        ddb = ctx.client("dynamodb")
        if "ttl" in changed and inp.get("ttl"):
            ttl = inp["ttl"]
            if ttl.get("enabled") or "ttl" in changed:
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={
                        "Enabled": bool(ttl.get("enabled")),
                        "AttributeName": ttl.get("attributeName") or "ttl",
                    },
                )
        if "pointInTimeRecovery" in changed and inp.get("pointInTimeRecovery"):
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": bool(inp["pointInTimeRecovery"].get("enabled"))
                },
            )

    @staticmethod
    def _outputs(ctx: Context, name: str) -> dict[str, Any]:
        table = ctx.client("dynamodb").describe_table(TableName=name)["Table"]
        return {
            "arn": table["TableArn"],
            "name": name,
            "streamArn": table.get("LatestStreamArn", ""),
            "streamLabel": table.get("LatestStreamLabel", ""),
        }

    def exists(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> bool | None:
        return probe(lambda: ctx.client("dynamodb").describe_table(TableName=rid))

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("dynamodb").delete_table(TableName=rid))


class ScalingTarget(Handler):
    typ = "aws:appautoscaling/target:Target"
    applies = frozenset(
        {
            "serviceNamespace",
            "resourceId",
            "scalableDimension",
            "minCapacity",
            "maxCapacity",
            "roleArn",
            "suspendedState",
        }
    )
    replace_on = frozenset({"serviceNamespace", "resourceId", "scalableDimension"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        return res.inputs["resourceId"], self._register(ctx, res.inputs)

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        return self._register(ctx, res.inputs)

    @staticmethod
    def _register(ctx: Context, inp: Mapping[str, Any]) -> dict[str, Any]:
        kwargs = pick(
            inp, {"minCapacity": "MinCapacity", "maxCapacity": "MaxCapacity", "roleArn": "RoleARN"}
        )
        if inp.get("suspendedState"):
            kwargs["SuspendedState"] = pascal(inp["suspendedState"])
        out = ctx.client("application-autoscaling").register_scalable_target(
            ServiceNamespace=inp["serviceNamespace"],
            ResourceId=inp["resourceId"],
            ScalableDimension=inp["scalableDimension"],
            **kwargs,
        )
        return {
            "arn": out.get("ScalableTargetARN", ""),
            "serviceNamespace": inp["serviceNamespace"],
            "scalableDimension": inp["scalableDimension"],
        }

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("application-autoscaling").deregister_scalable_target(
                ServiceNamespace=outputs["serviceNamespace"],
                ResourceId=rid,
                ScalableDimension=outputs["scalableDimension"],
            ),
            "ObjectNotFoundException",
        )


class ScalingPolicy(Handler):
    typ = "aws:appautoscaling/policy:Policy"
    applies = frozenset(
        {
            "name",
            "policyType",
            "serviceNamespace",
            "resourceId",
            "scalableDimension",
            "targetTrackingScalingPolicyConfiguration",
            "stepScalingPolicyConfiguration",
        }
    )
    replace_on = frozenset({"name", "serviceNamespace", "resourceId", "scalableDimension"})
    name_input = "name"
    name_max = 255

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        return res.physical, self._put(ctx, res)

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        return self._put(ctx, res)

    @staticmethod
    def _put(ctx: Context, res: Planned) -> dict[str, Any]:
        inp = res.inputs
        kwargs: dict[str, Any] = {"PolicyType": inp.get("policyType") or "StepScaling"}
        if inp.get("targetTrackingScalingPolicyConfiguration"):
            kwargs["TargetTrackingScalingPolicyConfiguration"] = pascal(
                inp["targetTrackingScalingPolicyConfiguration"]
            )
        if inp.get("stepScalingPolicyConfiguration"):
            kwargs["StepScalingPolicyConfiguration"] = pascal(inp["stepScalingPolicyConfiguration"])
        out = ctx.client("application-autoscaling").put_scaling_policy(
            PolicyName=res.physical,
            ServiceNamespace=inp["serviceNamespace"],
            ResourceId=inp["resourceId"],
            ScalableDimension=inp["scalableDimension"],
            **kwargs,
        )
        return {
            "arn": out["PolicyARN"],
            "name": res.physical,
            "alarmArns": [a["AlarmARN"] for a in out.get("Alarms", [])],
            "serviceNamespace": inp["serviceNamespace"],
            "resourceId": inp["resourceId"],
            "scalableDimension": inp["scalableDimension"],
        }

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("application-autoscaling").delete_scaling_policy(
                PolicyName=rid,
                ServiceNamespace=outputs["serviceNamespace"],
                ResourceId=outputs["resourceId"],
                ScalableDimension=outputs["scalableDimension"],
            ),
            "ObjectNotFoundException",
        )
