"""examples/orders, a program of its own, deployed from its directory on the session's local cloud
(`python -m localcloud up --cwd examples/orders`): its handlers carry no ledger call, yet a good
order, payment and receipt are each recorded once in their instance's ledger partition (by
@chaos_handler), and a malformed one is not recorded and ends in that instance's DLQ."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.deploy import cli as deploy_cli
from tests.local.helpers import wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "orders"

pytestmark = pytest.mark.local


@pytest.fixture(scope="module")
def stack(cloud_process: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # State in a temporary directory: a test run leaves nothing in the example's folder.
    state_dir = tmp_path_factory.mktemp("orders-state")
    common = [
        "--cwd",
        str(EXAMPLE),
        "--state-dir",
        str(state_dir),
        "--endpoint",
        cloud_process.endpoint,
    ]
    started = time.monotonic()
    assert deploy_cli.main(["up", *common, "--quiet"]) == 0  # the policy pack gates it too
    print(f"\nup of examples/orders: {time.monotonic() - started:.1f} s")
    try:
        yield json.loads((state_dir / "local" / "state.json").read_text())["outputs"]
    finally:
        assert deploy_cli.main(["destroy", *common, "--quiet"]) == 0


def _id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


def _ledger(aws: Callable[..., Any], table: str, partition: str) -> dict[str, int]:
    items = aws("dynamodb").query(
        TableName=table,
        KeyConditionExpression="#p = :p",
        ExpressionAttributeNames={"#p": "pattern"},
        ExpressionAttributeValues={":p": {"S": partition}},
        ConsistentRead=True,
    )["Items"]
    return {item["event_id"]["S"]: int(item["count"]["N"]) for item in items}


def _ids_in(aws: Callable[..., Any], queue_url: str, key: Callable[[Any], Any]) -> set[str]:
    """The event ids of the messages in a queue, peeked (made visible again at once)."""
    sqs = aws("sqs")
    found = set()
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", [])
    for message in messages:
        found.add(key(json.loads(message["Body"])))
    return found


def test_good_events_are_recorded_once_and_malformed_ones_dead_lettered(
    stack: dict[str, Any], aws: Callable[..., Any]
) -> None:
    table = stack["ledger_table"]
    good = {name: _id(f"good-{name}") for name in ("orders", "payments", "receipts")}
    bad = {name: _id(f"bad-{name}") for name in ("orders", "payments", "receipts")}
    sqs, lam = aws("sqs"), aws("lambda")
    # GIVEN one good and one malformed event for each instance
    line = {"sku": "tea", "quantity": 2, "unit_price": "3.50"}
    for name, body, malformed in (
        ("orders", {"lines": [line]}, {"lines": []}),
        ("payments", {"amount": "7.00", "currency": "EUR"}, {"amount": "7.00", "currency": "XX"}),
    ):
        for event_id, payload in ((good[name], body), (bad[name], malformed)):
            sqs.send_message(
                QueueUrl=stack[name]["queue_url"],
                MessageBody=json.dumps({"id": event_id, **payload}),
            )
    receipt = {"email": "ada@example.com", "lines": ["tea x2: 7.00"]}
    for event_id, payload in ((good["receipts"], receipt), (bad["receipts"], {"email": "nobody"})):
        lam.invoke(
            FunctionName=stack["receipts"]["function"]["name"],
            InvocationType="Event",
            Payload=json.dumps({"id": event_id, **payload}).encode(),
        )
    # WHEN the malformed ones have used up their attempts (receives, async retries)
    # THEN each lands in its instance's DLQ (the OnFailure destination for receipts)
    dead_letters = {
        "orders": (stack["orders"]["dlq_url"], lambda body: body["id"]),
        "payments": (stack["payments"]["dlq_url"], lambda body: body["id"]),
        "receipts": (
            stack["receipts"]["on_failure_queue_url"],
            lambda record: record["requestPayload"]["id"],
        ),
    }
    for name, (url, key) in dead_letters.items():
        budget = 6 * stack[name]["function"]["timeout"] * 2 + 15  # visibility x receives + slack
        wait_for(
            lambda url=url, key=key, name=name: bad[name] in _ids_in(aws, url, key),
            timeout=budget,
            interval=0.5,
            what=f"{bad[name]} in the {name} DLQ",
        )
    # AND the ledger holds each good event once, in its own partition, and no malformed one
    for name in good:
        recorded = wait_for(
            lambda name=name: _ledger(aws, table, name) or None,
            timeout=10,
            what=f"{name} ledger entries",
        )
        assert recorded == {good[name]: 1}, name
