"""A function's resource policy, as the local cloud judges a service's invoke (no network)."""

from __future__ import annotations

import json

import pytest

from localcloud.iam.resource_policy import allows
from localcloud.lambda_.permissions import AccessDenied, check_service_invoke

TOPIC = "arn:aws:sns:us-east-1:123456789012:rides"
RULE = "arn:aws:events:us-east-1:123456789012:rule/bus/deliver"
ACCOUNT = "123456789012"
INVOKE = "lambda:InvokeFunction"


def statement(principal: str = "sns.amazonaws.com", **extra):  # type: ignore[no-untyped-def]
    return {
        "Sid": "s",
        "Effect": "Allow",
        "Principal": {"Service": principal},
        "Action": "lambda:InvokeFunction",
        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
        **extra,
    }


def test_a_grant_to_the_service_from_its_source_allows() -> None:
    st = statement(Condition={"ArnLike": {"AWS:SourceArn": TOPIC}})
    assert allows([st], "sns.amazonaws.com", INVOKE, source_arn=TOPIC, source_account=ACCOUNT)


@pytest.mark.parametrize(
    "st, why",
    [
        (statement("events.amazonaws.com"), "another service"),
        (statement(Condition={"ArnLike": {"AWS:SourceArn": TOPIC + "-other"}}), "another topic"),
        (statement(Action="lambda:GetFunction"), "another action"),
        (statement(Effect="Deny"), "a Deny"),
        (statement(Condition={"StringEquals": {"AWS:SourceAccount": "999999999999"}}), "account"),
        (statement(Condition={"IpAddress": {"aws:SourceIp": "1.2.3.4"}}), "unjudged operator"),
    ],
)
def test_no_grant_for_this_invoke_denies(st, why) -> None:  # type: ignore[no-untyped-def]
    assert not allows(
        [st], "sns.amazonaws.com", INVOKE, source_arn=TOPIC, source_account=ACCOUNT
    ), why


def test_wildcards_and_lists_follow_iam() -> None:
    st = statement(
        "events.amazonaws.com",
        Action=["lambda:*"],
        Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/*"}},
    )
    assert allows([st], "events.amazonaws.com", INVOKE, source_arn=RULE, source_account=ACCOUNT)
    # ArnEquals is exact: no wildcard matching
    exact = statement(Condition={"ArnEquals": {"AWS:SourceArn": TOPIC[:-1] + "*"}})
    assert not allows(
        [exact], "sns.amazonaws.com", INVOKE, source_arn=TOPIC, source_account=ACCOUNT
    )


def test_an_explicit_deny_wins_over_an_allow() -> None:
    allow = statement()
    deny = statement(Effect="Deny", Condition={"ArnLike": {"AWS:SourceArn": TOPIC}})
    assert not allows(
        [allow, deny], "sns.amazonaws.com", INVOKE, source_arn=TOPIC, source_account=ACCOUNT
    )


def test_check_raises_access_denied_naming_the_service_and_source() -> None:
    # GIVEN a function without any policy
    # WHEN EventBridge invokes it THEN AccessDenied (403, AccessDeniedException)
    with pytest.raises(AccessDenied) as err:
        check_service_invoke(
            lambda: None, "f", "events.amazonaws.com", source_arn=RULE, source_account=ACCOUNT
        )
    assert err.value.status == 403 and err.value.code == "AccessDeniedException"
    assert "events.amazonaws.com" in str(err.value) and RULE in str(err.value)
    # AND with the grant, nothing is raised
    policy = json.dumps({"Statement": [statement("events.amazonaws.com")]})
    check_service_invoke(
        lambda: policy, "f", "events.amazonaws.com", source_arn=RULE, source_account=ACCOUNT
    )
