"""localcloud.iam.identity_policy: IAM's decision for one call under a role's policies."""

from __future__ import annotations

import pytest

from localcloud.iam.identity_policy import Decision, evaluate

QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"
OTHER = "arn:aws:sqs:us-east-1:123456789012:orders"


def allow(action, resource, **extra):
    return {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}]}


def deny(action, resource, **extra):
    return {"Statement": [{"Effect": "Deny", "Action": action, "Resource": resource, **extra}]}


def test_an_allow_on_the_resource_grants():
    assert evaluate([allow("sqs:SendMessage", QUEUE)], "sqs:SendMessage", QUEUE) is Decision.ALLOW


def test_no_statement_is_an_implicit_deny():
    assert evaluate([], "sqs:SendMessage", QUEUE) is Decision.IMPLICIT_DENY


def test_an_allow_on_another_resource_grants_nothing():
    decision = evaluate([allow("sqs:SendMessage", OTHER)], "sqs:SendMessage", QUEUE)
    assert decision is Decision.IMPLICIT_DENY


def test_an_allow_of_another_action_grants_nothing():
    decision = evaluate([allow(["sqs:ReceiveMessage"], QUEUE)], "sqs:SendMessage", QUEUE)
    assert decision is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    "action", ["sqs:*", "sqs:Send*", "SQS:sendmessage", "*", "sqs:SendMessag?"]
)
def test_actions_match_case_insensitively_with_wildcards(action):
    assert evaluate([allow(action, QUEUE)], "sqs:SendMessage", QUEUE) is Decision.ALLOW


@pytest.mark.parametrize(
    ("resource", "decision"),
    [
        ("arn:aws:sqs:us-east-1:123456789012:*", Decision.ALLOW),
        ("arn:aws:sqs:us-east-1:123456789012:orders-dl?", Decision.ALLOW),
        ("arn:aws:sqs:us-east-1:123456789012:ORDERS-DLQ", Decision.IMPLICIT_DENY),
        ("arn:aws:sqs:us-east-1:123456789012:orders.dlq", Decision.IMPLICIT_DENY),
    ],
)
def test_resources_match_case_sensitively_with_wildcards(resource, decision):
    assert evaluate([allow("sqs:SendMessage", resource)], "sqs:SendMessage", QUEUE) is decision


def test_an_explicit_deny_wins_over_any_allow():
    policies = [allow("sqs:*", "*"), deny("sqs:SendMessage", QUEUE)]
    assert evaluate(policies, "sqs:SendMessage", QUEUE) is Decision.EXPLICIT_DENY


def test_not_action_and_not_resource():
    not_action = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    assert evaluate([not_action], "sqs:SendMessage", QUEUE) is Decision.ALLOW
    assert evaluate([not_action], "iam:PassRole", QUEUE) is Decision.IMPLICIT_DENY
    not_resource = {"Statement": [{"Effect": "Allow", "Action": "sqs:*", "NotResource": OTHER}]}
    assert evaluate([not_resource], "sqs:SendMessage", QUEUE) is Decision.ALLOW
    assert evaluate([not_resource], "sqs:SendMessage", OTHER) is Decision.IMPLICIT_DENY


def test_a_condition_on_a_key_the_call_carries_is_judged():
    policy = allow("sqs:SendMessage", QUEUE, Condition={"ArnEquals": {"aws:SourceArn": OTHER}})
    assert evaluate([policy], "sqs:SendMessage", QUEUE, {"aws:sourcearn": OTHER}) is Decision.ALLOW
    assert (
        evaluate([policy], "sqs:SendMessage", QUEUE, {"aws:sourcearn": QUEUE})
        is Decision.IMPLICIT_DENY
    )


def test_a_condition_that_cannot_be_judged_grants_nothing_and_its_deny_applies():
    unjudged = {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}
    assert (
        evaluate([allow("sqs:SendMessage", QUEUE, Condition=unjudged)], "sqs:SendMessage", QUEUE)
        is Decision.IMPLICIT_DENY
    )
    policies = [allow("sqs:*", "*"), deny("sqs:SendMessage", QUEUE, Condition=unjudged)]
    assert evaluate(policies, "sqs:SendMessage", QUEUE) is Decision.EXPLICIT_DENY


def test_the_deny_insecure_transport_pattern_does_not_apply_to_a_tls_call():
    policies = [
        allow("sqs:*", QUEUE),
        deny("sqs:*", QUEUE, Condition={"Bool": {"aws:SecureTransport": "false"}}),
    ]
    assert evaluate(policies, "sqs:SendMessage", QUEUE) is Decision.ALLOW


def test_policy_text_and_a_single_statement_object_are_read():
    text = '{"Statement": {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}}'
    assert evaluate([text], "sqs:SendMessage", QUEUE) is Decision.ALLOW
