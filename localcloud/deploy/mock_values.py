"""Plausible physical ids, ARNs and URLs for mocked AWS resources.

The mock runtime has no provider, so nothing fills in the computed properties
(arn, url, invokeArn...). These follow AWS's formats so that everything the program
derives from them (policies scoped to ARNs, log groups from a function ARN, API
URLs) looks as it would on AWS. Deterministic: the same name gives the same id.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["physical_name", "plausible_outputs"]


def _digest(name: str, size: int = 7) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:size]


def physical_name(type_: str, name: str, inputs: dict[str, Any]) -> str:
    """The explicit `name` input, or Pulumi's autoname (logical name + random suffix)."""
    explicit = inputs.get("name")
    if isinstance(explicit, str) and explicit:
        return explicit
    suffix = ".fifo" if type_ == "aws:sqs/queue:Queue" and inputs.get("fifoQueue") else ""
    return f"{name}-{_digest(name)}{suffix}"


def plausible_outputs(
    type_: str, name: str, inputs: dict[str, Any], region: str, account: str
) -> tuple[str, dict[str, Any]]:
    """(id, computed outputs) for one registration; unknown types get an id only."""
    pname = physical_name(type_, name, inputs)
    arn_prefix = f"arn:aws:{{service}}:{region}:{account}"

    def arn(service: str, rest: str) -> str:
        return f"{arn_prefix.format(service=service)}:{rest}"

    if type_ == "aws:sqs/queue:Queue":
        url = f"https://sqs.{region}.amazonaws.com/{account}/{pname}"
        return url, {"name": pname, "arn": arn("sqs", pname), "url": url}
    if type_ == "aws:lambda/function:Function":
        function_arn = arn("lambda", f"function:{pname}")
        return pname, {
            "name": pname,
            "arn": function_arn,
            "qualifiedArn": f"{function_arn}:$LATEST",
            "version": "$LATEST",
            "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
            f"{function_arn}/invocations",
        }
    if type_ == "aws:lambda/layerVersion:LayerVersion":
        layer_name = inputs.get("layerName") or pname
        layer_arn = arn("lambda", f"layer:{layer_name}")
        return f"{layer_arn}:1", {"arn": f"{layer_arn}:1", "layerArn": layer_arn, "version": "1"}
    if type_ == "aws:lambda/eventSourceMapping:EventSourceMapping":
        uuid = f"{_digest(name, 8)}-0000-4000-8000-{_digest(name + 'uuid', 12)}"
        return uuid, {"uuid": uuid, "functionArn": inputs.get("functionName"), "state": "Enabled"}
    if type_ == "aws:iam/role:Role":
        return pname, {
            "name": pname,
            "arn": f"arn:aws:iam::{account}:role/{pname}",
            "uniqueId": f"AROA{_digest(name, 16).upper()}",
        }
    if type_ == "aws:iam/rolePolicy:RolePolicy":
        return f"{inputs.get('role')}:{pname}", {"name": pname}
    if type_ == "aws:sns/topic:Topic":
        topic_arn = arn("sns", pname)
        return topic_arn, {"name": pname, "arn": topic_arn}
    if type_ == "aws:sns/topicSubscription:TopicSubscription":
        sub_arn = f"{inputs.get('topic')}:{_digest(name, 8)}-0000-4000-8000-{_digest(name, 12)}"
        return sub_arn, {"arn": sub_arn}
    if type_ == "aws:dynamodb/table:Table":
        table_arn = arn("dynamodb", f"table/{pname}")
        return pname, {"name": pname, "arn": table_arn}
    if type_ == "aws:kinesis/stream:Stream":
        stream_arn = arn("kinesis", f"stream/{pname}")
        return stream_arn, {"name": pname, "arn": stream_arn}
    if type_ == "aws:sfn/stateMachine:StateMachine":
        sm_arn = arn("states", f"stateMachine:{pname}")
        return sm_arn, {"name": pname, "arn": sm_arn}
    if type_ == "aws:cloudwatch/eventBus:EventBus":
        return pname, {"name": pname, "arn": arn("events", f"event-bus/{pname}")}
    if type_ == "aws:cloudwatch/eventRule:EventRule":
        bus = inputs.get("eventBusName") or "default"
        return f"{bus}|{pname}", {"name": pname, "arn": arn("events", f"rule/{bus}/{pname}")}
    if type_ == "aws:cloudwatch/metricAlarm:MetricAlarm":
        return pname, {"name": pname, "arn": arn("cloudwatch", f"alarm:{pname}")}
    if type_ == "aws:apigateway/restApi:RestApi":
        api_id = _digest(name, 10)
        return api_id, {
            "name": pname,
            "rootResourceId": _digest(name + "root", 10),
            "executionArn": arn("execute-api", api_id),
            "arn": f"arn:aws:apigateway:{region}::/restapis/{api_id}",
        }
    if type_ == "aws:apigateway/resource:Resource":
        return _digest(name, 6), {"path": f"/{inputs.get('pathPart', '')}"}
    if type_ == "aws:apigateway/stage:Stage":
        rest_api, stage = inputs.get("restApi"), inputs.get("stageName")
        return f"ags-{rest_api}-{stage}", {
            "invokeUrl": f"https://{rest_api}.execute-api.{region}.amazonaws.com/{stage}",
            "executionArn": arn("execute-api", f"{rest_api}/{stage}"),
        }
    if type_ == "aws:apigateway/apiKey:ApiKey":
        key_id = _digest(name, 10)
        value = inputs.get("value") or hashlib.sha256(f"key:{name}".encode()).hexdigest()[:40]
        return key_id, {
            "name": pname,
            "value": value,
            "arn": f"arn:aws:apigateway:{region}::/apikeys/{key_id}",
        }
    if type_ == "aws:secretsmanager/secret:Secret":
        # Secrets Manager ends a secret's ARN with '-' and 6 random characters; its id is the ARN.
        secret_arn = arn("secretsmanager", f"secret:{pname}-{_digest(name, 6)}")
        return secret_arn, {"name": pname, "arn": secret_arn}
    if type_ == "aws:secretsmanager/secretVersion:SecretVersion":
        version = f"{_digest(name, 8)}-0000-4000-8000-{_digest(name + 'version', 12)}"
        secret = str(inputs.get("secretId"))
        return f"{secret}|{version}", {"arn": secret, "secretArn": secret, "versionId": version}
    if type_ == "aws:apigateway/usagePlan:UsagePlan":
        return _digest(name, 6), {"name": pname}
    if type_ == "aws:apigateway/deployment:Deployment":
        return _digest(name, 6), {}
    return f"{name}-id", {}
