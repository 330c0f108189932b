"""Deployed = declared: each declared setting against crafted live resources, right and drifted.

Each drift is one of the mutation catalog's operators (app/mutate/operators.py) as the
cloud would show it after the deploy; the outputs still declare the program's settings.
"""

from __future__ import annotations

import json

import pytest

from chaos.declared import Claim, declared_claims
from policy.model import (
    EVENT_TARGET,
    FUNCTION,
    INVOKE_CONFIG,
    MAPPING,
    QUEUE,
    STATE_MACHINE,
    SUBSCRIPTION,
    TABLE,
    USAGE_PLAN,
    Resource,
)

ARN = "arn:aws:sqs:us-east-1:1:"
FN_ARN = "arn:aws:lambda:us-east-1:1:function:"


def q(name: str, **props) -> Resource:
    return Resource(QUEUE, name, {"name": name, "arn": ARN + name, "url": f"u/{name}", **props})


def failing(claims: list[Claim]) -> list[str]:
    return [str(c) for c in claims if not c.holds]


def replaced(resources: list[Resource], name: str, **props) -> list[Resource]:
    out = [
        Resource(r.type, r.name, {**r.props, **props}) if r.name == name else r for r in resources
    ]
    assert out != resources, f"no resource {name}"
    return out


# --- async function (async-retries-changed, async-no-on-failure) ----------------------------

ASYNC_OUT = {
    "function": {"name": "af", "arn": FN_ARN + "af", "timeout": 3},
    "topic_arn": "arn:aws:sns:us-east-1:1:t",
    "dlq_url": "u/af-dlq",
    "on_failure_queue_url": "u/af-of",
    "subscription_dlq_url": "u/af-sub",
    "maximum_retry_attempts": 2,
    "maximum_event_age": 3600,
}
ASYNC_LIVE = [
    q("af-dlq"),
    q("af-of"),
    q("af-sub"),
    Resource(FUNCTION, "af", {"name": "af", "deadLetterConfig": {"targetArn": ARN + "af-dlq"}}),
    Resource(
        INVOKE_CONFIG,
        "cfg",
        {
            "functionName": "af",
            "maximumRetryAttempts": 2,
            "maximumEventAgeInSeconds": 3600,
            "destinationConfig": {"onFailure": {"destination": ARN + "af-of"}},
        },
    ),
    Resource(
        SUBSCRIPTION,
        "s",
        {
            "arn": "arn:aws:sns:us-east-1:1:t:abc",
            "endpoint": FN_ARN + "af",
            "redrivePolicy": json.dumps({"deadLetterTargetArn": ARN + "af-sub"}),
        },
    ),
]


def test_a_correct_async_function_holds_every_declared_setting():
    claims = declared_claims("async_function", ASYNC_OUT, ASYNC_LIVE)
    assert failing(claims) == [] and len(claims) == 5


def test_async_retries_one_fewer_than_declared_fails():
    live = replaced(ASYNC_LIVE, "cfg", maximumRetryAttempts=1)
    assert failing(declared_claims("async_function", ASYNC_OUT, live)) == [
        "async_function.maximum_retry_attempts: declared 2, live MaximumRetryAttempts of"
        " event invoke config of af = 1"
    ]


def test_a_dropped_on_failure_destination_fails():
    live = replaced(ASYNC_LIVE, "cfg", destinationConfig=None)
    [line] = failing(declared_claims("async_function", ASYNC_OUT, live))
    assert line.startswith("async_function.on_failure_queue_url: declared 'arn:aws:sqs:")
    assert line.endswith("live DestinationConfig OnFailure of event invoke config of af = absent")


def test_a_missing_invoke_config_fails_every_setting_it_holds():
    live = [r for r in ASYNC_LIVE if r.type != INVOKE_CONFIG]
    assert len(failing(declared_claims("async_function", ASYNC_OUT, live))) == 3


# --- EventBridge target (eventbridge-retries-plus-1) ----------------------------------------

PIPE_OUT = {
    "delivery": {"name": "dl", "arn": FN_ARN + "dl", "timeout": 10},
    "rule_name": "r",
    "target_dlq_url": "u/t-dlq",
    "delivery_dlq_url": "u/d-dlq",
    "buffer_queue_url": None,
    "flow_control": False,
    "target_maximum_retry_attempts": 185,
    "target_maximum_event_age": 86400,
    "maximum_retry_attempts": 2,
    "maximum_event_age": 21600,
    "max_receive_count": None,
}
PIPE_LIVE = [
    q("t-dlq"),
    q("d-dlq"),
    Resource(FUNCTION, "dl", {"name": "dl", "deadLetterConfig": {"targetArn": ARN + "d-dlq"}}),
    Resource(
        INVOKE_CONFIG,
        "cfg",
        {"functionName": "dl", "maximumRetryAttempts": 2, "maximumEventAgeInSeconds": 21600},
    ),
    Resource(
        EVENT_TARGET,
        "target",
        {
            "rule": "r",
            "targetId": "t1",
            "deadLetterConfig": {"arn": ARN + "t-dlq"},
            "retryPolicy": {"maximumRetryAttempts": 185, "maximumEventAgeInSeconds": 86400},
        },
    ),
]


def test_a_correct_direct_pipeline_holds():
    claims = declared_claims("event_pipeline", PIPE_OUT, PIPE_LIVE)
    assert failing(claims) == [] and len(claims) == 6


def test_target_retries_one_more_than_declared_fails():
    live = replaced(
        PIPE_LIVE,
        "target",
        retryPolicy={"maximumRetryAttempts": 186, "maximumEventAgeInSeconds": 86400},
    )
    assert failing(declared_claims("event_pipeline", PIPE_OUT, live)) == [
        "event_pipeline.target_maximum_retry_attempts: declared 185, live RetryPolicy"
        " MaximumRetryAttempts of rule r target t1 = 186"
    ]


def test_the_flow_buffer_redrive_is_declared_too():
    out = {**PIPE_OUT, "buffer_queue_url": "u/buf", "flow_control": True, "max_receive_count": 3}
    out.update(maximum_retry_attempts=None, maximum_event_age=None)
    redrive = json.dumps({"deadLetterTargetArn": ARN + "d-dlq", "maxReceiveCount": 3})
    live = [*PIPE_LIVE, q("buf", redrivePolicy=redrive)]
    assert failing(declared_claims("event_pipeline_flow", out, live)) == []
    live = replaced(live, "buf", redrivePolicy=None)  # buffer-no-redrive
    assert len(failing(declared_claims("event_pipeline_flow", out, live))) == 2


# --- table, usage plan, workflow, fan-out, redriver -----------------------------------------


def test_an_on_demand_table_made_provisioned_fails():
    out = {"table_name": "rides", "billing_mode": "PAY_PER_REQUEST"}
    live = [Resource(TABLE, "rides", {"name": "rides", "billingMode": "PAY_PER_REQUEST"})]
    assert failing(declared_claims("ride_records", out, live)) == []
    live = replaced(live, "rides", billingMode="PROVISIONED")
    assert failing(declared_claims("ride_records", out, live)) == [
        "ride_records.billing_mode: declared 'PAY_PER_REQUEST', live BillingMode of table"
        " rides = 'PROVISIONED'"
    ]


def test_a_usage_plan_throttle_raised_out_of_reach_fails():
    out = {"api_id": "a1", "rate_limit": 10.0, "burst_limit": 10}
    live = [
        Resource(
            USAGE_PLAN,
            "p",
            {"id": "p1", "apiId": "a1", "throttleSettings": {"rateLimit": 10, "burstLimit": 10}},
        )
    ]
    assert failing(declared_claims("slow_api", out, live)) == []
    live = replaced(live, "p", throttleSettings={"rateLimit": 10000.0, "burstLimit": 5000})
    assert len(failing(declared_claims("slow_api", out, live))) == 2
    # AND an API with no usage plan at all fails, rather than passing unread
    assert len(failing(declared_claims("slow_api", out, []))) == 1


def _machine(max_attempts: int) -> Resource:
    doc = {
        "States": {
            "Process": {
                "Type": "Task",
                "Resource": FN_ARN + "step",
                "Retry": [
                    {"ErrorEquals": ["Poison"], "MaxAttempts": 0},
                    {"ErrorEquals": ["States.ALL"], "MaxAttempts": max_attempts},
                ],
            }
        }
    }
    return Resource(STATE_MACHINE, "sm", {"arn": "sm", "definition": json.dumps(doc)})


def test_a_workflow_retry_differs_from_its_declaration():
    out = {
        "state_machine_arn": "sm",
        "step": {"name": "step", "arn": FN_ARN + "step", "timeout": 3},
        "retry_max_attempts": 3,
        "retry_interval": 1,
        "retry_backoff_rate": 2.0,
    }
    # IntervalSeconds and BackoffRate left out: ASL's defaults (1, 2.0) apply
    assert failing(declared_claims("workflow", out, [_machine(3)])) == []
    [line] = failing(declared_claims("workflow", out, [_machine(4)]))
    assert line.startswith("workflow.retry_max_attempts: declared 3, live MaxAttempts")


def test_a_fan_out_subscriber_whose_filter_was_broadened_fails():
    sub = {
        "queue_url": "u/orders",
        "dlq_url": "u/orders-dlq",
        "subscription_dlq_url": "u/orders-sub",
        "filter_policy": {"kind": ["order"]},
    }
    redrive = json.dumps({"deadLetterTargetArn": ARN + "orders-dlq", "maxReceiveCount": 3})
    live = [
        q("orders", redrivePolicy=redrive),
        q("orders-dlq"),
        q("orders-sub"),
        Resource(
            SUBSCRIPTION,
            "s",
            {
                "arn": "arn:aws:sns:us-east-1:1:t:1",
                "endpoint": ARN + "orders",
                "filterPolicy": json.dumps({"kind": ["order"]}),
                "redrivePolicy": json.dumps({"deadLetterTargetArn": ARN + "orders-sub"}),
            },
        ),
    ]
    out = {"topic_arn": "t", "subscribers": {"orders": sub}}
    assert failing(declared_claims("fan_out", out, live)) == []
    live = replaced(live, "s", filterPolicy=json.dumps({"kind": ["order", "refund"]}))
    [line] = failing(declared_claims("fan_out", out, live))
    assert line.startswith("fan_out.subscribers.orders.filter_policy: declared {'kind': ['order']}")


@pytest.mark.parametrize("env", [{"REDRIVE_SOURCES": "{}"}, {}])
def test_a_redriver_without_its_declared_pairs_fails(env):
    out = {"function": {"name": "rd", "arn": FN_ARN + "rd", "timeout": 30}, "sources": {"d": "s"}}
    right = {"variables": {"REDRIVE_SOURCES": json.dumps({"d": "s"})}}
    live = [Resource(FUNCTION, "rd", {"name": "rd", "environment": right})]
    assert failing(declared_claims("dlq_redriver", out, live)) == []
    live = replaced(live, "rd", environment={"variables": env})
    [line] = failing(declared_claims("dlq_redriver", out, live))
    assert line.startswith("dlq_redriver.sources: declared {'d': 's'}, live REDRIVE_SOURCES")


def test_a_queue_worker_with_more_receives_than_declared_fails():
    out = {
        "queue_url": "u/qw",
        "dlq_url": "u/qw-dlq",
        "max_receive_count": 3,
        "visibility_timeout": 30,
        "batch_size": 10,
        "mapping_uuid": "m1",
    }
    redrive = json.dumps({"deadLetterTargetArn": ARN + "qw-dlq", "maxReceiveCount": "4"})
    live = [
        q("qw", redrivePolicy=redrive, visibilityTimeoutSeconds=30),
        q("qw-dlq"),
        Resource(MAPPING, "m", {"uuid": "m1", "batchSize": 10}),
    ]
    assert failing(declared_claims("queue_worker", out, live)) == [
        "queue_worker.max_receive_count: declared 3, live RedrivePolicy maxReceiveCount of"
        " queue qw = '4'"
    ]
