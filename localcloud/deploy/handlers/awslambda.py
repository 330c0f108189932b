"""Lambda: Function, LayerVersion, EventSourceMapping, FunctionEventInvokeConfig, Permission."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from ..archive import zip_bytes
from ..exceptions import DeployError
from .base import Context, Handler, Planned, ignore_missing, num, pascal, pick, probe

_FUNCTION_CONFIG = {
    "role": "Role",
    "runtime": "Runtime",
    "handler": "Handler",
    "timeout": "Timeout",
    "memorySize": "MemorySize",
    "description": "Description",
    "layers": "Layers",
    "kmsKeyArn": "KMSKeyArn",
}


def _function_config(inputs: Mapping[str, Any]) -> dict[str, Any]:
    config = pick(inputs, _FUNCTION_CONFIG)
    config["Environment"] = {
        "Variables": dict((inputs.get("environment") or {}).get("variables") or {})
    }
    dlq = (inputs.get("deadLetterConfig") or {}).get("targetArn")
    config["DeadLetterConfig"] = {"TargetArn": dlq} if dlq else {}
    if inputs.get("tracingConfig"):
        config["TracingConfig"] = {"Mode": inputs["tracingConfig"]["mode"]}
    if inputs.get("ephemeralStorage"):
        config["EphemeralStorage"] = {"Size": num(inputs["ephemeralStorage"]["size"])}
    if inputs.get("loggingConfig"):
        config["LoggingConfig"] = pascal(inputs["loggingConfig"])
    return config


class Function(Handler):
    typ = "aws:lambda/function:Function"
    applies = frozenset(_FUNCTION_CONFIG) | {
        "name",
        "code",
        "environment",
        "deadLetterConfig",
        "tracingConfig",
        "ephemeralStorage",
        "loggingConfig",
        "reservedConcurrentExecutions",
        "architectures",
        "packageType",
        "publish",
        "sourceCodeHash",
    }
    # Not applied: the local runtime runs functions on the host, outside any VPC.
    ignores = frozenset({"vpcConfig", "skipDestroy"})
    replace_on = frozenset({"name", "packageType"})
    name_input = "name"
    already_exists = frozenset({"ResourceConflictException"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        if res.inputs.get("packageType", "Zip") != "Zip" or "code" not in res.inputs:
            raise DeployError(
                f"function {res.name!r}: only zip code given as `code` is supported "
                "(no image, no S3 object)"
            )
        code = zip_bytes(res.inputs["code"], ctx.base_dir)
        lam = ctx.client("lambda")
        lam.create_function(
            FunctionName=res.physical,
            Code={"ZipFile": code},
            Architectures=list(res.inputs.get("architectures") or ["x86_64"]),
            Publish=bool(res.inputs.get("publish", False)),
            **_function_config(res.inputs),
        )
        return self._finish(ctx, res, code)

    def adopt(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        # The same zip the create call sent: a retried create carried exactly these inputs.
        return self._finish(ctx, res, zip_bytes(res.inputs["code"], ctx.base_dir))

    def _finish(self, ctx: Context, res: Planned, code: bytes) -> tuple[str, dict[str, Any]]:
        lam = ctx.client("lambda")
        lam.get_waiter("function_active_v2").wait(
            FunctionName=res.physical, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )
        self._concurrency(ctx, res)
        return res.physical, self._outputs(ctx, res.physical, code)

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        lam = ctx.client("lambda")
        waiter = lam.get_waiter("function_updated_v2")
        wait = {"FunctionName": rid, "WaiterConfig": {"Delay": 1, "MaxAttempts": 120}}
        code = zip_bytes(res.inputs["code"], ctx.base_dir)
        if changed & {"code", "architectures", "sourceCodeHash"}:
            lam.update_function_code(
                FunctionName=rid,
                ZipFile=code,
                Architectures=list(res.inputs.get("architectures") or ["x86_64"]),
            )
            waiter.wait(**wait)
        if changed - {
            "code",
            "architectures",
            "sourceCodeHash",
            "reservedConcurrentExecutions",
            "publish",
        }:
            lam.update_function_configuration(FunctionName=rid, **_function_config(res.inputs))
            waiter.wait(**wait)
        if "reservedConcurrentExecutions" in changed:
            self._concurrency(ctx, res, rid)
        return self._outputs(ctx, rid, code)

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("lambda").delete_function(FunctionName=rid))

    def exists(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> bool | None:
        return probe(lambda: ctx.client("lambda").get_function(FunctionName=rid))

    @staticmethod
    def _concurrency(ctx: Context, res: Planned, rid: str | None = None) -> None:
        name = rid or res.physical
        reserved = num(res.inputs.get("reservedConcurrentExecutions", -1))
        lam = ctx.client("lambda")
        # -1 is pulumi-aws's "unreserved".
        if reserved is None or reserved < 0:
            ignore_missing(lambda: lam.delete_function_concurrency(FunctionName=name))
        else:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)

    @staticmethod
    def _outputs(ctx: Context, name: str, code: bytes) -> dict[str, Any]:
        config = ctx.client("lambda").get_function_configuration(FunctionName=name)
        arn = config["FunctionArn"]
        version = config.get("Version", "$LATEST")
        return {
            "arn": arn,
            "name": name,
            "invokeArn": (
                f"arn:aws:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/"
                f"{arn}/invocations"
            ),
            "qualifiedArn": f"{arn}:{version}",
            "qualifiedInvokeArn": (
                f"arn:aws:apigateway:{ctx.region}:lambda:path/2015-03-31/"
                f"functions/{arn}:{version}/invocations"
            ),
            "version": version,
            "lastModified": str(config.get("LastModified", "")),
            "codeSha256": base64.b64encode(hashlib.sha256(code).digest()).decode(),
            "sourceCodeSize": len(code),
        }


class LayerVersion(Handler):
    typ = "aws:lambda/layerVersion:LayerVersion"
    applies = frozenset(
        {
            "layerName",
            "code",
            "compatibleRuntimes",
            "compatibleArchitectures",
            "description",
            "licenseInfo",
            "skipDestroy",
            "sourceCodeHash",
        }
    )
    # Layer versions are immutable: any change publishes a new version.
    replace_on_any = True

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        if not res.inputs.get("layerName"):
            raise DeployError(f"layer {res.name!r}: layerName is required")
        code = zip_bytes(res.inputs["code"], ctx.base_dir)
        kwargs = pick(
            res.inputs,
            {
                "compatibleRuntimes": "CompatibleRuntimes",
                "compatibleArchitectures": "CompatibleArchitectures",
                "description": "Description",
                "licenseInfo": "LicenseInfo",
            },
        )
        out = ctx.client("lambda").publish_layer_version(
            LayerName=res.inputs["layerName"], Content={"ZipFile": code}, **kwargs
        )
        return out["LayerVersionArn"], {
            "arn": out["LayerVersionArn"],
            "layerArn": out["LayerArn"],
            "version": str(out["Version"]),
            "codeSha256": out.get("Content", {}).get("CodeSha256", ""),
            "skipDestroy": bool(res.inputs.get("skipDestroy", False)),
        }

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        if outputs.get("skipDestroy"):
            return
        layer_arn, version = rid.rsplit(":", 1)
        ignore_missing(
            lambda: ctx.client("lambda").delete_layer_version(
                LayerName=layer_arn, VersionNumber=int(version)
            )
        )


_ESM_FIELDS = {
    "batchSize": "BatchSize",
    "maximumBatchingWindowInSeconds": "MaximumBatchingWindowInSeconds",
    "enabled": "Enabled",
    "bisectBatchOnFunctionError": "BisectBatchOnFunctionError",
    "maximumRetryAttempts": "MaximumRetryAttempts",
    "maximumRecordAgeInSeconds": "MaximumRecordAgeInSeconds",
    "parallelizationFactor": "ParallelizationFactor",
    "functionResponseTypes": "FunctionResponseTypes",
    "tumblingWindowInSeconds": "TumblingWindowInSeconds",
}


def _esm_settings(inputs: Mapping[str, Any]) -> dict[str, Any]:
    kwargs = pick(inputs, _ESM_FIELDS)
    on_failure = ((inputs.get("destinationConfig") or {}).get("onFailure") or {}).get(
        "destinationArn"
    )
    if on_failure:
        kwargs["DestinationConfig"] = {"OnFailure": {"Destination": on_failure}}
    if inputs.get("scalingConfig"):
        kwargs["ScalingConfig"] = pascal(inputs["scalingConfig"])
    if inputs.get("filterCriteria"):
        kwargs["FilterCriteria"] = {
            "Filters": [
                {"Pattern": f["pattern"]} for f in inputs["filterCriteria"].get("filters", [])
            ]
        }
    return kwargs


class EventSourceMapping(Handler):
    typ = "aws:lambda/eventSourceMapping:EventSourceMapping"
    applies = frozenset(_ESM_FIELDS) | {
        "eventSourceArn",
        "functionName",
        "startingPosition",
        "startingPositionTimestamp",
        "destinationConfig",
        "scalingConfig",
        "filterCriteria",
    }
    replace_on = frozenset({"eventSourceArn", "startingPosition", "startingPositionTimestamp"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        kwargs = _esm_settings(res.inputs)
        if res.inputs.get("startingPosition"):
            kwargs["StartingPosition"] = res.inputs["startingPosition"]
        if res.inputs.get("startingPositionTimestamp"):
            kwargs["StartingPositionTimestamp"] = res.inputs["startingPositionTimestamp"]
        out = ctx.client("lambda").create_event_source_mapping(
            EventSourceArn=res.inputs["eventSourceArn"],
            FunctionName=res.inputs["functionName"],
            **kwargs,
        )
        return out["UUID"], self._outputs(out)

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        out = ctx.client("lambda").update_event_source_mapping(
            UUID=rid, FunctionName=res.inputs["functionName"], **_esm_settings(res.inputs)
        )
        return self._outputs(out)

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("lambda").delete_event_source_mapping(UUID=rid))

    @staticmethod
    def _outputs(out: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "uuid": out["UUID"],
            "functionArn": out.get("FunctionArn"),
            "arn": out.get("EventSourceMappingArn", ""),
            "state": out.get("State", ""),
            "lastModified": str(out.get("LastModified", "")),
        }


class FunctionEventInvokeConfig(Handler):
    typ = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
    applies = frozenset(
        {
            "functionName",
            "qualifier",
            "maximumRetryAttempts",
            "maximumEventAgeInSeconds",
            "destinationConfig",
        }
    )
    replace_on = frozenset({"functionName", "qualifier"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        self._put(ctx, res.inputs)
        rid = res.inputs["functionName"]
        if res.inputs.get("qualifier"):
            rid = f"{rid}:{res.inputs['qualifier']}"
        return rid, {}

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        # Put replaces the whole config, so settings removed from the program are removed here.
        self._put(ctx, res.inputs)
        return {}

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        name, _, qualifier = rid.partition(":") if not rid.startswith("arn:") else (rid, "", "")
        kwargs = {"Qualifier": qualifier} if qualifier else {}
        ignore_missing(
            lambda: ctx.client("lambda").delete_function_event_invoke_config(
                FunctionName=name, **kwargs
            )
        )

    @staticmethod
    def _put(ctx: Context, inputs: Mapping[str, Any]) -> None:
        kwargs = pick(
            inputs,
            {
                "qualifier": "Qualifier",
                "maximumRetryAttempts": "MaximumRetryAttempts",
                "maximumEventAgeInSeconds": "MaximumEventAgeInSeconds",
            },
        )
        destinations = {}
        for key, api in (("onFailure", "OnFailure"), ("onSuccess", "OnSuccess")):
            target = ((inputs.get("destinationConfig") or {}).get(key) or {}).get("destination")
            if target:
                destinations[api] = {"Destination": target}
        if destinations:
            kwargs["DestinationConfig"] = destinations
        ctx.client("lambda").put_function_event_invoke_config(
            FunctionName=inputs["functionName"], **kwargs
        )


class Permission(Handler):
    typ = "aws:lambda/permission:Permission"
    applies = frozenset(
        {
            "action",
            "function",
            "principal",
            "sourceArn",
            "sourceAccount",
            "statementId",
            "statementIdPrefix",
            "qualifier",
            "eventSourceToken",
            "principalOrgId",
            "functionUrlAuthType",
        }
    )
    replace_on_any = True  # the API has no update: every field forces a new statement
    name_input = "statementId"
    name_max = 100

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        kwargs = pick(
            res.inputs,
            {
                "sourceArn": "SourceArn",
                "sourceAccount": "SourceAccount",
                "qualifier": "Qualifier",
                "eventSourceToken": "EventSourceToken",
                "principalOrgId": "PrincipalOrgID",
                "functionUrlAuthType": "FunctionUrlAuthType",
            },
        )
        ctx.client("lambda").add_permission(
            FunctionName=res.inputs["function"],
            StatementId=res.physical,
            Action=res.inputs["action"],
            Principal=res.inputs["principal"],
            **kwargs,
        )
        return res.physical, {"function": res.inputs["function"], "statementId": res.physical}

    def physical_name(
        self, name: str, inputs: Mapping[str, Any], previous: str | None
    ) -> str | None:
        if not inputs.get("statementId") and inputs.get("statementIdPrefix"):
            inputs = {**inputs, "namePrefix": inputs["statementIdPrefix"]}
        return super().physical_name(name, inputs, previous)

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("lambda").remove_permission(
                FunctionName=outputs["function"], StatementId=rid
            )
        )
