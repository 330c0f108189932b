"""Revoking a service's grant (function resource policy, queue policy): journalled, undone
exactly, safe to undo twice, and restored by `rollback` after a crash."""

from __future__ import annotations

import json

import boto3
import pytest

from chaos.faults import Faults, rollback
from chaos.journal import Journal
from chaos.stack import Stack
from tests.unit.chaos.chaos_unit_helpers import REGION, make_function, queue

TOPIC = "arn:aws:sns:us-east-1:123456789012:rides"
RULE = "arn:aws:events:us-east-1:123456789012:rule/bus/deliver"


@pytest.fixture
def faults(stack: Stack, tmp_path) -> Faults:  # type: ignore[no-untyped-def]
    return Faults(stack, Journal(stack.name, tmp_path))


def statements(function: str) -> list[dict]:  # type: ignore[type-arg]
    try:
        policy = boto3.client("lambda", region_name=REGION).get_policy(FunctionName=function)
    except Exception:  # no policy left
        return []
    return json.loads(policy["Policy"])["Statement"]


def queue_policy(url: str) -> str | None:
    attrs = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=url, AttributeNames=["Policy"]
    )
    return (attrs.get("Attributes") or {}).get("Policy")


def test_revoking_a_function_grant_removes_only_that_service_and_undo_restores_it(
    faults: Faults,
) -> None:
    # GIVEN a function that SNS (from one topic) and EventBridge (from one rule) may invoke
    fn = make_function("granted")
    lam = boto3.client("lambda", region_name=REGION)
    lam.add_permission(
        FunctionName=fn,
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=TOPIC,
    )
    lam.add_permission(
        FunctionName=fn,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=RULE,
        SourceAccount="123456789012",
    )
    before = statements(fn)
    # WHEN EventBridge's grant is revoked
    token = faults.revoke_grant("function", fn, "events.amazonaws.com")
    # THEN only SNS's statement is left
    assert [s["Sid"] for s in statements(fn)] == ["sns"]
    # AND the undo puts back the very statement (source ARN and account), twice is a no-op
    faults.undo(token)
    faults.undo(token)
    assert sorted(statements(fn), key=lambda s: s["Sid"]) == sorted(before, key=lambda s: s["Sid"])


def test_revoking_a_queue_grant_and_rollback_after_a_crash(stack: Stack, tmp_path) -> None:
    # GIVEN a queue that EventBridge (one rule) and SNS (one topic) may send to
    url = queue("target")
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "eb",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": "*",
                    "Condition": {"ArnEquals": {"aws:SourceArn": RULE}},
                },
                {
                    "Sid": "sns",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": "*",
                    "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC}},
                },
            ],
        }
    )
    boto3.client("sqs", region_name=REGION).set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": policy}
    )
    journal = Journal(stack.name, tmp_path)
    # WHEN EventBridge's grant is revoked and the process dies before its undo
    Faults(stack, journal).revoke_grant("queue", url, "events.amazonaws.com")
    left = json.loads(queue_policy(url) or "{}")["Statement"]
    assert [s["Sid"] for s in left] == ["sns"]
    # THEN rollback from the journal alone restores the policy exactly
    restored = rollback(stack, Journal(stack.name, tmp_path))
    assert [e["kind"] for e in restored] == ["grant"]
    assert json.loads(queue_policy(url) or "{}") == json.loads(policy)


def test_revoking_the_only_statement_clears_the_policy_and_undo_brings_it_back(
    faults: Faults,
) -> None:
    url = queue("only")
    policy = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": "*",
                }
            ]
        }
    )
    boto3.client("sqs", region_name=REGION).set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": policy}
    )
    token = faults.revoke_grant("queue", url, "sns.amazonaws.com")
    assert queue_policy(url) is None
    faults.undo(token)
    assert json.loads(queue_policy(url) or "{}") == json.loads(policy)
