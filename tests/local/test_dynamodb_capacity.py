"""DynamoDB capacity on the local cloud: provisioned throttling at the configured rate."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local.helpers import unique, wait_for

pytestmark = pytest.mark.local

KEY = {
    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
}


def no_retries(cloud: Any) -> Any:
    # The SDK retries throttles by default; each attempt must be counted here.
    return cloud.client("dynamodb", retries={"total_max_attempts": 1})


def hammer(ddb: Any, table: str, seconds: float, size: int) -> tuple[int, int, float, float]:
    """PutItem as fast as possible for `seconds`.

    Returns (successes, throttles, start of the last request, end of the last request).
    """
    ok = throttled = 0
    started = last_start = time.monotonic()
    while last_start - started < seconds:
        item = {"id": {"S": uuid.uuid4().hex}, "pad": {"S": "x" * size}}
        last_start = time.monotonic()
        try:
            ddb.put_item(TableName=table, Item=item)
            ok += 1
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            throttled += 1
    return ok, throttled, last_start, time.monotonic()


def warm_up(ddb: Any) -> None:
    # moto's first PutItem in a process takes seconds (imports, parser set-up); a test that
    # counts writes per second must not spend its window waiting for it.
    table = unique("warm")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST", **KEY)
    ddb.put_item(TableName=table, Item={"id": {"S": "warm"}})


def test_one_wcu_table_accepts_its_rate_and_throttles_the_rest(cloud: Any) -> None:
    # GIVEN a new table with 1 WCU (the reliability workshop's table)
    ddb = no_retries(cloud)
    warm_up(ddb)
    table = unique("rides")
    asked = time.monotonic()
    ddb.create_table(
        TableName=table,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        **KEY,
    )
    created = time.monotonic()

    # WHEN 1 KB items are written as fast as possible for 3 s
    ok, throttled, last_start, last_end = hammer(ddb, table, 3.0, 900)

    # THEN one write per second of the table's life succeeds (1 s of credit at creation,
    # 1 WCU/s since), the rest throttle; the server's clock ran between these bounds.
    assert 1 + (last_start - created) - 1 <= ok <= 1 + (last_end - asked) + 1, (
        ok,
        last_end - asked,
    )
    assert throttled > 10 * ok

    # WHEN its throughput is raised to 20 WCU THEN it applies at once: a second of writes
    # now passes far more than the old 1 WCU would (the exact rate is what the part above and
    # the unit tests pin; a loaded machine may not even send 20 a second).
    ddb.update_table(
        TableName=table, ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 20}
    )
    ok, throttled, _, _ = hammer(ddb, table, 1.0, 900)
    assert ok >= min(ok + throttled, 12), (ok, throttled)

    # AND the throttles are published as AWS/DynamoDB WriteThrottleEvents
    cw = cloud.client("cloudwatch")

    def throttle_events() -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/DynamoDB",
            MetricName="WriteThrottleEvents",
            Dimensions=[{"Name": "TableName", "Value": table}],
            StartTime=datetime.now(UTC) - timedelta(minutes=5),
            EndTime=datetime.now(UTC) + timedelta(minutes=1),
            Period=300,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(p["Sum"] for p in points)

    wait_for(lambda: throttle_events() >= throttled, timeout=3, what="WriteThrottleEvents")


def test_on_demand_table_takes_a_burst(cloud: Any) -> None:
    ddb = no_retries(cloud)
    warm_up(ddb)
    table = unique("ledger")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST", **KEY)
    ok, throttled, _, _ = hammer(ddb, table, 0.5, 900)
    assert throttled == 0 and ok > 5
