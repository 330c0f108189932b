"""Shared builders for the component graph tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi

from localcloud.deploy import RecordingMocks, Registration, run_in_stack

LEDGER = {
    "table_name": "ledger",
    "table_arn": "arn:aws:dynamodb:us-east-1:123456789012:table/ledger",
    "idempotency_table_name": "idempotency",
    "idempotency_table_arn": "arn:aws:dynamodb:us-east-1:123456789012:table/idempotency",
}
ALARM_TOPIC = "arn:aws:sns:us-east-1:123456789012:alarms"
ALARMS = {"topic_arn": ALARM_TOPIC, "period": 60, "evaluation_periods": 1}


def function(name: str, timeout: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "code": pulumi.AssetArchive({"functions/__init__.py": pulumi.StringAsset("")}),
        "handler": f"functions.{name}.handler.handler",
        "timeout": timeout,
        **extra,
    }


def common(pattern: str) -> dict[str, Any]:
    return {"ledger": LEDGER, "ledger_pattern": pattern, "alarms": dict(ALARMS)}


def build(factory: Callable[[], Any]) -> tuple[RecordingMocks, Any]:
    """Create a component via factory() in a fresh stack; return (mocks, resolved outputs)."""
    mocks = RecordingMocks()
    outputs = run_in_stack(lambda: factory().outputs, mocks)
    return mocks, outputs


def component(mocks: RecordingMocks, type_name: str) -> Registration:
    (found,) = mocks.of_type(f"failmodes:index:{type_name}")
    return found


def only(mocks: RecordingMocks, type_: str, name: str | None = None) -> Registration:
    found = [r for r in mocks.of_type(type_) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_} {name or ''}, got {[r.name for r in found]}"
    return found[0]


def queue_by_arn(mocks: RecordingMocks, arn: str) -> Registration:
    for r in mocks.of_type("aws:sqs/queue:Queue"):
        if r.outputs["arn"] == arn:
            return r
    raise AssertionError(f"no queue with arn {arn}")


def policy_document(registration: Registration) -> dict[str, Any]:
    return json.loads(registration.inputs["policy"])


def assert_children_parented(mocks: RecordingMocks, parent: Registration) -> None:
    """Every resource except the component itself is parented (directly or not) to it."""
    by_urn = {r.urn: r for r in mocks}
    for r in mocks:
        if r is parent:
            continue
        node = r
        while node.parent is not None and node.parent != parent.urn:
            node = by_urn[node.parent]
        assert node.parent == parent.urn, f"{r.type} {r.name} is not under {parent.name}"
        assert r.name.startswith(f"{parent.name}-"), f"{r.name} is not named {parent.name}-<role>"
