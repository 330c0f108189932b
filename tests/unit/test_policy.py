"""The policy pack passes on the whole program and fails on broken graphs, one per invariant.

Broken graphs come from the real components, either with broken Args or with one
recorded property changed (a component refuses most bugs in its Args, a drifted or
hand-written stack does not).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from components.async_function import AsyncFunction
from components.event_pipeline import EventPipeline
from components.queue_worker import QueueWorker
from components.stream_processor import StreamProcessor
from policy.invariants import CHECKS, Resource, check_all, resources_from
from policy.pack import build_policies
from tests.unit.components.comp_helpers import build, common, function

KEY_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slow-key-AbCdEf"

QUEUE = "aws:sqs/queue:Queue"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alarms"


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_the_program_passes_every_invariant(program_run, stack):
    assert check_all(program_run(stack).mocks) == []


def violations_of(resources, policy):
    found = check_all(resources)
    assert found, "the broken graph passed every invariant"
    assert {v.policy for v in found} == {policy}, [str(v) for v in found]
    return found


def graph(factory):
    mocks, _ = build(factory)
    resources = resources_from(mocks)
    assert check_all(resources) == [], "the unbroken graph must pass"
    return resources


def edited(resources, type_, name, drop=(), **changes):
    """The graph with one resource's props changed (keys in `drop` removed)."""
    out, hit = [], False
    for r in resources:
        if r.type == type_ and r.name == name:
            hit = True
            props = {k: v for k, v in r.props.items() if k not in drop}
            r = r._replace(props={**props, **changes})  # its URN (where it sits) kept
        out.append(r)
    assert hit, f"no {type_} {name}"
    return out


def queue_worker(**extra):
    return lambda: QueueWorker(
        "qw", {"function": function("queue_worker", 5), **common("qw"), **extra}
    )


def stream_processor(**extra):
    return lambda: StreamProcessor(
        "sp", {"function": function("stream_processor"), **common("sp"), **extra}
    )


def event_pipeline(flow: bool):
    return lambda: EventPipeline(
        "ep",
        {
            "notifier": function("notifier", 3),
            "delivery": function("delivery", 10),
            **common("ep"),
            "slow_api_url": "https://slow.example/",
            "slow_api_key_secret_arn": KEY_SECRET,
            "flow_control": flow,
        },
    )


@pytest.fixture(scope="module")
def qw():
    return graph(queue_worker())


@pytest.fixture(scope="module")
def flow():
    return graph(event_pipeline(True))


@pytest.fixture(scope="module")
def direct():
    return graph(event_pipeline(False))


# --- async-failure-destination --------------------------------------------------------------


def test_async_function_without_dlq_or_destination_fails():
    # GIVEN an SNS-invoked function with neither a DLQ nor an OnFailure destination
    mocks, _ = build(
        lambda: AsyncFunction(
            "af",
            {
                "function": function("async_worker"),
                **common("af"),
                "dead_letter_queue": False,
                "on_failure_destination": False,
            },
        )
    )
    # WHEN checked THEN the function is named
    (v,) = violations_of(mocks, "async-failure-destination")
    assert v.resource == "af-worker" and "dropped" in v.message


def test_async_function_with_only_one_of_them_passes():
    for disabled in ("dead_letter_queue", "on_failure_destination"):
        mocks, _ = build(
            lambda d=disabled: AsyncFunction(
                "af", {"function": function("async_worker"), **common("af"), d: False}
            )
        )
        assert check_all(mocks) == []


def test_an_eventbridge_lambda_target_is_async_even_without_a_permission_in_the_graph(direct):
    # GIVEN the direct pipeline's delivery without its DLQ, with neither an invoke config nor
    # a Permission resource (a target added by hand, a permission granted outside the stack)
    broken = edited(direct, FUNCTION, "ep-delivery", drop=("deadLetterConfig",))
    broken = [r for r in broken if r.type not in (PERMISSION, INVOKE_CONFIG)]
    # WHEN checked THEN the EventBridge target alone makes it async
    (v,) = violations_of(broken, "async-failure-destination")
    assert v.resource == "ep-delivery"


# --- sqs-source-redrive ---------------------------------------------------------------------


def test_sqs_source_without_redrive_fails():
    mocks, _ = build(queue_worker(dead_letter_queue=False))
    (v,) = violations_of(mocks, "sqs-source-redrive")
    assert v.resource == "qw-queue" and "no redrive policy" in v.message


def test_the_flow_buffer_between_eventbridge_and_the_mapping_needs_a_redrive(flow):
    # GIVEN the seed's flow-control branch: EventBridge -> SQS buffer -> mapping, no redrive
    broken = edited(flow, QUEUE, "ep-buffer", drop=("redrivePolicy",))
    # WHEN checked
    found = check_all(broken)
    # THEN the buffer is named, with the EventBridge target that writes to it
    redrive = [v for v in found if v.policy == "sqs-source-redrive"]
    assert [v.resource for v in redrive] == ["ep-buffer"]
    assert "written by ep-target" in redrive[0].message
    # (its former DLQ is now nobody's DLQ, so no other rule has anything to say)
    assert {v.policy for v in found} == {"sqs-source-redrive"}


def test_a_redrive_policy_without_a_valid_max_receive_count_fails(qw):
    (queue,) = [r for r in qw if r.name == "qw-queue"]
    policy = json.loads(queue.props["redrivePolicy"])
    for count in (None, 0, 1001, "many"):
        # GIVEN the redrive policy with maxReceiveCount missing or out of SQS's range
        changed = {k: v for k, v in policy.items() if k != "maxReceiveCount"}
        if count is not None:
            changed["maxReceiveCount"] = count
        broken = edited(qw, QUEUE, "qw-queue", redrivePolicy=json.dumps(changed))
        # WHEN checked THEN the queue is named
        (v,) = violations_of(broken, "sqs-source-redrive")
        assert v.resource == "qw-queue" and "maxReceiveCount" in v.message


def test_a_max_receive_count_given_as_a_string_still_counts(qw):
    # SQS hands attributes back as strings; the live read-back may keep them so.
    (queue,) = [r for r in qw if r.name == "qw-queue"]
    policy = {**json.loads(queue.props["redrivePolicy"]), "maxReceiveCount": "3"}
    assert check_all(edited(qw, QUEUE, "qw-queue", redrivePolicy=json.dumps(policy))) == []


# --- visibility-timeout-6x ------------------------------------------------------------------


def test_visibility_below_six_times_the_timeout_fails():
    # Valid for Lambda (>= the timeout), but a retried batch can overlap the next receive.
    mocks, _ = build(queue_worker(visibility_timeout=10))
    (v,) = violations_of(mocks, "visibility-timeout-6x")
    assert "10 s < 6 x qw-worker" in v.message


# --- batch-item-failures --------------------------------------------------------------------


def test_an_sqs_batch_without_report_batch_item_failures_fails(qw):
    # GIVEN the worker's mapping (batch 10) without FunctionResponseTypes
    broken = edited(qw, MAPPING, "qw-mapping", drop=("functionResponseTypes",))
    # WHEN checked THEN the mapping is named
    (v,) = violations_of(broken, "batch-item-failures")
    assert v.resource == "qw-mapping" and "sqs batch size 10" in v.message


def test_a_batch_of_one_needs_no_partial_response(flow):
    # A one-record batch that fails raises (Powertools raises when every record failed).
    assert check_all(edited(flow, MAPPING, "ep-mapping", drop=("functionResponseTypes",))) == []


def test_a_stream_batch_without_report_batch_item_failures_fails():
    resources = graph(stream_processor())
    broken = edited(resources, MAPPING, "sp-mapping", functionResponseTypes=[])
    (v,) = violations_of(broken, "batch-item-failures")
    assert "kinesis batch size 100" in v.message


# --- stream-bisect / stream-on-failure / stream-finite-retries ------------------------------


def test_a_stream_mapping_without_bisect_fails():
    mocks, _ = build(stream_processor(bisect_on_error=False))
    (v,) = violations_of(mocks, "stream-bisect")
    assert v.resource == "sp-mapping"


def test_a_stream_mapping_without_on_failure_fails():
    mocks, _ = build(stream_processor(on_failure_destination=False))
    (v,) = violations_of(mocks, "stream-on-failure")
    assert v.resource == "sp-mapping" and "without a trace" in v.message


def test_a_stream_mapping_that_never_gives_up_fails():
    # GIVEN infinite retries AND infinite record age
    mocks, _ = build(stream_processor(maximum_retry_attempts=-1, maximum_record_age=-1))
    # WHEN checked THEN the shard is said to block
    (v,) = violations_of(mocks, "stream-finite-retries")
    assert "blocks its shard" in v.message


def test_unset_stream_limits_are_aws_defaults_infinite():
    resources = graph(stream_processor())
    broken = edited(
        resources,
        MAPPING,
        "sp-mapping",
        drop=("maximumRetryAttempts", "maximumRecordAgeInSeconds"),
    )
    violations_of(broken, "stream-finite-retries")


def test_infinite_retries_with_a_finite_record_age_pass():
    mocks, _ = build(stream_processor(maximum_retry_attempts=-1))
    assert check_all(mocks) == []


# --- dlq-alarm-on-one -----------------------------------------------------------------------


def test_dlq_alarm_that_needs_two_messages_fails():
    mocks, _ = build(queue_worker(alarms={"topic_arn": TOPIC, "dlq_threshold": 2}))
    (v,) = violations_of(mocks, "dlq-alarm-on-one")
    assert v.resource == "qw-dlq" and "does not fire on one message" in v.message


def test_the_seeds_greater_than_one_alarm_fails(qw):
    # GIVEN the seed's DLQ alarm: GreaterThanThreshold 1 (one dead message never fires it)
    broken = edited(qw, ALARM, "qw-dlq-alarm", comparisonOperator="GreaterThanThreshold")
    # WHEN checked THEN the DLQ is named, with the reason
    (v,) = violations_of(broken, "dlq-alarm-on-one")
    assert v.resource == "qw-dlq"
    assert "GreaterThanThreshold 1 does not fire on one message" in v.message


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"statistic": "Average"}, "statistic Average"),
        ({"statistic": "SampleCount"}, "statistic SampleCount"),
        ({"metricName": "NumberOfMessagesSent"}, "not AWS/SQS/ApproximateNumberOfMessagesVisible"),
        ({"comparisonOperator": "GreaterThanOrEqualToThreshold", "threshold": 0}, ">= 0"),
        ({"comparisonOperator": "LessThanThreshold"}, "LessThanThreshold"),
    ],
)
def test_dlq_alarms_that_do_not_fire_on_one_message_fail(qw, change, reason):
    broken = edited(qw, ALARM, "qw-dlq-alarm", **change)
    (v,) = violations_of(broken, "dlq-alarm-on-one")
    assert v.resource == "qw-dlq", v
    if reason == ">= 0":
        assert "GreaterThanOrEqualToThreshold 0 does not fire" in v.message
    else:
        assert reason in v.message


def test_a_dlq_alarm_with_an_extra_dimension_fails(qw):
    (alarm,) = [r for r in qw if r.name == "qw-dlq-alarm"]
    dimensions = {**alarm.props["dimensions"], "Stage": "prod"}
    (v,) = violations_of(
        edited(qw, ALARM, "qw-dlq-alarm", dimensions=dimensions), "dlq-alarm-on-one"
    )
    assert "QueueName alone" in v.message


def test_a_dlq_alarm_on_another_queue_leaves_the_dlq_unwatched(qw):
    # GIVEN the DLQ alarm watching the source queue instead of the DLQ
    (source,) = [r for r in qw if r.name == "qw-queue"]
    broken = edited(qw, ALARM, "qw-dlq-alarm", dimensions={"QueueName": source.props["name"]})
    # WHEN checked THEN the DLQ is named as unwatched
    (v,) = violations_of(broken, "dlq-alarm-on-one")
    assert v.resource == "qw-dlq" and "no alarm watches" in v.message


def test_a_dlq_that_is_not_in_the_stack_fails():
    fn = (FUNCTION, "f", {"name": "f", "deadLetterConfig": {"targetArn": "arn:aws:sqs:r:1:gone"}})
    (v,) = violations_of([fn], "dlq-alarm-on-one")
    assert v.resource == "arn:aws:sqs:r:1:gone" and "not a queue of this stack" in v.message


def _dlq_with(**alarm_props):
    queue = (QUEUE, "d", {"name": "d", "arn": "arn:aws:sqs:us-east-1:1:d"})
    fn = (FUNCTION, "f", {"name": "f", "deadLetterConfig": {"targetArn": queue[2]["arn"]}})
    alarm = {
        "namespace": "AWS/SQS",
        "metricName": "ApproximateNumberOfMessagesVisible",
        "statistic": "Maximum",
        "dimensions": {"QueueName": "d"},
        "alarmActions": [TOPIC],
        "comparisonOperator": "GreaterThanOrEqualToThreshold",
        "threshold": 1,
        **alarm_props,
    }
    return [queue, fn, (ALARM, "a", alarm)]


@pytest.mark.parametrize(
    "alarm",
    [
        {"comparisonOperator": "GreaterThanThreshold", "threshold": 0},
        {"comparisonOperator": "GreaterThanThreshold", "threshold": 0.5},
        {"statistic": "Sum"},
        {"threshold": "1"},  # CloudWatch answers are numbers; a string must not confuse it
    ],
)
def test_dlq_alarms_that_fire_on_one_message_pass(alarm):
    assert check_all(_dlq_with(**alarm)) == []


def test_the_alarm_on_more_than_one_fails_the_same_hand_written_graph():
    found = check_all(_dlq_with(comparisonOperator="GreaterThanThreshold"))
    assert [v.policy for v in found] == ["dlq-alarm-on-one"]


# --- dlq-alarm-actions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"alarmActions": []}, "no alarm action"),
        ({"actionsEnabled": False}, "actions disabled"),
        (
            {"alarmActions": ["arn:aws:automate:us-east-1:ec2:stop"]},
            "notifies no SNS topic",
        ),
    ],
)
def test_a_dlq_alarm_that_notifies_nobody_fails(qw, change, problem):
    # GIVEN the DLQ alarm with no action, its actions disabled, or an action that is not SNS
    broken = edited(qw, ALARM, "qw-dlq-alarm", **change)
    # WHEN checked THEN the alarm is named (it still fires on one: only this rule fails)
    (v,) = violations_of(broken, "dlq-alarm-actions")
    assert v.resource == "qw-dlq-alarm" and problem in v.message


# --- event-target-dlq / event-target-retry-policy -------------------------------------------


def test_an_eventbridge_target_without_a_dlq_fails(direct):
    broken = edited(direct, TARGET, "ep-target", drop=("deadLetterConfig",))
    found = check_all(broken)
    # The former target DLQ is nobody's DLQ now: only the target rule speaks.
    assert [(v.policy, v.resource) for v in found] == [("event-target-dlq", "ep-target")]


@pytest.mark.parametrize(
    "policy", [None, {"maximumRetryAttempts": 3}, {"maximumEventAgeInSeconds": 600}]
)
def test_an_eventbridge_target_without_a_full_retry_policy_fails(flow, policy):
    broken = edited(flow, TARGET, "ep-target", retryPolicy=policy)
    (v,) = violations_of(broken, "event-target-retry-policy")
    assert v.resource == "ep-target" and "RetryPolicy lacks" in v.message


# --- iam-no-wildcards -----------------------------------------------------------------------


def test_iam_wildcards_fail():
    statements = [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]
    mocks, _ = build(
        queue_worker(
            function={**function("queue_worker", 5), "extra_policy_statements": statements}
        )
    )
    found = violations_of(mocks, "iam-no-wildcards")
    # (each resource wildcard says what is allowed instead: tests/unit/test_policy_grants.py)
    assert {v.message.split(": name each")[0] for v in found} == {
        "wildcard action 'sqs:*'",
        "wildcard resource '*' for ['sqs:*']",
    }


def test_wildcards_are_allowed_only_where_the_action_has_no_resource_level_permission():
    def role_policy(action, resource):
        statement = {"Effect": "Allow", "Action": [action], "Resource": [resource]}
        return (
            "aws:iam/rolePolicy:RolePolicy",
            "p",
            {"policy": json.dumps({"Statement": [statement]})},
        )

    assert check_all([role_policy("xray:PutTraceSegments", "*")]) == []
    group = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*"
    assert check_all([role_policy("logs:PutLogEvents", group)]) == []
    assert check_all([role_policy("sqs:SendMessage", "arn:aws:sqs:us-east-1:*:q")])
    assert check_all([role_policy("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:*")])


# --- the pulumi-policy wrapper --------------------------------------------------------------


def test_the_pack_enforces_every_check_and_reports_with_urns():
    # GIVEN the pack's policies and a graph that breaks one rule
    mocks, _ = build(queue_worker(dead_letter_queue=False))
    resources = [
        SimpleNamespace(resource_type=r.type, name=r.name, props=r.props, urn=r.urn) for r in mocks
    ]
    policies = {p.name: p for p in build_policies()}
    # WHEN every policy validates it
    reported = []
    for policy in policies.values():
        policy.validate(
            SimpleNamespace(resources=resources),
            lambda message, urn=None: reported.append((message, urn)),
        )
    # THEN the pack holds every check, mandatory, and the one violation carries its URN
    assert set(policies) == set(CHECKS)
    assert {p.enforcement_level.value for p in policies.values()} == {"mandatory"}
    (message, urn) = reported[0]
    assert len(reported) == 1 and urn.endswith("::qw-queue") and "no redrive policy" in message


SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"


@pytest.mark.parametrize(
    "subscription", ["fan-out-orders-subscription", "async-function-subscription"]
)
def test_an_sns_subscription_without_a_dlq_fails(program_run, subscription):
    # GIVEN the program's graph, with one subscription's redrive policy removed
    resources = resources_from(program_run("local").mocks)
    broken = edited(resources, SUBSCRIPTION, subscription, drop=("redrivePolicy",))
    # THEN only the subscription rule speaks, naming that subscription
    found = check_all(broken)
    assert [(v.policy, v.resource) for v in found] == [("subscription-dlq", subscription)]


def test_the_alarm_topics_own_subscriber_needs_no_dlq_but_any_other_topic_does(program_run):
    # GIVEN the program's graph: the alarm inbox subscription has no DLQ, and passes
    resources = resources_from(program_run("local").mocks)
    inbox = next(r for r in resources if r.name == "shared-alarm-inbox-subscription")
    assert not inbox.props.get("redrivePolicy") and check_all(resources) == []
    # WHEN the same subscription is on a topic no alarm notifies THEN it needs a DLQ
    moved = edited(resources, SUBSCRIPTION, inbox.name, topic="arn:aws:sns:us-east-1:1:other")
    assert [(v.policy, v.resource) for v in check_all(moved)] == [("subscription-dlq", inbox.name)]


# --- table-capacity -------------------------------------------------------------------------

TABLE = "aws:dynamodb/table:Table"


def ride_records(**extra):
    from components.ride_records import RideRecords

    return lambda: RideRecords(
        "rr", {"function": function("ride_writer"), **common("ride_records"), **extra}
    )


def test_a_provisioned_table_with_write_autoscaling_passes():
    graph(ride_records(billing_mode="PROVISIONED", write_capacity=2, read_capacity=2))


def test_a_provisioned_table_without_autoscaling_fails():
    mocks, _ = build(ride_records(billing_mode="PROVISIONED", autoscaling_max_capacity=0))
    [found] = violations_of(resources_from(mocks), "table-capacity")
    assert found.resource == "rr-rides"
    assert "no write autoscaling scalable target or policy" in found.message


def test_an_on_demand_table_made_provisioned_fails_and_a_target_without_policy_too(program_run):
    # GIVEN the program's graph, with the rides table switched to fixed capacity
    resources = resources_from(program_run("local").mocks)
    broken = edited(resources, TABLE, "ride-records-rides", billingMode="PROVISIONED")
    assert [(v.policy, v.resource) for v in check_all(broken)] == [
        ("table-capacity", "ride-records-rides")
    ]
    # AND a table without BillingMode is PROVISIONED, as on AWS
    unset = edited(resources, TABLE, "ride-records-rides", drop=("billingMode",))
    assert [v.policy for v in check_all(unset)] == ["table-capacity"]
    # WHEN a scalable target exists but no scaling policy THEN it still does not scale
    name = next(r for r in broken if r.name == "ride-records-rides").props["name"]
    target = Resource(
        "aws:appautoscaling/target:Target",
        "t",
        {
            "serviceNamespace": "dynamodb",
            "resourceId": f"table/{name}",
            "scalableDimension": "dynamodb:table:WriteCapacityUnits",
        },
    )
    [found] = check_all([*broken, target])
    assert found.message.startswith(f"PROVISIONED table {name} has no write autoscaling policy")
