"""StreamProcessor, Workflow, DlqRedriver and Shared graphs."""

from __future__ import annotations

import json

from components.dlq_redriver import DlqRedriver
from components.shared import Shared
from components.stream_processor import StreamProcessor
from components.workflow import Workflow
from tests.unit.components.comp_helpers import (
    assert_children_parented,
    build,
    common,
    component,
    function,
    only,
    policy_document,
)

MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
FUNCTION = "aws:lambda/function:Function"


def test_stream_mapping_bisects_retries_finitely_and_reports_to_on_failure():
    mocks, out = build(
        lambda: StreamProcessor(
            "sp",
            {
                "function": function("stream_processor"),
                **common("stream_processor"),
                "maximum_retry_attempts": 2,
                "maximum_record_age": 60,
            },
        )
    )
    assert_children_parented(mocks, component(mocks, "StreamProcessor"))
    mapping = only(mocks, MAPPING)
    stream = only(mocks, "aws:kinesis/stream:Stream")
    assert mapping.inputs["eventSourceArn"] == stream.outputs["arn"] == out["stream_arn"]
    assert mapping.inputs["bisectBatchOnFunctionError"] is True
    assert mapping.inputs["maximumRetryAttempts"] == 2
    assert mapping.inputs["maximumRecordAgeInSeconds"] == 60
    assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping.inputs["startingPosition"] == "TRIM_HORIZON"
    on_failure = mapping.inputs["destinationConfig"]["onFailure"]["destinationArn"]
    queues = {r.outputs["arn"]: r.outputs["url"] for r in mocks.of_type("aws:sqs/queue:Queue")}
    assert queues[on_failure] == out["on_failure_queue_url"]
    access = policy_document(only(mocks, "aws:iam/rolePolicy:RolePolicy", "sp-processor-access"))
    kinesis = [s for s in access["Statement"] if s["Action"][0].startswith("kinesis:")]
    assert kinesis[0]["Resource"] == [stream.outputs["arn"]]
    alarm = only(mocks, "aws:cloudwatch/metricAlarm:MetricAlarm", "sp-iterator-age-alarm")
    assert alarm.inputs["metricName"] == "IteratorAge" and alarm.inputs["statistic"] == "Maximum"
    assert stream.inputs["encryptionType"] == "KMS"


def test_workflow_retries_then_catches_into_compensation_that_writes_a_failure_record():
    mocks, out = build(
        lambda: Workflow(
            "wf",
            {
                "step": function("workflow_step", 5),
                "compensation": function("compensation", 5),
                **common("workflow"),
                "retry_max_attempts": 2,
                "retry_interval": 1,
                "retry_backoff_rate": 1.5,
            },
        )
    )
    assert_children_parented(mocks, component(mocks, "Workflow"))
    machine = only(mocks, "aws:sfn/stateMachine:StateMachine")
    definition = json.loads(machine.inputs["definition"])
    process = definition["States"]["Process"]
    assert process["Resource"] == out["step"]["arn"]
    poison, everything = process["Retry"]
    assert poison == {"ErrorEquals": ["PoisonEventError"], "MaxAttempts": 0}
    assert everything == {
        "ErrorEquals": ["States.ALL"],
        "IntervalSeconds": 1,
        "MaxAttempts": 2,
        "BackoffRate": 1.5,
    }
    assert process["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Compensate"}
    ]
    compensate = definition["States"]["Compensate"]
    assert compensate["Resource"] == out["compensation"]["arn"] and compensate["Next"] == "Failed"
    assert definition["States"]["Failed"]["Type"] == "Fail"
    compensation = only(mocks, FUNCTION, "wf-compensation")
    env = compensation.inputs["environment"]["variables"]
    assert env["FAILURE_QUEUE_URL"] == out["failure_queue_url"]
    states_policy = policy_document(
        only(mocks, "aws:iam/rolePolicy:RolePolicy", "wf-states-access")
    )
    assert states_policy["Statement"][0]["Resource"] == [
        out["step"]["arn"],
        out["compensation"]["arn"],
    ]
    assert "failures" in out["alarms"] and "executions_failed" in out["alarms"]


def test_dlq_redriver_may_touch_exactly_its_queues():
    q = "https://sqs.us-east-1.amazonaws.com/123456789012/"
    arn = "arn:aws:sqs:us-east-1:123456789012:"
    sources = [
        {
            "dlq_url": q + "a-dlq",
            "dlq_arn": arn + "a-dlq",
            "source_url": q + "a",
            "source_arn": arn + "a",
        }
    ]
    mocks, out = build(
        lambda: DlqRedriver(
            "rd",
            {
                "function": function("dlq_redriver"),
                **common("dlq_redriver"),
                "sources": sources,
            },
        )
    )
    assert out["sources"] == {q + "a-dlq": q + "a"}
    env = only(mocks, FUNCTION).inputs["environment"]["variables"]
    assert json.loads(env["REDRIVE_SOURCES"]) == {q + "a-dlq": q + "a"}
    access = policy_document(only(mocks, "aws:iam/rolePolicy:RolePolicy", "rd-function-access"))
    by_action = {tuple(s["Action"]): s["Resource"] for s in access["Statement"]}
    assert by_action[("sqs:SendMessage",)] == [arn + "a"]
    assert by_action[("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage")] == [
        arn + "a-dlq"
    ]


def test_shared_ledger_keys_and_an_observable_alarm_topic():
    mocks, _ = build(lambda: _SharedWithOutputs("st", {"alarm_email": "ops@example.com"}))
    assert_children_parented(mocks, component(mocks, "Shared"))
    tables = {r.name: r for r in mocks.of_type("aws:dynamodb/table:Table")}
    ledger = tables["st-ledger"].inputs
    assert (ledger["hashKey"], ledger["rangeKey"]) == ("pattern", "event_id")
    assert tables["st-idempotency"].inputs["hashKey"] == "id"
    protocols = sorted(
        r.inputs["protocol"] for r in mocks.of_type("aws:sns/topicSubscription:TopicSubscription")
    )
    assert protocols == ["email", "sqs"]
    topic = only(mocks, "aws:sns/topic:Topic")
    (stmt,) = policy_document(only(mocks, "aws:sqs/queuePolicy:QueuePolicy"))["Statement"]
    assert stmt["Condition"] == {"ArnEquals": {"aws:SourceArn": topic.outputs["arn"]}}


class _SharedWithOutputs(Shared):
    @property
    def outputs(self):
        return {"ledger": self.ledger.name}
