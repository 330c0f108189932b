"""Payments queue: charge an order's amount in a supported currency. A payment that cannot be
charged raises: the batch fails, SQS redelivers it and, after maxReceiveCount, dead-letters it."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from functions.faults import chaos_handler

CURRENCIES = ("EUR", "GBP", "USD")


class PaymentRefused(ValueError):
    """The payment cannot be charged: what is wrong is in the message."""


def charge(payment: dict[str, Any]) -> str:
    """The charge's receipt line, e.g. 'EUR 12.50 for order o-1'."""
    currency = payment.get("currency")
    if currency not in CURRENCIES:
        raise PaymentRefused(f"currency {currency!r}; allowed: {', '.join(CURRENCIES)}")
    try:
        amount = Decimal(str(payment.get("amount")))
    except InvalidOperation:
        raise PaymentRefused("amount is not a number") from None
    if not amount.is_finite() or amount <= 0:
        raise PaymentRefused(f"amount {amount} is not positive")
    return f"{currency} {amount.quantize(Decimal('0.01'))} for order {payment.get('order')}"


@chaos_handler
def handler(event: dict[str, Any], context: Any) -> None:
    # One payment per batch (the example sets batch size 1): a refusal fails just it.
    for record in event["Records"]:
        print(charge(json.loads(record["body"])))
