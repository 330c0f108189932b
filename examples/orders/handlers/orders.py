"""Orders queue: validate each order and price it. A malformed order is rejected (reported as a
batch item failure, so SQS redelivers only it and, after maxReceiveCount, dead-letters it)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from functions.faults import chaos_handler

MAX_QUANTITY = 100


class MalformedOrder(ValueError):
    """The order cannot be priced: what is wrong is in the message."""


def order_total(order: Any) -> Decimal:
    """Sum of quantity x unit price over the order's lines, in cents precision."""
    if not isinstance(order, dict):
        raise MalformedOrder("an order is a JSON object")
    lines = order.get("lines")
    if not isinstance(lines, list) or not lines:
        raise MalformedOrder("an order needs at least one line")
    total = Decimal(0)
    for line in lines:
        sku, quantity = line.get("sku"), line.get("quantity")
        if not isinstance(sku, str) or not sku:
            raise MalformedOrder(f"line {line!r} has no sku")
        if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise MalformedOrder(f"{sku}: quantity {quantity!r} is not 1..{MAX_QUANTITY}")
        try:
            price = Decimal(str(line.get("unit_price")))
        except InvalidOperation:
            raise MalformedOrder(f"{sku}: unit_price is not a number") from None
        if not price.is_finite() or price < 0:
            raise MalformedOrder(f"{sku}: unit_price {price} is not a price")
        total += price * quantity
    return total.quantize(Decimal("0.01"))


@chaos_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rejected = []
    for record in event["Records"]:
        try:
            total = order_total(json.loads(record["body"]))
        except (ValueError, AttributeError) as exc:  # JSON errors are ValueErrors too
            print(f"order {record['messageId']} rejected: {exc}")
            rejected.append({"itemIdentifier": record["messageId"]})
        else:
            print(f"order {record['messageId']} accepted: total {total}")
    return {"batchItemFailures": rejected}
