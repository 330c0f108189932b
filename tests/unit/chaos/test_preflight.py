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

from chaos.declared import DECLARED_RULE
from chaos.errors import AwsCallError
from chaos.preflight import live_resources, preflight, verdict_name
from chaos.stack import Stack
from components import outputs as keys
from policy.invariants import CHECKS
from tests.unit.chaos.chaos_unit_helpers import REGION, make_function, queue

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
    # THEN one verdict per rule and the declared settings, each passed
    assert [v.name for v in verdicts] == [verdict_name(r) for r in [*CHECKS, DECLARED_RULE]]
    assert failed(verdicts) == {}
    assert verdicts[0].figures["pattern"] == PATTERN
    # (redrive count, DLQ, visibility, batch size: each declared setting was compared)
    assert verdicts[-1].figures["settings_checked"] == 4


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
    # AND the outputs still declare the count and the DLQ: the cloud has neither
    assert problems.pop(verdict_name(DECLARED_RULE)) == [
        "queue_worker.max_receive_count: declared 3, live RedrivePolicy maxReceiveCount of"
        " queue qw-queue = absent",
        "queue_worker.dlq_url: declared 'arn:aws:sqs:us-east-1:123456789012:qw-dlq', live"
        " RedrivePolicy deadLetterTargetArn of queue qw-queue = absent",
    ]
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
    assert [line.split(": name each")[0] for line in lines] == [
        "role chaos-unit policy hotfix: wildcard action 'sqs:*'",
        "role chaos-unit policy hotfix: wildcard resource '*' for ['sqs:*']",
    ]


def open_policy(arn: str, action: str, **condition: Any) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": action,
        "Resource": arn,
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_a_live_queue_policy_open_to_anyone_fails(stack, worker):
    # GIVEN the worker's DLQ opened to any principal, as a console hotfix might
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = stack.outputs[PATTERN]["dlq_url"]
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={"Policy": open_policy(arn_of(dlq_url), "sqs:SendMessage")},
    )
    # WHEN preflight runs THEN the queue is named
    (line,) = failed(preflight(stack, PATTERN))[verdict_name("queue-topic-policy-scoped")]
    assert line.startswith("qw-dlq: queue policy a statement allows anyone (Principal '*')")
    # AND scoped by a source ARN, the same statement passes
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={
            "Policy": open_policy(
                arn_of(dlq_url),
                "sqs:SendMessage",
                ArnEquals={"aws:SourceArn": worker["topic"]},
            )
        },
    )
    assert verdict_name("queue-topic-policy-scoped") not in failed(preflight(stack, PATTERN))


def test_a_live_topic_policy_open_to_anyone_fails(stack, async_function):
    # GIVEN the async function's topic opened to any publisher
    sns = boto3.client("sns", region_name=REGION)
    topic = stack.outputs[keys.ASYNC_FUNCTION]["topic_arn"]
    assert verdict_name("queue-topic-policy-scoped") not in failed(
        preflight(stack, keys.ASYNC_FUNCTION)
    )
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=open_policy(topic, "sns:Publish")
    )
    # WHEN preflight runs THEN the topic is named
    (line,) = failed(preflight(stack, keys.ASYNC_FUNCTION))[
        verdict_name("queue-topic-policy-scoped")
    ]
    assert line.startswith("af-topic: topic policy a statement allows anyone")


def test_a_resource_the_outputs_name_but_the_cloud_lacks_is_an_aws_error(stack, worker):
    boto3.client("lambda", region_name=REGION).delete_function(FunctionName="qw-worker")
    with pytest.raises(AwsCallError) as raised:
        preflight(stack, PATTERN)
    assert raised.value.resource == "function qw-worker"
    assert raised.value.action == "lambda:GetFunctionConfiguration"


def dlq_with_alarm(name: str, topic: str) -> tuple[str, str]:
    url = queue(name)
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        **dlq_alarm(f"{name}-alarm", name, topic)
    )
    return url, arn_of(url)


@pytest.fixture
def async_function(stack: Stack, worker: dict[str, Any]) -> dict[str, Any]:
    """SNS -> Lambda with a subscription DLQ, a function DLQ and an OnFailure destination."""
    lam = boto3.client("lambda", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    topic = worker["topic"]
    _, sub_dlq = dlq_with_alarm("af-subscription-dlq", topic)
    dlq_url, dlq = dlq_with_alarm("af-dlq", topic)
    on_failure_url, on_failure = dlq_with_alarm("af-on-failure", topic)
    fn = make_function("af-worker", Timeout=3, DeadLetterConfig={"TargetArn": dlq})
    lam.put_function_event_invoke_config(
        FunctionName=fn,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": on_failure}},
    )
    source = sns.create_topic(Name="af-topic")["TopicArn"]
    fn_arn = lam.get_function_configuration(FunctionName=fn)["FunctionArn"]
    lam.add_permission(
        FunctionName=fn,
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=source,
    )
    sns.subscribe(
        TopicArn=source,
        Protocol="lambda",
        Endpoint=fn_arn,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": sub_dlq})},
    )
    stack.outputs[keys.ASYNC_FUNCTION] = {
        "function": {"name": fn, "arn": fn_arn, "timeout": 3},
        "topic_arn": source,
        "dlq_url": dlq_url,
        "on_failure_queue_url": on_failure_url,
        "alarms": {},
    }
    return {"function": fn, "sub_dlq": sub_dlq}


def test_an_async_function_is_read_with_its_three_dlqs(stack, async_function):
    # GIVEN an SNS-invoked function with every way out WHEN read back
    resources = live_resources(stack, keys.ASYNC_FUNCTION)
    verdicts = preflight(stack, keys.ASYNC_FUNCTION)
    # THEN it passes, and the subscription DLQ (named by no output) was found and checked;
    # but moto 5.2.5 drops a function's DeadLetterConfig (the local cloud keeps it:
    # localcloud/lambda_/dead_letter.py), so here the declared function DLQ reads absent
    assert failed(verdicts) == {
        verdict_name(DECLARED_RULE): [
            "async_function.dlq_url: declared 'arn:aws:sqs:us-east-1:123456789012:af-dlq',"
            " live DeadLetterConfig of function af-worker = absent"
        ]
    }
    names = {r.props.get("name") for r in resources if r.type.endswith("Queue")}
    assert {"af-subscription-dlq", "af-dlq", "af-on-failure"} <= names
    assert "af-subscription-dlq-alarm" in {r.name for r in resources}


def test_an_async_function_that_lost_both_ways_out_fails(stack, async_function):
    # GIVEN the function DLQ and the OnFailure destination removed in the cloud
    lam = boto3.client("lambda", region_name=REGION)
    lam.delete_function_event_invoke_config(FunctionName="af-worker")
    lam.update_function_configuration(FunctionName="af-worker", DeadLetterConfig={"TargetArn": ""})
    # WHEN preflight runs THEN the SNS permission still marks it async, and it is named
    (line,) = failed(preflight(stack, keys.ASYNC_FUNCTION))[
        verdict_name("async-failure-destination")
    ]
    assert line.startswith("af-worker:") and "neither a DLQ" in line


def test_a_subscription_dlq_without_an_alarm_fails(stack, async_function):
    boto3.client("cloudwatch", region_name=REGION).delete_alarms(
        AlarmNames=["af-subscription-dlq-alarm"]
    )
    (line,) = failed(preflight(stack, keys.ASYNC_FUNCTION))[verdict_name("dlq-alarm-on-one")]
    assert line.startswith("af-subscription-dlq: DLQ of subscription ")


@pytest.fixture
def pipeline(stack: Stack, worker: dict[str, Any]) -> dict[str, Any]:
    """EventBridge rule on a bus -> SQS buffer (flow control), with target DLQ and retries."""
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name="ep-bus")
    events.put_rule(Name="ep-rule", EventBusName="ep-bus", EventPattern='{"source": ["x"]}')
    _, target_dlq = dlq_with_alarm("ep-target-dlq", worker["topic"])
    target = {
        "Id": "buffer",
        "Arn": arn_of(worker["queue_url"]),
        "DeadLetterConfig": {"Arn": target_dlq},
        "RetryPolicy": {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 600},
    }
    events.put_targets(Rule="ep-rule", EventBusName="ep-bus", Targets=[target])
    stack.outputs[keys.EVENT_PIPELINE_FLOW] = {
        "rule_name": "ep-rule",
        "event_bus_name": "ep-bus",
        "buffer_queue_url": worker["queue_url"],
        "alarms": {},
    }
    return target


def test_an_eventbridge_target_read_back_passes(stack, pipeline):
    assert failed(preflight(stack, keys.EVENT_PIPELINE_FLOW)) == {}


def test_an_eventbridge_target_put_again_without_dlq_and_retry_policy_fails(stack, pipeline):
    # GIVEN the target replaced by one without DeadLetterConfig and RetryPolicy
    bare = {"Id": pipeline["Id"], "Arn": pipeline["Arn"]}
    boto3.client("events", region_name=REGION).put_targets(
        Rule="ep-rule", EventBusName="ep-bus", Targets=[bare]
    )
    # WHEN preflight runs THEN both target rules name it (its old DLQ is nobody's now)
    problems = failed(preflight(stack, keys.EVENT_PIPELINE_FLOW))
    assert set(problems) == {
        verdict_name("event-target-dlq"),
        verdict_name("event-target-retry-policy"),
    }
    assert all(p[0].startswith("rule ep-rule target buffer:") for p in problems.values())


@pytest.fixture
def stream(stack: Stack, worker: dict[str, Any]) -> dict[str, Any]:
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName="sp-stream", ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName="sp-stream")[
        "StreamDescriptionSummary"
    ]["StreamARN"]
    _, on_failure = dlq_with_alarm("sp-on-failure", worker["topic"])
    fn = make_function("sp-processor", Timeout=3)
    mapping = boto3.client("lambda", region_name=REGION).create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=fn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=100,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=2,
        MaximumRecordAgeInSeconds=60,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        DestinationConfig={"OnFailure": {"Destination": on_failure}},
    )
    stack.outputs[keys.STREAM_PROCESSOR] = {
        "function": {"name": fn, "arn": "", "timeout": 3},
        "stream_name": "sp-stream",
        "mapping_uuid": mapping["UUID"],
        "alarms": {},
    }
    return mapping


def test_a_kinesis_mapping_read_back_passes(stack, stream):
    assert failed(preflight(stack, keys.STREAM_PROCESSOR)) == {}


def test_a_kinesis_mapping_that_stopped_bisecting_fails(stack, stream):
    boto3.client("lambda", region_name=REGION).update_event_source_mapping(
        UUID=stream["UUID"], BisectBatchOnFunctionError=False
    )
    (line,) = failed(preflight(stack, keys.STREAM_PROCESSOR))[verdict_name("stream-bisect")]
    assert line.startswith(f"mapping {stream['UUID']} (sp-stream -> sp-processor):")
