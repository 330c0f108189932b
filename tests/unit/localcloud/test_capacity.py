"""DynamoDB capacity: item sizes, units, buckets with burst credit, on-demand peaks, interceptor."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from localcloud.dynamodb import capacity
from localcloud.dynamodb.limits import PEAK_MATURES_AFTER, OnDemandLimit, TableLimits
from localcloud.dynamodb.throttle import DynamoDbCapacity


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_item_size_follows_the_developer_guide() -> None:
    assert capacity.item_size({"id": {"S": "abc"}}) == 2 + 3
    assert capacity.item_size({"n": {"N": "12345"}}) == 1 + 4  # 5 digits -> 3 + 1
    assert capacity.item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 4
    assert capacity.item_size({"l": {"L": [{"S": "ab"}]}}) == 1 + 3 + 2 + 1
    assert capacity.item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1
    assert capacity.item_size({"b": {"B": "AAEC"}}) == 1 + 3  # base64 of 3 bytes
    with pytest.raises(capacity.ItemSizeError, match="XX"):
        capacity.value_size({"XX": "1"})


def test_units() -> None:
    assert capacity.write_units(0) == 1
    assert capacity.write_units(1024) == 1
    assert capacity.write_units(2048) == 2
    assert capacity.write_units(1025, transactional=True) == 4
    assert capacity.read_units(4096, consistent=True) == 1
    assert capacity.read_units(4097, consistent=True) == 2
    assert capacity.read_units(100, consistent=False) == 0.5
    items = [{"p": {"S": "x" * 3000}}, {"p": {"S": "x" * 3000}}]
    assert capacity.scan_units(items, consistent=True) == 2  # summed, then rounded once


def test_provisioned_bucket_rate_burst_credit_and_update() -> None:
    clock = Clock()
    limits = TableLimits("PROVISIONED", 1, 1, clock=clock)
    assert limits.try_take("write", 1) and not limits.try_take("write", 1)  # one second at start
    clock.now += 10
    assert sum(limits.try_take("write", 1) for _ in range(20)) == 10  # 10 s of credit
    clock.now += 1000
    assert sum(limits.try_take("write", 1) for _ in range(400)) == 300  # credit caps at 300 s
    limits.sync("PROVISIONED", 1, 5)  # UpdateTable applies at once
    clock.now += 1
    assert sum(limits.try_take("write", 1) for _ in range(10)) == 5
    # An item bigger than the whole burst still passes on a full bucket, leaving a debt.
    clock.now += 10_000
    assert limits.try_take("read", 400)
    assert not limits.try_take("read", 1)


def test_on_demand_double_previous_peak_within_30_minutes() -> None:
    clock = Clock()
    limit = OnDemandLimit(4000, clock=clock)
    assert limit.limit == 4000
    assert limit.try_take(4000) and not limit.try_take(1)
    clock.now += 1
    assert limit.try_take(3000)
    clock.now += PEAK_MATURES_AFTER + 1
    assert limit.limit == 8000  # the 4,000-unit second is now the previous peak


@pytest.fixture
def interceptor(monkeypatch: pytest.MonkeyPatch) -> Any:
    # The fake clock alone decides the credit: the table counts as just created.
    monkeypatch.setattr("localcloud.moto_reach.dynamodb.table_age", lambda table: 0.0)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="rides",
            BillingMode="PROVISIONED",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        )
        cloud = SimpleNamespace(
            lock=threading.RLock(), account_id="123456789012", region="us-east-1"
        )
        clock = Clock()
        yield DynamoDbCapacity(cloud, clock=clock), clock, ddb


def request(operation: str, body: dict[str, Any]) -> Request:
    builder = EnvironBuilder(
        method="POST",
        data=json.dumps(body),
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    return Request(builder.get_environ())


def test_interceptor_throttles_with_the_aws_error_shape(interceptor: Any) -> None:
    service, clock, _ = interceptor
    big = {"TableName": "rides", "Item": {"id": {"S": "r1"}, "blob": {"S": "x" * 1500}}}
    # 2 WCU on a new 1-WCU table: one second of credit is not enough
    answer = service.intercept(request("PutItem", big))
    assert answer is not None and answer.status_code == 400
    error = json.loads(answer.get_data())
    assert error["__type"].endswith("#ProvisionedThroughputExceededException")
    clock.now += 1
    assert service.intercept(request("PutItem", big)) is None
    assert service.intercept(request("PutItem", big)) is not None
    assert service.intercept(request("DescribeTable", {"TableName": "rides"})) is None
    assert service.intercept(request("PutItem", {"TableName": "nope", "Item": big["Item"]})) is None
    assert service.throttled == 2
    assert service.flush() >= 3  # consumed units and throttle events, per table


def test_interceptor_reads_existing_item_size(interceptor: Any) -> None:
    service, clock, ddb = interceptor
    ddb.put_item(TableName="rides", Item={"id": {"S": "r2"}, "blob": {"S": "x" * 9000}})
    service._table_limits("rides")  # the table's buckets start now and earn credit from here
    clock.now += 300
    get = {"TableName": "rides", "Key": {"id": {"S": "r2"}}, "ConsistentRead": True}
    before = service._table_limits("rides").read.tokens
    assert service.intercept(request("GetItem", get)) is None
    assert before - service._table_limits("rides").read.tokens == pytest.approx(3.0)  # 9 KB
