"""QueueWorker and FanOut graphs: redrive DLQ, visibility, batch failures, scoped policies."""

from __future__ import annotations

import json

import pytest

from components import queues
from components.fan_out import FanOut
from components.queue_worker import QueueWorker
from tests.unit.components.comp_helpers import (
    ALARM_TOPIC,
    assert_children_parented,
    build,
    common,
    component,
    function,
    only,
    policy_document,
    queue_by_arn,
)

QUEUE = "aws:sqs/queue:Queue"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.fixture(scope="module")
def worker():
    return build(
        lambda: QueueWorker(
            "qw", {"function": function("queue_worker", 5), **common("queue_worker")}
        )
    )


def test_queue_worker_graph_is_parented_and_typed(worker):
    mocks, _ = worker
    parent = component(mocks, "QueueWorker")
    assert_children_parented(mocks, parent)
    types = sorted(r.type for r in mocks if r is not parent)
    assert types.count(QUEUE) == 2
    assert types.count("aws:iam/role:Role") == 1
    assert types.count(MAPPING) == 1


def test_queue_redrives_to_its_dlq_with_safe_defaults(worker):
    mocks, out = worker
    queue = only(mocks, QUEUE, "qw-queue")
    dlq = only(mocks, QUEUE, "qw-dlq")
    redrive = json.loads(queue.inputs["redrivePolicy"])
    # AWS's advice for a queue Lambda reads: >= 5 receives, so throttling alone never dead-letters
    assert redrive == {"deadLetterTargetArn": dlq.outputs["arn"], "maxReceiveCount": 5}
    # GIVEN a 5 s function WHEN no visibility timeout is given THEN it is 6x
    assert queues.VISIBILITY_FACTOR == 6  # re-exported from components.limits
    assert queue.inputs["visibilityTimeoutSeconds"] == 30
    assert dlq.inputs["messageRetentionSeconds"] == 1_209_600
    assert queue.inputs["sqsManagedSseEnabled"] and dlq.inputs["sqsManagedSseEnabled"]
    assert out["dlq_url"] == dlq.outputs["url"] and out["visibility_timeout"] == 30


def test_mapping_reports_batch_item_failures_and_waits_for_the_role(worker):
    mocks, out = worker
    mapping = only(mocks, MAPPING)
    assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping.inputs["eventSourceArn"] == out["queue_arn"]
    assert out["mapping_uuid"] == mapping.outputs["uuid"]


def test_role_is_scoped_to_the_exact_queue_and_tables(worker):
    mocks, out = worker
    access = policy_document(only(mocks, "aws:iam/rolePolicy:RolePolicy", "qw-worker-access"))
    resources = {res for stmt in access["Statement"] for res in stmt["Resource"]}
    assert out["queue_arn"] in resources
    assert "*" not in resources
    logs = policy_document(only(mocks, "aws:iam/rolePolicy:RolePolicy", "qw-worker-logs"))
    groups = {res for stmt in logs["Statement"] for res in stmt["Resource"]}
    assert all(f"/aws/lambda/{out['function']['name']}" in g for g in groups)


def test_dlq_alarm_fires_on_one_message(worker):
    mocks, out = worker
    alarm = only(mocks, ALARM, "qw-dlq-alarm")
    dlq_name = queue_by_arn(mocks, out["dlq_arn"]).outputs["name"]
    assert alarm.inputs["dimensions"] == {"QueueName": dlq_name}
    assert alarm.inputs["statistic"] == "Maximum"
    assert alarm.inputs["threshold"] == 1
    assert alarm.inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm.inputs["alarmActions"] == [ALARM_TOPIC]
    assert set(out["alarms"]) == {"dlq", "errors", "throttles", "age"}


def test_fifo_and_flow_control_options():
    mocks, out = build(
        lambda: QueueWorker(
            "fq",
            {
                "function": function("queue_worker", 4),
                **common("queue_worker"),
                "fifo": True,
                "maximum_concurrency": 5,
                "visibility_timeout": 60,
                "max_receive_count": 7,
            },
        )
    )
    queue, dlq = only(mocks, QUEUE, "fq-queue"), only(mocks, QUEUE, "fq-dlq")
    assert queue.inputs["fifoQueue"] and dlq.inputs["fifoQueue"]
    assert queue.outputs["name"].endswith(".fifo")
    assert only(mocks, MAPPING).inputs["scalingConfig"] == {"maximumConcurrency": 5}
    assert json.loads(queue.inputs["redrivePolicy"])["maxReceiveCount"] == 7
    assert out["fifo"] is True and out["visibility_timeout"] == 60


def test_fan_out_filters_per_subscriber_and_scopes_each_queue_to_the_topic():
    subscribers = {"orders": {"kind": ["order"]}, "refunds": {"kind": ["refund"]}}
    mocks, out = build(
        lambda: FanOut(
            "fo",
            {
                "consumer": function("queue_worker"),
                **common("fan_out"),
                "subscribers": subscribers,
            },
        )
    )
    assert_children_parented(mocks, component(mocks, "FanOut"))
    topic_arn = out["topic_arn"]
    subscriptions = {
        r.name: r for r in mocks.of_type("aws:sns/topicSubscription:TopicSubscription")
    }
    for sub, policy in subscribers.items():
        sub_out = out["subscribers"][sub]
        subscription = subscriptions[f"fo-{sub}-subscription"]
        assert json.loads(subscription.inputs["filterPolicy"]) == policy
        assert subscription.inputs["endpoint"] == sub_out["queue_arn"]
        assert subscription.inputs["rawMessageDelivery"] is True
        queue_policy = policy_document(
            only(mocks, "aws:sqs/queuePolicy:QueuePolicy", f"fo-{sub}-queue-policy")
        )
        (stmt,) = queue_policy["Statement"]
        assert stmt["Principal"] == {"Service": "sns.amazonaws.com"}
        assert stmt["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}
        assert stmt["Resource"] == sub_out["queue_arn"]
        # Each subscriber has its own DLQ and ledger partition.
        assert sub_out["dlq_url"] and sub_out["ledger_pattern"] == f"fan_out.{sub}"
    assert out["subscribers"]["orders"]["dlq_url"] != out["subscribers"]["refunds"]["dlq_url"]
