"""Read each deployed resource back through boto3 and compare it with the program's inputs.

Used by tests/local/test_deploy*.py: `mismatches(record, client)` lists every setting the
cloud holds differently from what the state file says the program asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

Client = Callable[[str], Any]
Checker = Callable[[Mapping[str, Any], Mapping[str, Any], str, Client], list[str]]


def _same(label: str, want: Any, got: Any) -> list[str]:
    if want is None:
        return []
    if isinstance(want, float) and want.is_integer():
        want = int(want)
    return [] if want == got else [f"{label}: program {want!r}, cloud {got!r}"]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else value


def _queue(i: Mapping[str, Any], o: Mapping[str, Any], rid: str, aws: Client) -> list[str]:
    a = aws("sqs").get_queue_attributes(QueueUrl=rid, AttributeNames=["All"])["Attributes"]
    out = []
    for key, attr in (
        ("visibilityTimeoutSeconds", "VisibilityTimeout"),
        ("messageRetentionSeconds", "MessageRetentionPeriod"),
        ("delaySeconds", "DelaySeconds"),
        ("receiveWaitTimeSeconds", "ReceiveMessageWaitTimeSeconds"),
        ("maxMessageSize", "MaximumMessageSize"),
    ):
        if i.get(key) is not None:
            out += _same(key, str(int(i[key])), a.get(attr))
    if i.get("redrivePolicy"):
        want = _json(i["redrivePolicy"])
        got = _json(a.get("RedrivePolicy"))
        out += _same(
            "redrivePolicy",
            {k: str(v) for k, v in want.items()},
            {k: str(v) for k, v in (got or {}).items()},
        )
    for key, attr in (
        ("sqsManagedSseEnabled", "SqsManagedSseEnabled"),
        ("fifoQueue", "FifoQueue"),
        ("contentBasedDeduplication", "ContentBasedDeduplication"),
    ):
        if i.get(key) is not None:
            out += _same(key, str(bool(i[key])).lower(), a.get(attr, "false"))
    if i.get("kmsMasterKeyId"):
        out += _same("kmsMasterKeyId", i["kmsMasterKeyId"], a.get("KmsMasterKeyId"))
    return out


def _queue_policy(i, o, rid, aws) -> list[str]:
    a = aws("sqs").get_queue_attributes(QueueUrl=rid, AttributeNames=["Policy"])["Attributes"]
    return _same("policy", _json(i["policy"]), _json(a.get("Policy")))


def _function(i, o, rid, aws) -> list[str]:
    lam = aws("lambda")
    c = lam.get_function_configuration(FunctionName=rid)
    out = []
    for key, api in (
        ("timeout", "Timeout"),
        ("memorySize", "MemorySize"),
        ("handler", "Handler"),
        ("runtime", "Runtime"),
        ("role", "Role"),
    ):
        out += _same(key, i.get(key), c.get(api))
    out += _same(
        "environment",
        (i.get("environment") or {}).get("variables") or {},
        (c.get("Environment") or {}).get("Variables") or {},
    )
    out += _same("layers", list(i.get("layers") or []), [x["Arn"] for x in c.get("Layers", [])])
    dlq = (i.get("deadLetterConfig") or {}).get("targetArn")
    out += _same("deadLetterConfig", dlq, (c.get("DeadLetterConfig") or {}).get("TargetArn"))
    reserved = i.get("reservedConcurrentExecutions")
    if reserved is not None and reserved >= 0:
        got = lam.get_function_concurrency(FunctionName=rid).get("ReservedConcurrentExecutions")
        out += _same("reservedConcurrentExecutions", reserved, got)
    return out


def _layer(i, o, rid, aws) -> list[str]:
    layer_arn, version = rid.rsplit(":", 1)
    v = aws("lambda").get_layer_version(LayerName=layer_arn, VersionNumber=int(version))
    return _same("compatibleRuntimes", i.get("compatibleRuntimes"), v.get("CompatibleRuntimes"))


def _mapping(i, o, rid, aws) -> list[str]:
    m = aws("lambda").get_event_source_mapping(UUID=rid)
    out = _same("eventSourceArn", i.get("eventSourceArn"), m.get("EventSourceArn"))
    for key, api in (
        ("batchSize", "BatchSize"),
        ("maximumBatchingWindowInSeconds", "MaximumBatchingWindowInSeconds"),
        ("functionResponseTypes", "FunctionResponseTypes"),
        ("bisectBatchOnFunctionError", "BisectBatchOnFunctionError"),
        ("maximumRetryAttempts", "MaximumRetryAttempts"),
        ("maximumRecordAgeInSeconds", "MaximumRecordAgeInSeconds"),
        ("startingPosition", "StartingPosition"),
    ):
        out += _same(key, i.get(key), m.get(api))
    if i.get("scalingConfig"):
        out += _same(
            "scalingConfig.maximumConcurrency",
            i["scalingConfig"].get("maximumConcurrency"),
            (m.get("ScalingConfig") or {}).get("MaximumConcurrency"),
        )
    dest = ((i.get("destinationConfig") or {}).get("onFailure") or {}).get("destinationArn")
    out += _same(
        "destinationConfig.onFailure",
        dest,
        ((m.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
    )
    return out


def _invoke_config(i, o, rid, aws) -> list[str]:
    c = aws("lambda").get_function_event_invoke_config(FunctionName=i["functionName"])
    out = _same(
        "maximumRetryAttempts", i.get("maximumRetryAttempts"), c.get("MaximumRetryAttempts")
    )
    out += _same(
        "maximumEventAgeInSeconds",
        i.get("maximumEventAgeInSeconds"),
        c.get("MaximumEventAgeInSeconds"),
    )
    for key, api in (("onFailure", "OnFailure"), ("onSuccess", "OnSuccess")):
        want = ((i.get("destinationConfig") or {}).get(key) or {}).get("destination")
        got = ((c.get("DestinationConfig") or {}).get(api) or {}).get("Destination")
        out += _same(f"destinationConfig.{key}", want, got)
    return out


def _permission(i, o, rid, aws) -> list[str]:
    policy = json.loads(aws("lambda").get_policy(FunctionName=i["function"])["Policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    if rid not in statements:
        return [f"statement {rid} missing from {i['function']}'s policy"]
    st = statements[rid]
    out = _same("action", i["action"], st["Action"])
    source = ((st.get("Condition") or {}).get("ArnLike") or {}).get("AWS:SourceArn")
    return out + _same("sourceArn", i.get("sourceArn"), source)


def _role(i, o, rid, aws) -> list[str]:
    role = aws("iam").get_role(RoleName=rid)["Role"]
    return _same(
        "assumeRolePolicy", _json(i["assumeRolePolicy"]), _json(role["AssumeRolePolicyDocument"])
    )


def _role_policy(i, o, rid, aws) -> list[str]:
    role, _, name = rid.partition(":")
    doc = aws("iam").get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    return _same("policy", _json(i["policy"]), _json(doc))


def _attachment(i, o, rid, aws) -> list[str]:
    attached = aws("iam").list_attached_role_policies(RoleName=i["role"])["AttachedPolicies"]
    return _same("policyArn", True, i["policyArn"] in {p["PolicyArn"] for p in attached})


def _policy(i, o, rid, aws) -> list[str]:
    iam = aws("iam")
    version = iam.get_policy(PolicyArn=rid)["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=rid, VersionId=version)["PolicyVersion"]["Document"]
    return _same("policy", _json(i["policy"]), _json(doc))


def _topic(i, o, rid, aws) -> list[str]:
    a = aws("sns").get_topic_attributes(TopicArn=rid)["Attributes"]
    return _same("kmsMasterKeyId", i.get("kmsMasterKeyId"), a.get("KmsMasterKeyId"))


def _subscription(i, o, rid, aws) -> list[str]:
    a = aws("sns").get_subscription_attributes(SubscriptionArn=rid)["Attributes"]
    out = _same("endpoint", i["endpoint"], a.get("Endpoint"))
    out += _same("protocol", i["protocol"], a.get("Protocol"))
    if i.get("filterPolicy"):
        out += _same("filterPolicy", _json(i["filterPolicy"]), _json(a.get("FilterPolicy")))
    if i.get("redrivePolicy"):
        out += _same("redrivePolicy", _json(i["redrivePolicy"]), _json(a.get("RedrivePolicy")))
    if i.get("rawMessageDelivery") is not None:
        out += _same(
            "rawMessageDelivery",
            str(bool(i["rawMessageDelivery"])).lower(),
            a.get("RawMessageDelivery"),
        )
    return out


def _table(i, o, rid, aws) -> list[str]:
    t = aws("dynamodb").describe_table(TableName=rid)["Table"]
    billing = (t.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    out = _same("billingMode", i.get("billingMode") or "PROVISIONED", billing)
    keys = {k["KeyType"]: k["AttributeName"] for k in t["KeySchema"]}
    out += _same("hashKey", i["hashKey"], keys.get("HASH"))
    out += _same("rangeKey", i.get("rangeKey"), keys.get("RANGE"))
    if billing == "PROVISIONED":
        out += _same(
            "readCapacity", i.get("readCapacity"), t["ProvisionedThroughput"]["ReadCapacityUnits"]
        )
        out += _same(
            "writeCapacity",
            i.get("writeCapacity"),
            t["ProvisionedThroughput"]["WriteCapacityUnits"],
        )
    return out


def _scaling_target(i, o, rid, aws) -> list[str]:
    found = aws("application-autoscaling").describe_scalable_targets(
        ServiceNamespace=i["serviceNamespace"],
        ResourceIds=[rid],
        ScalableDimension=i["scalableDimension"],
    )["ScalableTargets"]
    if not found:
        return [f"scalable target {rid} missing"]
    return _same("minCapacity", i.get("minCapacity"), found[0]["MinCapacity"]) + _same(
        "maxCapacity", i.get("maxCapacity"), found[0]["MaxCapacity"]
    )


def _scaling_policy(i, o, rid, aws) -> list[str]:
    found = aws("application-autoscaling").describe_scaling_policies(
        ServiceNamespace=i["serviceNamespace"], PolicyNames=[rid]
    )["ScalingPolicies"]
    if not found:
        return [f"scaling policy {rid} missing"]
    want = (i.get("targetTrackingScalingPolicyConfiguration") or {}).get("targetValue")
    got = (found[0].get("TargetTrackingScalingPolicyConfiguration") or {}).get("TargetValue")
    return _same("targetValue", want, got)


def _bus(i, o, rid, aws) -> list[str]:
    return _same("arn", o["arn"], aws("events").describe_event_bus(Name=rid)["Arn"])


def _rule(i, o, rid, aws) -> list[str]:
    r = aws("events").describe_rule(Name=o["name"], EventBusName=o["eventBusName"])
    out = _same("eventPattern", _json(i.get("eventPattern")), _json(r.get("EventPattern")))
    return out + _same(
        "scheduleExpression", i.get("scheduleExpression"), r.get("ScheduleExpression")
    )


def _target(i, o, rid, aws) -> list[str]:
    targets = aws("events").list_targets_by_rule(Rule=o["rule"], EventBusName=o["eventBusName"])[
        "Targets"
    ]
    match = [t for t in targets if t["Id"] == o["targetId"]]
    if not match:
        return [f"target {o['targetId']} missing"]
    t = match[0]
    out = _same("arn", i["arn"], t["Arn"])
    retry = i.get("retryPolicy") or {}
    out += _same(
        "retryPolicy.maximumRetryAttempts",
        retry.get("maximumRetryAttempts"),
        (t.get("RetryPolicy") or {}).get("MaximumRetryAttempts"),
    )
    out += _same(
        "retryPolicy.maximumEventAgeInSeconds",
        retry.get("maximumEventAgeInSeconds"),
        (t.get("RetryPolicy") or {}).get("MaximumEventAgeInSeconds"),
    )
    return out + _same(
        "deadLetterConfig",
        (i.get("deadLetterConfig") or {}).get("arn"),
        (t.get("DeadLetterConfig") or {}).get("Arn"),
    )


def _stream(i, o, rid, aws) -> list[str]:
    s = aws("kinesis").describe_stream_summary(StreamName=o["name"])["StreamDescriptionSummary"]
    out = _same("retentionPeriod", i.get("retentionPeriod"), s["RetentionPeriodHours"])
    return out + _same("shardCount", i.get("shardCount"), s["OpenShardCount"])


def _state_machine(i, o, rid, aws) -> list[str]:
    m = aws("stepfunctions").describe_state_machine(stateMachineArn=rid)
    return _same("definition", _json(i["definition"]), _json(m["definition"])) + _same(
        "roleArn", i["roleArn"], m["roleArn"]
    )


def _rest_api(i, o, rid, aws) -> list[str]:
    return _same("name", o["name"], aws("apigateway").get_rest_api(restApiId=rid)["name"])


def _resource(i, o, rid, aws) -> list[str]:
    r = aws("apigateway").get_resource(restApiId=i["restApi"], resourceId=rid)
    return _same("pathPart", i["pathPart"], r.get("pathPart"))


def _method(i, o, rid, aws) -> list[str]:
    m = aws("apigateway").get_method(
        restApiId=i["restApi"], resourceId=i["resourceId"], httpMethod=i["httpMethod"]
    )
    return _same("authorization", i["authorization"], m.get("authorizationType")) + _same(
        "apiKeyRequired", bool(i.get("apiKeyRequired")), m.get("apiKeyRequired")
    )


def _integration(i, o, rid, aws) -> list[str]:
    g = aws("apigateway").get_integration(
        restApiId=i["restApi"], resourceId=i["resourceId"], httpMethod=i["httpMethod"]
    )
    return (
        _same("type", i["type"], g.get("type"))
        + _same("uri", i.get("uri"), g.get("uri"))
        + _same("timeoutMilliseconds", i.get("timeoutMilliseconds"), g.get("timeoutInMillis"))
    )


def _deployment(i, o, rid, aws) -> list[str]:
    return _same(
        "id", rid, aws("apigateway").get_deployment(restApiId=i["restApi"], deploymentId=rid)["id"]
    )


def _stage(i, o, rid, aws) -> list[str]:
    s = aws("apigateway").get_stage(restApiId=i["restApi"], stageName=i["stageName"])
    return _same("deployment", i["deployment"], s.get("deploymentId"))


def _api_key(i, o, rid, aws) -> list[str]:
    k = aws("apigateway").get_api_key(apiKey=rid, includeValue=True)
    return _same("enabled", i.get("enabled", True), k.get("enabled")) + _same(
        "value", o["value"], k.get("value")
    )


def _usage_plan(i, o, rid, aws) -> list[str]:
    p = aws("apigateway").get_usage_plan(usagePlanId=rid)
    throttle = i.get("throttleSettings") or {}
    out = _same(
        "throttle.rateLimit", throttle.get("rateLimit"), (p.get("throttle") or {}).get("rateLimit")
    )
    out += _same(
        "throttle.burstLimit",
        throttle.get("burstLimit"),
        (p.get("throttle") or {}).get("burstLimit"),
    )
    want = sorted((s["apiId"], s["stage"]) for s in i.get("apiStages") or [])
    return out + _same(
        "apiStages", want, sorted((s["apiId"], s["stage"]) for s in p.get("apiStages") or [])
    )


def _usage_plan_key(i, o, rid, aws) -> list[str]:
    k = aws("apigateway").get_usage_plan_key(usagePlanId=i["usagePlanId"], keyId=rid)
    return _same("keyType", i["keyType"], k.get("type"))


def _secret(i, o, rid, aws) -> list[str]:
    s = aws("secretsmanager").describe_secret(SecretId=rid)
    gone = ["scheduled for deletion"] if "DeletedDate" in s else []
    return (
        gone
        + _same("arn", rid, s.get("ARN"))
        + _same("description", i.get("description"), s.get("Description"))
    )


def _secret_version(i, o, rid, aws) -> list[str]:
    arn, version = rid.split("|", 1)
    v = aws("secretsmanager").get_secret_value(SecretId=arn, VersionId=version)
    return _same("secretString", i.get("secretString"), v.get("SecretString")) + _same(
        "versionStages", i.get("versionStages") or ["AWSCURRENT"], v.get("VersionStages")
    )


def _alarm(i, o, rid, aws) -> list[str]:
    found = aws("cloudwatch").describe_alarms(AlarmNames=[rid])["MetricAlarms"]
    if not found:
        return [f"alarm {rid} missing"]
    a = found[0]
    out = []
    for key, api in (
        ("namespace", "Namespace"),
        ("metricName", "MetricName"),
        ("statistic", "Statistic"),
        ("period", "Period"),
        ("evaluationPeriods", "EvaluationPeriods"),
        ("datapointsToAlarm", "DatapointsToAlarm"),
        ("threshold", "Threshold"),
        ("comparisonOperator", "ComparisonOperator"),
        ("treatMissingData", "TreatMissingData"),
    ):
        out += _same(key, i.get(key), a.get(api))
    out += _same("alarmActions", i.get("alarmActions"), a.get("AlarmActions"))
    if i.get("dimensions"):
        out += _same(
            "dimensions",
            dict(i["dimensions"]),
            {d["Name"]: d["Value"] for d in a.get("Dimensions", [])},
        )
    return out


def _log_group(i, o, rid, aws) -> list[str]:
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=rid)["logGroups"]
    match = [g for g in groups if g["logGroupName"] == rid]
    if not match:
        return [f"log group {rid} missing"]
    return _same("retentionInDays", i.get("retentionInDays"), match[0].get("retentionInDays"))


CHECKERS: dict[str, Checker] = {
    "aws:sqs/queue:Queue": _queue,
    "aws:sqs/queuePolicy:QueuePolicy": _queue_policy,
    "aws:lambda/function:Function": _function,
    "aws:lambda/layerVersion:LayerVersion": _layer,
    "aws:lambda/eventSourceMapping:EventSourceMapping": _mapping,
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": _invoke_config,
    "aws:lambda/permission:Permission": _permission,
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _attachment,
    "aws:iam/policy:Policy": _policy,
    "aws:sns/topic:Topic": _topic,
    "aws:sns/topicSubscription:TopicSubscription": _subscription,
    "aws:dynamodb/table:Table": _table,
    "aws:appautoscaling/target:Target": _scaling_target,
    "aws:appautoscaling/policy:Policy": _scaling_policy,
    "aws:cloudwatch/eventBus:EventBus": _bus,
    "aws:cloudwatch/eventRule:EventRule": _rule,
    "aws:cloudwatch/eventTarget:EventTarget": _target,
    "aws:kinesis/stream:Stream": _stream,
    "aws:sfn/stateMachine:StateMachine": _state_machine,
    "aws:apigateway/restApi:RestApi": _rest_api,
    "aws:apigateway/resource:Resource": _resource,
    "aws:apigateway/method:Method": _method,
    "aws:apigateway/integration:Integration": _integration,
    "aws:apigateway/deployment:Deployment": _deployment,
    "aws:apigateway/stage:Stage": _stage,
    "aws:apigateway/apiKey:ApiKey": _api_key,
    "aws:apigateway/usagePlan:UsagePlan": _usage_plan,
    "aws:apigateway/usagePlanKey:UsagePlanKey": _usage_plan_key,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:secretsmanager/secretVersion:SecretVersion": _secret_version,
}


def mismatches(record: Any, aws: Client) -> list[str]:
    """Every setting of `record` (a state-file Record) that the cloud holds differently."""
    checker = CHECKERS[record.type]
    return [f"{record.key}: {m}" for m in checker(record.inputs, record.outputs, record.id, aws)]
