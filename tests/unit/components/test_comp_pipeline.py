"""EventPipeline (direct and flow-controlled) and SlowApi graphs."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime.rpc import unwrap_rpc_secret

from components.api import LambdaRestApi
from components.event_pipeline import EventPipeline
from components.slow_api import SlowApi
from tests.unit.components.comp_helpers import (
    assert_children_parented,
    build,
    common,
    component,
    function,
    only,
    policy_document,
)

TARGET = "aws:cloudwatch/eventTarget:EventTarget"
FUNCTION = "aws:lambda/function:Function"
SLOW_URL = "https://slow.example/v1/"
KEY_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slow-key-AbCdEf"
METHOD = "aws:apigateway/method:Method"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"


def pipeline(name: str, flow: bool, **extra):
    return build(
        lambda: EventPipeline(
            name,
            {
                "notifier": function("notifier", 3),
                "delivery": function("delivery", 10),
                **common(name),
                "slow_api_url": SLOW_URL,
                "slow_api_key_secret_arn": KEY_SECRET,
                "flow_control": flow,
                "target_maximum_retry_attempts": 4,
                "target_maximum_event_age": 600,
                **extra,
            },
        )
    )


@pytest.fixture(scope="module")
def direct():
    return pipeline("ep", False)


@pytest.fixture(scope="module")
def flow():
    return pipeline("epf", True)


def _queues(mocks):
    return {r.outputs["arn"]: r for r in mocks.of_type("aws:sqs/queue:Queue")}


def test_direct_target_is_delivery_with_retry_policy_and_target_dlq(direct):
    mocks, out = direct
    assert_children_parented(mocks, component(mocks, "EventPipeline"))
    target = only(mocks, TARGET)
    delivery = only(mocks, FUNCTION, "ep-delivery")
    assert target.inputs["arn"] == delivery.outputs["arn"]
    assert target.inputs["retryPolicy"] == {
        "maximumRetryAttempts": 4,
        "maximumEventAgeInSeconds": 600,
    }
    dlq = _queues(mocks)[target.inputs["deadLetterConfig"]["arn"]]
    assert dlq.outputs["url"] == out["target_dlq_url"]
    # EventBridge needs the target DLQ's permission, scoped to this rule.
    rule = only(mocks, "aws:cloudwatch/eventRule:EventRule")
    (stmt,) = policy_document(only(mocks, "aws:sqs/queuePolicy:QueuePolicy"))["Statement"]
    assert stmt["Principal"] == {"Service": "events.amazonaws.com"}
    assert stmt["Condition"]["ArnEquals"]["aws:SourceArn"] == rule.outputs["arn"]
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["failmodes.notifier"],
        "detail-type": ["OrderPlaced"],
    }


def test_direct_delivery_is_async_with_its_own_dlq(direct):
    mocks, out = direct
    delivery = only(mocks, FUNCTION, "ep-delivery")
    assert (
        _queues(mocks)[delivery.inputs["deadLetterConfig"]["targetArn"]].outputs["url"]
        == out["delivery_dlq_url"]
    )
    config = only(mocks, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    assert config.inputs["functionName"] == delivery.outputs["name"]
    permission = only(mocks, "aws:lambda/permission:Permission", "ep-events-permission")
    assert permission.inputs["principal"] == "events.amazonaws.com"
    env = delivery.inputs["environment"]["variables"]
    assert env["SLOW_API_URL"] == SLOW_URL
    assert {
        "DELIVERY_ATTEMPTS",
        "DELIVERY_WAIT_BASE",
        "DELIVERY_WAIT_JITTER",
        "DELIVERY_HTTP_TIMEOUT",
    } <= set(env)
    assert out["buffer_queue_url"] is None and out["maximum_concurrency"] is None


def test_notifier_api_puts_on_its_bus_only(direct):
    mocks, out = direct
    notifier = only(mocks, FUNCTION, "ep-notifier")
    bus = only(mocks, "aws:cloudwatch/eventBus:EventBus")
    env = notifier.inputs["environment"]["variables"]
    assert env["EVENT_BUS_NAME"] == bus.outputs["name"] and env["LEDGER_PATTERN"] == "ep.notifier"
    access = policy_document(only(mocks, "aws:iam/rolePolicy:RolePolicy", "ep-notifier-access"))
    put = [s for s in access["Statement"] if s["Action"] == ["events:PutEvents"]]
    assert put[0]["Resource"] == [bus.outputs["arn"]]
    integration = only(mocks, "aws:apigateway/integration:Integration")
    assert (
        integration.inputs["type"] == "AWS_PROXY"
        and integration.inputs["uri"] == notifier.outputs["invokeArn"]
    )
    assert out["api_url"].endswith("/v1/events")


def test_flow_variant_buffers_in_sqs_with_maximum_concurrency(flow):
    mocks, out = flow
    target = only(mocks, TARGET)
    queues = _queues(mocks)
    buffer = queues[target.inputs["arn"]]
    assert buffer.outputs["url"] == out["buffer_queue_url"]
    mapping = only(mocks, "aws:lambda/eventSourceMapping:EventSourceMapping")
    assert mapping.inputs["eventSourceArn"] == buffer.outputs["arn"]
    assert mapping.inputs["batchSize"] == 1
    assert mapping.inputs["scalingConfig"] == {"maximumConcurrency": 10}
    assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert buffer.inputs["visibilityTimeoutSeconds"] == 60  # 6 x the 10 s delivery timeout
    redrive = json.loads(buffer.inputs["redrivePolicy"])
    assert queues[redrive["deadLetterTargetArn"]].outputs["url"] == out["delivery_dlq_url"]
    policies = {
        r.name: policy_document(r) for r in mocks.of_type("aws:sqs/queuePolicy:QueuePolicy")
    }
    assert policies["epf-buffer-policy"]["Statement"][0]["Resource"] == buffer.outputs["arn"]
    assert not mocks.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    assert out["maximum_concurrency"] == 10 and out["flow_control"] is True


def test_slow_api_requires_a_key_and_throttles_by_usage_plan():
    mocks, out = build(
        lambda: SlowApi(
            "sa",
            {
                "function": function("slow_api", 29),
                **common("slow_api"),
                "failure_rate": 0.2,
                "min_delay": 1.0,
                "max_delay": 10.0,
                "seed": 7,
            },
        )
    )
    assert_children_parented(mocks, component(mocks, "SlowApi"))
    method = only(mocks, "aws:apigateway/method:Method")
    assert method.inputs["apiKeyRequired"] is True
    plan = only(mocks, "aws:apigateway/usagePlan:UsagePlan")
    assert plan.inputs["throttleSettings"] == {"rateLimit": 10, "burstLimit": 10}
    plan_key = only(mocks, "aws:apigateway/usagePlanKey:UsagePlanKey")
    assert plan_key.inputs["keyId"] == out["api_key_id"]
    assert (
        only(mocks, "aws:apigateway/integration:Integration").inputs["timeoutMilliseconds"]
        == 29_000
    )
    env = only(mocks, FUNCTION).inputs["environment"]["variables"]
    assert env["SLOW_API_FAILURE_RATE"] == "0.2" and env["SLOW_API_SEED"] == "7"
    assert env["SLOW_API_MIN_DELAY"] == "1.0" and env["SLOW_API_MAX_DELAY"] == "10.0"
    assert out["url"].endswith("/v1/") and out["api_key_value"]
    # AND its key is copied into a secret its callers read (deleted at once on destroy: the
    # ApiKey holds the value), whose ARN is an output
    secret = only(mocks, "aws:secretsmanager/secret:Secret")
    assert secret.inputs["recoveryWindowInDays"] == 0
    version = only(mocks, "aws:secretsmanager/secretVersion:SecretVersion")
    assert version.inputs["secretId"] == secret.id
    assert unwrap_rpc_secret(version.inputs["secretString"]) == out["api_key_value"]
    assert out["api_key_secret_arn"] == secret.outputs["arn"]


@pytest.mark.parametrize("variant", ["direct", "flow"])
def test_delivery_reads_the_key_from_its_secret_with_a_grant_on_that_secret_only(variant, request):
    mocks, _ = request.getfixturevalue(variant)
    name = {"direct": "ep", "flow": "epf"}[variant]
    delivery = only(mocks, FUNCTION, f"{name}-delivery")
    # GIVEN the slow API's key in a secret THEN delivery's env names the secret, holds no key
    env = delivery.inputs["environment"]["variables"]
    assert env["SLOW_API_KEY_SECRET"] == KEY_SECRET and "SLOW_API_KEY" not in env
    assert env["SLOW_API_KEY_MAX_AGE"] == "300"
    # AND its role may read that one secret and nothing else of Secrets Manager (nor KMS:
    # the secret is under the AWS managed key)
    access = policy_document(
        only(mocks, "aws:iam/rolePolicy:RolePolicy", f"{name}-delivery-access")
    )
    secrets = [s for s in access["Statement"] if any("secretsmanager" in a for a in s["Action"])]
    assert secrets == [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [KEY_SECRET]}
    ]
    assert not [s for s in access["Statement"] if any(a.startswith("kms:") for a in s["Action"])]


def test_notifier_api_requires_its_own_key_in_its_own_plan_by_default(direct):
    mocks, out = direct
    # GIVEN no api_open THEN the method wants a key, and the API's key is in a plan on its stage
    assert only(mocks, METHOD).inputs["apiKeyRequired"] is True
    key = only(mocks, "aws:apigateway/apiKey:ApiKey")
    plan = only(mocks, USAGE_PLAN)
    stage = only(mocks, "aws:apigateway/stage:Stage")
    assert plan.inputs["apiStages"] == [
        {"apiId": stage.inputs["restApi"], "stage": stage.inputs["stageName"]}
    ]
    assert "throttleSettings" not in plan.inputs  # flow control is downstream, not here
    plan_key = only(mocks, "aws:apigateway/usagePlanKey:UsagePlanKey")
    assert plan_key.inputs["keyId"] == key.id and plan_key.inputs["usagePlanId"] == plan.id
    # AND the key is an output (a secret: tests/unit/test_program.py), the API not open
    assert out["api_key_value"] == key.outputs["value"] and out["api_open"] is False


def test_notifier_api_opened_takes_calls_without_a_key():
    mocks, out = pipeline("epo", False, api_open=True)
    assert only(mocks, METHOD).inputs["apiKeyRequired"] is False
    assert not mocks.of_type("aws:apigateway/apiKey:ApiKey") and not mocks.of_type(USAGE_PLAN)
    assert out["api_key_value"] is None and out["api_open"] is True


def test_a_rest_api_is_closed_unless_asked_to_be_open():
    class Holder(pulumi.ComponentResource):
        def __init__(self) -> None:
            super().__init__("test:index:Holder", "h")
            fn = aws.lambda_.Function("h-fn", role="r", runtime="python3.11", handler="a.b")
            self.api = LambdaRestApi(self, "h", fn, http_method="POST", path_part="x")
            self.outputs = {"key": self.api.api_key_value}

    # GIVEN a LambdaRestApi built without saying whether it needs a key
    mocks, out = build(Holder)
    # THEN its method requires one, and its key is in a plan on its stage
    assert only(mocks, METHOD).inputs["apiKeyRequired"] is True
    assert only(mocks, "aws:apigateway/usagePlanKey:UsagePlanKey")
    assert out["key"] == only(mocks, "aws:apigateway/apiKey:ApiKey").outputs["value"]
