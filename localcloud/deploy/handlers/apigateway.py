"""API Gateway REST: RestApi, Resource, Method, Integration, Deployment, Stage, ApiKey,
UsagePlan, UsagePlanKey."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Context, Handler, Planned, ignore_missing, num, pick


def invoke_url(endpoint: str, api_id: str, stage: str) -> str:
    """The stage's URL on the local cloud (its API Gateway module owns the format)."""
    try:
        from localcloud.apigateway import invoke_url as local_invoke_url
    except ImportError:  # the local cloud's API Gateway front door is not there yet
        return f"{endpoint.rstrip('/')}/restapis/{api_id}/{stage}/_user_request_/"
    return local_invoke_url(endpoint, api_id, stage)


def _replace_ops(pairs: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"op": "replace", "path": path, "value": _patch_value(v)} for path, v in pairs.items()]


def _patch_value(value: Any) -> str:
    value = num(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class RestApi(Handler):
    typ = "aws:apigateway/restApi:RestApi"
    applies = frozenset(
        {
            "name",
            "description",
            "endpointConfiguration",
            "apiKeySource",
            "binaryMediaTypes",
            "minimumCompressionSize",
            "policy",
            "disableExecuteApiEndpoint",
        }
    )
    # `body` (an OpenAPI document) is not emulated; it is reported as an unsupported input.
    ignores = frozenset({"putRestApiMode", "failOnWarnings"})
    name_input = "name"
    name_max = 255

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        kwargs = pick(
            inp,
            {
                "description": "description",
                "apiKeySource": "apiKeySource",
                "binaryMediaTypes": "binaryMediaTypes",
                "policy": "policy",
                "minimumCompressionSize": "minimumCompressionSize",
                "disableExecuteApiEndpoint": "disableExecuteApiEndpoint",
            },
        )
        if inp.get("endpointConfiguration"):
            kwargs["endpointConfiguration"] = {
                "types": list(inp["endpointConfiguration"].get("types") or ["EDGE"])
            }
        api = ctx.client("apigateway").create_rest_api(name=res.physical, **kwargs)
        api_id = api["id"]
        return api_id, {
            "name": res.physical,
            "rootResourceId": api["rootResourceId"],
            "executionArn": f"arn:aws:execute-api:{ctx.region}:{ctx.account_id}:{api_id}",
            "arn": f"arn:aws:apigateway:{ctx.region}::/restapis/{api_id}",
            "createdDate": str(api.get("createdDate", "")),
        }

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        paths = {
            "name": "/name",
            "description": "/description",
            "apiKeySource": "/apiKeySource",
            "minimumCompressionSize": "/minimumCompressionSize",
            "disableExecuteApiEndpoint": "/disableExecuteApiEndpoint",
            "policy": "/policy",
        }
        unsupported = changed - set(paths)
        if unsupported:
            raise RuntimeError(f"cannot update {sorted(unsupported)} in place")
        ops = {paths[k]: res.inputs.get(k) for k in changed}
        if "name" in changed:
            ops["/name"] = res.physical
        ctx.client("apigateway").update_rest_api(restApiId=rid, patchOperations=_replace_ops(ops))
        return {**old, "name": res.physical}

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("apigateway").delete_rest_api(restApiId=rid))


class Resource(Handler):
    typ = "aws:apigateway/resource:Resource"
    applies = frozenset({"restApi", "parentId", "pathPart"})
    replace_on_any = True

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        out = ctx.client("apigateway").create_resource(
            restApiId=res.inputs["restApi"],
            parentId=res.inputs["parentId"],
            pathPart=res.inputs["pathPart"],
        )
        return out["id"], {"path": out.get("path", ""), "restApi": res.inputs["restApi"]}

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("apigateway").delete_resource(
                restApiId=outputs["restApi"], resourceId=rid
            )
        )


class Method(Handler):
    typ = "aws:apigateway/method:Method"
    applies = frozenset(
        {
            "restApi",
            "resourceId",
            "httpMethod",
            "authorization",
            "authorizerId",
            "apiKeyRequired",
            "requestParameters",
            "requestModels",
            "operationName",
            "requestValidatorId",
            "authorizationScopes",
        }
    )
    replace_on = frozenset(
        {
            "restApi",
            "resourceId",
            "httpMethod",
            "requestParameters",
            "requestModels",
            "authorizationScopes",
        }
    )

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        kwargs = pick(
            inp,
            {
                "authorizerId": "authorizerId",
                "apiKeyRequired": "apiKeyRequired",
                "requestParameters": "requestParameters",
                "requestModels": "requestModels",
                "operationName": "operationName",
                "requestValidatorId": "requestValidatorId",
                "authorizationScopes": "authorizationScopes",
            },
        )
        ctx.client("apigateway").put_method(
            restApiId=inp["restApi"],
            resourceId=inp["resourceId"],
            httpMethod=inp["httpMethod"],
            authorizationType=inp["authorization"],
            **kwargs,
        )
        rid = f"agm-{inp['restApi']}-{inp['resourceId']}-{inp['httpMethod']}"
        return rid, self._key(inp)

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        paths = {
            "authorization": "/authorizationType",
            "authorizerId": "/authorizerId",
            "apiKeyRequired": "/apiKeyRequired",
            "operationName": "/operationName",
            "requestValidatorId": "/requestValidatorId",
        }
        ops = {paths[k]: res.inputs.get(k) for k in changed}
        ctx.client("apigateway").update_method(
            restApiId=old["restApi"],
            resourceId=old["resourceId"],
            httpMethod=old["httpMethod"],
            patchOperations=_replace_ops(ops),
        )
        return dict(old)

    @staticmethod
    def _key(inp: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "restApi": inp["restApi"],
            "resourceId": inp["resourceId"],
            "httpMethod": inp["httpMethod"],
        }

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("apigateway").delete_method(
                restApiId=outputs["restApi"],
                resourceId=outputs["resourceId"],
                httpMethod=outputs["httpMethod"],
            )
        )


class Integration(Handler):
    typ = "aws:apigateway/integration:Integration"
    applies = frozenset(
        {
            "restApi",
            "resourceId",
            "httpMethod",
            "type",
            "integrationHttpMethod",
            "uri",
            "credentials",
            "requestParameters",
            "requestTemplates",
            "passthroughBehavior",
            "timeoutMilliseconds",
            "contentHandling",
            "cacheKeyParameters",
            "cacheNamespace",
            "connectionType",
            "connectionId",
        }
    )
    replace_on = frozenset({"restApi", "resourceId", "httpMethod"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        self._put(ctx, res.inputs)
        inp = res.inputs
        rid = f"agi-{inp['restApi']}-{inp['resourceId']}-{inp['httpMethod']}"
        return rid, Method._key(inp)

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        # PutIntegration overwrites the whole integration: the simplest faithful update.
        self._put(ctx, res.inputs)
        return dict(old)

    @staticmethod
    def _put(ctx: Context, inp: Mapping[str, Any]) -> None:
        kwargs = pick(
            inp,
            {
                "integrationHttpMethod": "integrationHttpMethod",
                "uri": "uri",
                "credentials": "credentials",
                "requestParameters": "requestParameters",
                "requestTemplates": "requestTemplates",
                "passthroughBehavior": "passthroughBehavior",
                "timeoutMilliseconds": "timeoutInMillis",
                "contentHandling": "contentHandling",
                "cacheKeyParameters": "cacheKeyParameters",
                "cacheNamespace": "cacheNamespace",
                "connectionType": "connectionType",
                "connectionId": "connectionId",
            },
        )
        ctx.client("apigateway").put_integration(
            restApiId=inp["restApi"],
            resourceId=inp["resourceId"],
            httpMethod=inp["httpMethod"],
            type=inp["type"],
            **kwargs,
        )

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("apigateway").delete_integration(
                restApiId=outputs["restApi"],
                resourceId=outputs["resourceId"],
                httpMethod=outputs["httpMethod"],
            )
        )


class Deployment(Handler):
    typ = "aws:apigateway/deployment:Deployment"
    applies = frozenset(
        {"restApi", "description", "triggers", "variables", "stageName", "stageDescription"}
    )
    # A deployment is a snapshot: anything new is a new deployment (as pulumi-aws's triggers).
    replace_on_any = True

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        kwargs = pick(
            inp,
            {
                "description": "description",
                "stageName": "stageName",
                "stageDescription": "stageDescription",
                "variables": "variables",
            },
        )
        out = ctx.client("apigateway").create_deployment(restApiId=inp["restApi"], **kwargs)
        return out["id"], {
            "restApi": inp["restApi"],
            "createdDate": str(out.get("createdDate", "")),
        }

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("apigateway").delete_deployment(
                restApiId=outputs["restApi"], deploymentId=rid
            )
        )


class Stage(Handler):
    typ = "aws:apigateway/stage:Stage"
    applies = frozenset(
        {
            "restApi",
            "deployment",
            "stageName",
            "description",
            "variables",
            "cacheClusterEnabled",
            "cacheClusterSize",
            "xrayTracingEnabled",
        }
    )
    # Access logs would go to CloudWatch Logs, which nothing in the local cloud reads.
    ignores = frozenset(
        {"accessLogSettings", "documentationVersion", "clientCertificateId", "canarySettings"}
    )
    replace_on = frozenset({"restApi", "stageName"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        kwargs = pick(
            inp,
            {
                "description": "description",
                "variables": "variables",
                "cacheClusterEnabled": "cacheClusterEnabled",
                "cacheClusterSize": "cacheClusterSize",
                "xrayTracingEnabled": "tracingEnabled",
            },
        )
        ctx.client("apigateway").create_stage(
            restApiId=inp["restApi"],
            stageName=inp["stageName"],
            deploymentId=inp["deployment"],
            **kwargs,
        )
        api, stage = inp["restApi"], inp["stageName"]
        return f"ags-{api}-{stage}", {
            "restApi": api,
            "stageName": stage,
            "invokeUrl": invoke_url(ctx.endpoint, api, stage),
            "executionArn": f"arn:aws:execute-api:{ctx.region}:{ctx.account_id}:{api}/{stage}",
            "arn": f"arn:aws:apigateway:{ctx.region}::/restapis/{api}/stages/{stage}",
        }

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        paths = {
            "deployment": "/deploymentId",
            "description": "/description",
            "cacheClusterEnabled": "/cacheClusterEnabled",
            "cacheClusterSize": "/cacheClusterSize",
            "xrayTracingEnabled": "/tracingEnabled",
        }
        ops = _replace_ops({paths[k]: res.inputs.get(k) for k in changed if k in paths})
        if "variables" in changed:
            ops += [
                {"op": "replace", "path": f"/variables/{k}", "value": str(v)}
                for k, v in (res.inputs.get("variables") or {}).items()
            ]
        ctx.client("apigateway").update_stage(
            restApiId=old["restApi"], stageName=old["stageName"], patchOperations=ops
        )
        return dict(old)

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("apigateway").delete_stage(
                restApiId=outputs["restApi"], stageName=outputs["stageName"]
            )
        )


class ApiKey(Handler):
    typ = "aws:apigateway/apiKey:ApiKey"
    applies = frozenset({"name", "description", "enabled", "value", "customerId"})
    replace_on = frozenset({"value"})
    name_input = "name"
    name_max = 1024

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        kwargs = pick(
            inp, {"description": "description", "value": "value", "customerId": "customerId"}
        )
        out = ctx.client("apigateway").create_api_key(
            name=res.physical, enabled=bool(inp.get("enabled", True)), **kwargs
        )
        return out["id"], {
            "name": res.physical,
            "value": out["value"],
            "arn": f"arn:aws:apigateway:{ctx.region}::/apikeys/{out['id']}",
        }

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        paths = {
            "name": "/name",
            "description": "/description",
            "enabled": "/enabled",
            "customerId": "/customerId",
        }
        ops = {paths[k]: res.inputs.get(k) for k in changed}
        if "enabled" in changed and res.inputs.get("enabled") is None:
            ops["/enabled"] = True
        if "name" in changed:
            ops["/name"] = res.physical
        ctx.client("apigateway").update_api_key(apiKey=rid, patchOperations=_replace_ops(ops))
        return {**old, "name": res.physical}

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("apigateway").delete_api_key(apiKey=rid))


class UsagePlan(Handler):
    typ = "aws:apigateway/usagePlan:UsagePlan"
    applies = frozenset(
        {"name", "description", "apiStages", "throttleSettings", "quotaSettings", "productCode"}
    )
    # Stage lists are patched with add/remove in AWS; here a change replaces the plan, and
    # its UsagePlanKeys follow because they reference the plan's id.
    replace_on = frozenset({"apiStages"})
    name_input = "name"
    name_max = 1024

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        kwargs = pick(inp, {"description": "description", "productCode": "productCode"})
        stages = []
        for stage in inp.get("apiStages") or []:
            entry: dict[str, Any] = {"apiId": stage["apiId"], "stage": stage["stage"]}
            if stage.get("throttles"):
                entry["throttle"] = {
                    t["path"]: pick(t, {"burstLimit": "burstLimit", "rateLimit": "rateLimit"})
                    for t in stage["throttles"]
                }
            stages.append(entry)
        if stages:
            kwargs["apiStages"] = stages
        if inp.get("throttleSettings"):
            kwargs["throttle"] = pick(
                inp["throttleSettings"], {"burstLimit": "burstLimit", "rateLimit": "rateLimit"}
            )
        if inp.get("quotaSettings"):
            kwargs["quota"] = pick(
                inp["quotaSettings"], {"limit": "limit", "offset": "offset", "period": "period"}
            )
        out = ctx.client("apigateway").create_usage_plan(name=res.physical, **kwargs)
        return out["id"], {
            "name": res.physical,
            "arn": f"arn:aws:apigateway:{ctx.region}::/usageplans/{out['id']}",
        }

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        inp = res.inputs
        ops: dict[str, Any] = {}
        if "name" in changed:
            ops["/name"] = res.physical
        if "description" in changed:
            ops["/description"] = inp.get("description")
        if "productCode" in changed:
            ops["/productCode"] = inp.get("productCode")
        for key, prefix, fields in (
            ("throttleSettings", "/throttle", ("burstLimit", "rateLimit")),
            ("quotaSettings", "/quota", ("limit", "offset", "period")),
        ):
            if key in changed:
                for field in fields:
                    ops[f"{prefix}/{field}"] = (inp.get(key) or {}).get(field)
        ctx.client("apigateway").update_usage_plan(
            usagePlanId=rid, patchOperations=_replace_ops(ops)
        )
        return {**old, "name": res.physical}

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(lambda: ctx.client("apigateway").delete_usage_plan(usagePlanId=rid))


class UsagePlanKey(Handler):
    typ = "aws:apigateway/usagePlanKey:UsagePlanKey"
    applies = frozenset({"keyId", "keyType", "usagePlanId"})
    replace_on_any = True

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        out = ctx.client("apigateway").create_usage_plan_key(
            usagePlanId=inp["usagePlanId"], keyId=inp["keyId"], keyType=inp["keyType"]
        )
        return out["id"], {
            "name": out.get("name", ""),
            "value": out.get("value", ""),
            "usagePlanId": inp["usagePlanId"],
        }

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        ignore_missing(
            lambda: ctx.client("apigateway").delete_usage_plan_key(
                usagePlanId=outputs["usagePlanId"], keyId=rid
            )
        )
