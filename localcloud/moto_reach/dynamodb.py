"""Reaches into moto's DynamoDB backend (moto.dynamodb, pinned ==5.2.5): table capacity and
stored items, for the capacity throttling.

tests/unit/localcloud/test_alarm_moto.py fails loudly when a moto upgrade moves one of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def dynamodb_table(account_id: str, region: str, name: str) -> Any | None:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account_id][region].tables.get(name)


def table_capacity(table: Any) -> tuple[str, float, float]:
    """(billing mode, read units/s, write units/s) as moto stores them."""
    mode = table.billing_mode or "PROVISIONED"
    throughput = table.throughput or {}
    return (
        mode,
        float(throughput.get("ReadCapacityUnits") or 0),
        float(throughput.get("WriteCapacityUnits") or 0),
    )


def table_age(table: Any) -> float:
    """Seconds since moto created the table (moto stores naive UTC)."""
    created = table.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - created).total_seconds())


def existing_item(table: Any, key: dict[str, Any]) -> dict[str, Any] | None:
    """The stored item (wire JSON shape) with primary key `key`, or None."""
    hash_name = table.hash_key_attr
    range_name = table.range_key_attr
    if hash_name not in key:
        return None
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(key[hash_name])
    range_value = DynamoType(key[range_name]) if range_name and range_name in key else None
    try:
        item = table.get_item(hash_value, range_value)
    except Exception:  # a malformed key: moto will answer the request with its own error
        return None
    return item.to_json()["Attributes"] if item is not None else None
