"""Unit-test fixtures: moto in-process (no network), a Stack pointing at it, a fake function."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chaos.stack import Stack
from tests.unit.chaos.chaos_unit_helpers import REGION


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "CHAOS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def mocked(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def stack(mocked: None) -> Stack:
    return Stack(name="unit", outputs={"chaos_enabled": True, "region": REGION}, source="test")


@pytest.fixture
def ledger_stack(mocked: None) -> Stack:
    """A stack with what prepare() reads: its name, a ledger table (the lease's home, key
    schema as components/shared.py declares it) and one deployed function."""
    from tests.unit.chaos.chaos_unit_helpers import make_function

    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="unit-ledger",
        KeySchema=[
            {"AttributeName": "pattern", "KeyType": "HASH"},
            {"AttributeName": "event_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pattern", "AttributeType": "S"},
            {"AttributeName": "event_id", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    make_function("svc", {"FAILMODES_FAULTS": "off"})
    arn = boto3.client("lambda", region_name=REGION).get_function(FunctionName="svc")[
        "Configuration"
    ]["FunctionArn"]
    return Stack(
        name="unit",
        outputs={
            "chaos_enabled": True,
            "stack": "unit",
            "region": REGION,
            "ledger_table": "unit-ledger",
            "queue_worker": {"function": {"name": "svc", "arn": arn, "timeout": 3}},
        },
        source="test",
    )
