"""AsyncFunction and RideRecords graphs: async retries, DLQ + OnFailure destination, SNS wiring."""

from __future__ import annotations

import json

import pytest

from components.async_function import AsyncFunction
from components.ride_records import RideRecords
from tests.unit.components.comp_helpers import (
    assert_children_parented,
    build,
    common,
    component,
    function,
    only,
    policy_document,
)

FUNCTION = "aws:lambda/function:Function"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
PERMISSION = "aws:lambda/permission:Permission"


@pytest.fixture(scope="module")
def async_fn():
    return build(
        lambda: AsyncFunction(
            "af",
            {
                "function": function("async_worker"),
                **common("async_function"),
                "maximum_retry_attempts": 1,
                "maximum_event_age": 120,
            },
        )
    )


def test_async_function_is_one_parented_graph(async_fn):
    mocks, _ = async_fn
    assert_children_parented(mocks, component(mocks, "AsyncFunction"))


def test_failed_events_go_to_the_dlq_and_the_on_failure_destination(async_fn):
    mocks, out = async_fn
    fn = only(mocks, FUNCTION)
    config = only(mocks, INVOKE_CONFIG)
    assert config.inputs["maximumRetryAttempts"] == 1
    assert config.inputs["maximumEventAgeInSeconds"] == 120
    assert config.inputs["functionName"] == fn.outputs["name"]
    destination = config.inputs["destinationConfig"]["onFailure"]["destination"]
    dlq_arn = fn.inputs["deadLetterConfig"]["targetArn"]
    queues = {r.outputs["arn"]: r.outputs["url"] for r in mocks.of_type("aws:sqs/queue:Queue")}
    assert queues[destination] == out["on_failure_queue_url"]
    assert queues[dlq_arn] == out["dlq_url"]
    assert destination != dlq_arn
    access = policy_document(only(mocks, "aws:iam/rolePolicy:RolePolicy", "af-worker-access"))
    send = [s for s in access["Statement"] if s["Action"] == ["sqs:SendMessage"]]
    assert send and set(send[0]["Resource"]) == {destination, dlq_arn}


def test_sns_invokes_the_function_with_a_scoped_permission_and_a_subscription_dlq(async_fn):
    mocks, out = async_fn
    fn = only(mocks, FUNCTION)
    subscription = only(mocks, SUBSCRIPTION)
    assert subscription.inputs["protocol"] == "lambda"
    assert subscription.inputs["endpoint"] == fn.outputs["arn"]
    dlq_arn = json.loads(subscription.inputs["redrivePolicy"])["deadLetterTargetArn"]
    queues = {r.outputs["arn"]: r.outputs["url"] for r in mocks.of_type("aws:sqs/queue:Queue")}
    assert queues[dlq_arn] == out["subscription_dlq_url"]
    permission = only(mocks, PERMISSION)
    assert permission.inputs["principal"] == "sns.amazonaws.com"
    assert permission.inputs["sourceArn"] == out["topic_arn"]
    (stmt,) = policy_document(only(mocks, "aws:sqs/queuePolicy:QueuePolicy"))["Statement"]
    assert stmt["Condition"] == {"ArnEquals": {"aws:SourceArn": out["topic_arn"]}}
    topic = only(mocks, "aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == "alias/aws/sns"
    assert {"dlq", "on_failure", "subscription_dlq", "dead_letter_errors"} <= set(out["alarms"])


def test_ride_records_on_demand_table_with_a_writer_dlq():
    mocks, out = build(
        lambda: RideRecords("rr", {"function": function("ride_writer"), **common("ride_records")})
    )
    assert_children_parented(mocks, component(mocks, "RideRecords"))
    table = only(mocks, "aws:dynamodb/table:Table")
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST" and table.inputs["hashKey"] == "id"
    assert not mocks.of_type("aws:appautoscaling/target:Target")
    fn = only(mocks, FUNCTION)
    assert fn.inputs["environment"]["variables"]["RIDES_TABLE"] == table.outputs["name"]
    queues = {r.outputs["arn"]: r.outputs["url"] for r in mocks.of_type("aws:sqs/queue:Queue")}
    assert queues[fn.inputs["deadLetterConfig"]["targetArn"]] == out["dlq_url"]
    access = policy_document(only(mocks, "aws:iam/rolePolicy:RolePolicy", "rr-writer-access"))
    put = [s for s in access["Statement"] if s["Action"] == ["dynamodb:PutItem"]]
    assert put[0]["Resource"] == [table.outputs["arn"]]
    assert "table_throttles" in out["alarms"]


def test_ride_records_provisioned_table_autoscales_reads_and_writes():
    mocks, out = build(
        lambda: RideRecords(
            "rp",
            {
                "function": function("ride_writer"),
                **common("ride_records"),
                "billing_mode": "PROVISIONED",
                "read_capacity": 1,
                "write_capacity": 1,
                "autoscaling_max_capacity": 20,
            },
        )
    )
    table = only(mocks, "aws:dynamodb/table:Table")
    assert (table.inputs["readCapacity"], table.inputs["writeCapacity"]) == (1, 1)
    targets = mocks.of_type("aws:appautoscaling/target:Target")
    assert sorted(t.inputs["scalableDimension"] for t in targets) == [
        "dynamodb:table:ReadCapacityUnits",
        "dynamodb:table:WriteCapacityUnits",
    ]
    assert all(t.inputs["maxCapacity"] == 20 and t.inputs["minCapacity"] == 1 for t in targets)
    assert len(mocks.of_type("aws:appautoscaling/policy:Policy")) == 2
    assert out["billing_mode"] == "PROVISIONED"
