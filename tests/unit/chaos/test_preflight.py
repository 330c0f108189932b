"""Preflight on moto: a QueueWorker-like stack read back from the cloud, then drifted.

Each drift is made with the API calls a person (or a `pulumi up` without the pack)
would make, after the stack was built right; preflight must see it in the cloud,
since the outputs do not change.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from chaos_unit_helpers import REGION, make_function, queue

from chaos.errors import AwsCallError
from chaos.preflight import live_resources, preflight, verdict_name
from chaos.stack import Stack
from components import outputs as keys
from policy.invariants import CHECKS

PATTERN = keys.QUEUE_WORKER
TIMEOUT = 5
VISIBILITY = 6 * TIMEOUT


def arn_of(url: str) -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return attrs["QueueArn"]


def dlq_alarm(name: str, queue_name: str, topic: str, **overrides: Any) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "AlarmActions": [topic],
        **overrides,
    }


@pytest.fixture
def worker(stack: Stack) -> dict[str, Any]:
    """A correct QueueWorker: redrive DLQ, 6x visibility, partial batch responses, DLQ alarm."""
    lam = boto3.client("lambda", region_name=REGION)
    cw = boto3.client("cloudwatch", region_name=REGION)
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="alarms")["TopicArn"]
    dlq_url = queue("qw-dlq")
    queue_url = queue(
        "qw-queue",
        VisibilityTimeout=str(VISIBILITY),
        RedrivePolicy=json.dumps({"deadLetterTargetArn": arn_of(dlq_url), "maxReceiveCount": 3}),
    )
    fn = make_function("qw-worker", Timeout=TIMEOUT)
    fn_arn = lam.get_function_configuration(FunctionName=fn)["FunctionArn"]
    mapping = lam.create_event_source_mapping(
        EventSourceArn=arn_of(queue_url),
        FunctionName=fn_arn,  # as the deploy creates it: by ARN
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    cw.put_metric_alarm(**dlq_alarm("qw-dlq-alarm", "qw-dlq", topic))
    stack.outputs[PATTERN] = {
        "function": {"name": fn, "arn": fn_arn, "timeout": TIMEOUT},
        "queue_url": queue_url,
        "queue_arn": arn_of(queue_url),
        "dlq_url": dlq_url,
        "dlq_arn": arn_of(dlq_url),
        "fifo": False,
        "max_receive_count": 3,
        "visibility_timeout": VISIBILITY,
        "batch_size": 10,
        "mapping_uuid": mapping["UUID"],
        "alarms": {"dlq": "qw-dlq-alarm"},
    }
    return {"topic": topic, "mapping": mapping["UUID"], "queue_url": queue_url}


def failed(verdicts) -> dict[str, list[str]]:
    return {v.name: v.problems for v in verdicts if not v.passed}


def test_a_correct_queue_worker_passes_every_rule(stack, worker):
    # GIVEN a stack built right WHEN preflight reads it back
    verdicts = preflight(stack, PATTERN)
    # THEN one verdict per rule, each passed
    assert [v.name for v in verdicts] == [verdict_name(rule) for rule in CHECKS]
    assert failed(verdicts) == {}
    assert verdicts[0].figures["pattern"] == PATTERN


def test_the_live_resources_carry_the_cloud_settings(stack, worker):
    by_type = {}
    for r in live_resources(stack, PATTERN):
        by_type.setdefault(r.type.rsplit(":", 1)[-1], []).append(r)
    (source,) = [q for q in by_type["Queue"] if q.name == "qw-queue"]
    assert source.props["visibilityTimeoutSeconds"] == VISIBILITY
    assert json.loads(source.props["redrivePolicy"])["maxReceiveCount"] in (3, "3")
    (mapping,) = by_type["EventSourceMapping"]
    assert mapping.props["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping.props["batchSize"] == 10 and worker["mapping"] in mapping.name
    (alarm,) = by_type["MetricAlarm"]
    assert alarm.props["dimensions"] == {"QueueName": "qw-dlq"}


def test_a_removed_redrive_policy_fails(stack, worker):
    # GIVEN the redrive policy removed from the source queue after the deploy
    boto3.client("sqs", region_name=REGION).set_queue_attributes(
        QueueUrl=worker["queue_url"], Attributes={"RedrivePolicy": ""}
    )
    # WHEN preflight runs
    problems = failed(preflight(stack, PATTERN))
    # THEN the redrive rule fails naming the queue and the missing setting
    (line,) = problems.pop(verdict_name("sqs-source-redrive"))
    assert line.startswith("qw-queue:") and "RedrivePolicy" in line
    # (the former DLQ is nobody's DLQ now, so nothing else has a reason to fail)
    assert problems == {}


def test_the_seeds_greater_than_one_dlq_alarm_fails(stack, worker):
    # GIVEN the DLQ alarm changed to the seed's GreaterThanThreshold 1
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        **dlq_alarm(
            "qw-dlq-alarm", "qw-dlq", worker["topic"], ComparisonOperator="GreaterThanThreshold"
        )
    )
    # WHEN preflight runs THEN only the fire-on-one rule fails, naming the DLQ and the alarm
    assert failed(preflight(stack, PATTERN)) == {
        verdict_name("dlq-alarm-on-one"): [
            "qw-dlq: DLQ of qw-queue: its alarm qw-dlq-alarm GreaterThanThreshold 1 does not "
            "fire on one message (needs >= 1 or > 0)"
        ]
    }


def test_a_dlq_alarm_on_the_wrong_queue_fails(stack, worker):
    # GIVEN the alarm the outputs name watching the source queue instead of the DLQ
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        **dlq_alarm("qw-dlq-alarm", "qw-queue", worker["topic"])
    )
    # WHEN preflight runs THEN the DLQ is unwatched
    (line,) = failed(preflight(stack, PATTERN))[verdict_name("dlq-alarm-on-one")]
    assert line.startswith("qw-dlq:") and "no alarm watches" in line


def test_a_dlq_alarm_without_actions_fails(stack, worker):
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        **dlq_alarm("qw-dlq-alarm", "qw-dlq", worker["topic"], AlarmActions=[])
    )
    assert failed(preflight(stack, PATTERN)) == {
        verdict_name("dlq-alarm-actions"): [
            "qw-dlq-alarm: watches DLQ qw-dlq (of qw-queue) but has no alarm action "
            "(AlarmActions is empty): it changes state and nobody is told"
        ]
    }


def test_a_dlq_alarm_found_by_metric_counts_even_if_the_outputs_do_not_name_it(stack, worker):
    # GIVEN the named alarm on the wrong queue, and a right one the outputs do not know
    cw = boto3.client("cloudwatch", region_name=REGION)
    cw.put_metric_alarm(**dlq_alarm("qw-dlq-alarm", "qw-queue", worker["topic"]))
    cw.put_metric_alarm(**dlq_alarm("ops-dlq-alarm", "qw-dlq", worker["topic"]))
    # WHEN preflight runs THEN the DLQ is watched
    assert failed(preflight(stack, PATTERN)) == {}


def test_a_visibility_below_six_times_the_timeout_fails(stack, worker):
    boto3.client("sqs", region_name=REGION).set_queue_attributes(
        QueueUrl=worker["queue_url"], Attributes={"VisibilityTimeout": "10"}
    )
    (line,) = failed(preflight(stack, PATTERN))[verdict_name("visibility-timeout-6x")]
    assert line.startswith("qw-queue:") and "10 s < 6 x qw-worker timeout 5 s" in line


def test_a_mapping_without_report_batch_item_failures_fails(stack, worker):
    # GIVEN the mapping updated to drop FunctionResponseTypes
    boto3.client("lambda", region_name=REGION).update_event_source_mapping(
        UUID=worker["mapping"], FunctionResponseTypes=[]
    )
    # WHEN preflight runs THEN the mapping is named with its queue and function
    problems = failed(preflight(stack, PATTERN))
    (line,) = problems.pop(verdict_name("batch-item-failures"))
    assert f"mapping {worker['mapping']} (qw-queue -> qw-worker)" in line
    assert "sqs batch size 10" in line and problems == {}


def test_a_wildcard_in_the_live_role_fails(stack, worker):
    # GIVEN an inline policy with wildcards put on the worker's role
    statement = {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}
    document = {"Version": "2012-10-17", "Statement": [statement]}
    boto3.client("iam", region_name=REGION).put_role_policy(
        RoleName="chaos-unit", PolicyName="hotfix", PolicyDocument=json.dumps(document)
    )
    # WHEN preflight runs THEN the role policy is named
    lines = failed(preflight(stack, PATTERN))[verdict_name("iam-no-wildcards")]
    assert lines == [
        "role chaos-unit policy hotfix: wildcard action 'sqs:*'",
        "role chaos-unit policy hotfix: wildcard resource '*' for ['sqs:*']",
    ]


def test_a_resource_the_outputs_name_but_the_cloud_lacks_is_an_aws_error(stack, worker):
    boto3.client("lambda", region_name=REGION).delete_function(FunctionName="qw-worker")
    with pytest.raises(AwsCallError) as raised:
        preflight(stack, PATTERN)
    assert raised.value.resource == "function qw-worker"
    assert raised.value.action == "lambda:GetFunctionConfiguration"
