"""The policy pack passes on the whole program and fails on broken Args, one per invariant."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

# The component builders live beside the component tests (tests/unit/components has no
# __init__.py, so pytest only puts that folder on sys.path for its own test files).
sys.path.insert(0, str(Path(__file__).parent / "components"))
from comp_helpers import build, common, function  # noqa: E402

from components.async_function import AsyncFunction  # noqa: E402
from components.queue_worker import QueueWorker  # noqa: E402
from components.stream_processor import StreamProcessor  # noqa: E402
from policy.invariants import CHECKS, check_all  # noqa: E402
from policy.pack import build_policies  # noqa: E402


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_the_program_passes_every_invariant(program_run, stack):
    assert check_all(program_run(stack).mocks) == []


def violations_of(factory, policy):
    mocks, _ = build(factory)
    found = check_all(mocks)
    assert found, "the broken Args passed every invariant"
    assert {v.policy for v in found} == {policy}, [str(v) for v in found]
    return found


def queue_worker(**extra):
    return lambda: QueueWorker(
        "qw", {"function": function("queue_worker", 5), **common("qw"), **extra}
    )


def test_async_function_without_dlq_or_destination_fails():
    (v,) = violations_of(
        lambda: AsyncFunction(
            "af",
            {
                "function": function("async_worker"),
                **common("af"),
                "dead_letter_queue": False,
                "on_failure_destination": False,
            },
        ),
        "async-failure-destination",
    )
    assert v.resource == "af-worker" and "dropped" in v.message


def test_async_function_with_only_one_of_them_passes():
    for disabled in ("dead_letter_queue", "on_failure_destination"):
        mocks, _ = build(
            lambda d=disabled: AsyncFunction(
                "af", {"function": function("async_worker"), **common("af"), d: False}
            )
        )
        assert check_all(mocks) == []


def test_sqs_source_without_redrive_fails():
    (v,) = violations_of(queue_worker(dead_letter_queue=False), "sqs-source-redrive")
    assert v.resource == "qw-queue"


def test_visibility_below_six_times_the_timeout_fails():
    # Valid for Lambda (>= the timeout), but a retried batch can overlap the next receive.
    (v,) = violations_of(queue_worker(visibility_timeout=10), "visibility-timeout-6x")
    assert "10 s < 6 x qw-worker" in v.message


def test_stream_with_infinite_retries_and_no_on_failure_fails():
    (v,) = violations_of(
        lambda: StreamProcessor(
            "sp",
            {
                "function": function("stream_processor"),
                **common("sp"),
                "maximum_retry_attempts": -1,
                "on_failure_destination": False,
            },
        ),
        "stream-finite-retries",
    )
    assert "blocks its shard" in v.message


def test_dlq_alarm_that_needs_two_messages_fails():
    (v,) = violations_of(
        queue_worker(
            alarms={"topic_arn": "arn:aws:sns:us-east-1:123456789012:a", "dlq_threshold": 2}
        ),
        "dlq-alarm-on-one",
    )
    assert v.resource == "qw-dlq" and "does not fire on one message" in v.message


def test_iam_wildcards_fail():
    statements = [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]
    found = violations_of(
        queue_worker(
            function={**function("queue_worker", 5), "extra_policy_statements": statements}
        ),
        "iam-no-wildcards",
    )
    assert {v.message for v in found} == {
        "wildcard action 'sqs:*'",
        "wildcard resource '*' for ['sqs:*']",
    }


def test_the_pack_reports_through_pulumi_policy_with_urns():
    mocks, _ = build(queue_worker(dead_letter_queue=False))
    resources = [
        SimpleNamespace(resource_type=r.type, name=r.name, props=r.props, urn=r.urn) for r in mocks
    ]
    policies = {p.name: p for p in build_policies()}
    assert set(policies) == set(CHECKS)
    reported = []
    for policy in policies.values():
        policy.validate(
            SimpleNamespace(resources=resources),
            lambda message, urn=None: reported.append((message, urn)),
        )
    (message, urn) = reported[0]
    assert len(reported) == 1 and urn.endswith("::qw-queue") and "no redrive policy" in message


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


def test_a_dlq_alarm_on_more_than_zero_also_fires_on_one():
    queue = ("aws:sqs/queue:Queue", "d", {"name": "d", "arn": "arn:aws:sqs:us-east-1:1:d"})
    fn = (
        "aws:lambda/function:Function",
        "f",
        {"name": "f", "deadLetterConfig": {"targetArn": "arn:aws:sqs:us-east-1:1:d"}},
    )
    alarm = {
        "namespace": "AWS/SQS",
        "metricName": "ApproximateNumberOfMessagesVisible",
        "statistic": "Maximum",
        "dimensions": {"QueueName": "d"},
        "alarmActions": ["t"],
    }
    above_zero = (
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "a",
        {**alarm, "comparisonOperator": "GreaterThanThreshold", "threshold": 0},
    )
    above_one = (
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "a",
        {**alarm, "comparisonOperator": "GreaterThanThreshold", "threshold": 1},
    )
    assert check_all([queue, fn, above_zero]) == []
    assert [v.policy for v in check_all([queue, fn, above_one])] == ["dlq-alarm-on-one"]
