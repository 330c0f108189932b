"""Fixtures for the function tests: a clean environment, moto's in-process AWS, the tables."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from functions.common import clients, idempotency
from functions.faults import settings
from tests.unit.functions.fn_factories import IDEMPOTENCY, LEDGER, PATTERN

_CLEARED = (
    *settings.ALL_VARIABLES,
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_RETRY_MODE",
    "AWS_MAX_ATTEMPTS",
    "IDEMPOTENCY_TABLE",
    "POWERTOOLS_IDEMPOTENCY_DISABLED",
    "REDRIVE_SOURCES",
)


@pytest.fixture(autouse=True)
def fn_env(monkeypatch: pytest.MonkeyPatch):
    """Each test starts with faults off, test credentials and no cached clients."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "LEDGER_TABLE": LEDGER,
        "LEDGER_PATTERN": PATTERN,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "unit-fn",
    }.items():
        monkeypatch.setenv(name, value)
    clients.reset(session=False)
    idempotency.reset()
    yield monkeypatch
    clients.reset(session=False)
    idempotency.reset()


# One session for the tests' own clients: loading service models per test is slow.
_session = boto3.session.Session()


@pytest.fixture
def aws(fn_env):
    """moto's in-process AWS with the ledger table (key pattern + event_id, as the stack's)."""
    with mock_aws():
        ddb = _session.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName=LEDGER,
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
        yield SimpleNamespace(
            ddb=ddb,
            sqs=_session.client("sqs", region_name="us-east-1"),
            events=_session.client("events", region_name="us-east-1"),
        )


@pytest.fixture
def idempotent(aws, fn_env):
    """IDEMPOTENCY_TABLE set to a table shaped as Powertools expects (partition key `id`)."""
    aws.ddb.create_table(
        TableName=IDEMPOTENCY,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    fn_env.setenv("IDEMPOTENCY_TABLE", IDEMPOTENCY)
    return aws
