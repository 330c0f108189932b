"""Receipts, invoked asynchronously: render the receipt of a paid order. A receipt that cannot
be rendered raises: Lambda retries it, then sends it to the OnFailure destination and DLQ."""

from __future__ import annotations

from typing import Any

from functions.faults import chaos_handler


def render(receipt: dict[str, Any]) -> str:
    email, lines = receipt.get("email"), receipt.get("lines")
    if not isinstance(email, str) or "@" not in email:
        raise ValueError(f"email {email!r} is not an address")
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise ValueError("lines must be a list of strings")
    return "\n".join([f"To: {email}", *lines, f"{len(lines)} item(s)"])


@chaos_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    text = render(event)
    return {"characters": len(text)}
