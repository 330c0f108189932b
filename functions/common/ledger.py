"""The ledger: every side effect records its event id (docs/contracts.md, "Events and the ledger").

Item key: `pattern` (LEDGER_PATTERN) + `event_id`. `count` is bumped atomically
with ADD, so a count above 1 proves the side effect ran more than once.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from functions.common import clients
from functions.common.config import env_str

LEDGER_TABLE = "LEDGER_TABLE"
LEDGER_PATTERN = "LEDGER_PATTERN"


def record(event_id: str, *, pattern: str | None = None) -> int:
    """Record one side effect for event_id; returns the new count."""
    table = env_str(LEDGER_TABLE)
    partition = pattern or env_str(LEDGER_PATTERN)
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or os.environ.get(
        "POWERTOOLS_SERVICE_NAME", "unknown"
    )
    now = datetime.now(UTC).isoformat()
    response = clients.client("dynamodb").update_item(
        TableName=table,
        Key={"pattern": {"S": partition}, "event_id": {"S": event_id}},
        # count and function are DynamoDB reserved words, hence the placeholders.
        UpdateExpression=(
            "ADD #count :one SET #function = :function, last_seen = :now, "
            "first_seen = if_not_exists(first_seen, :now)"
        ),
        ExpressionAttributeNames={"#count": "count", "#function": "function"},
        ExpressionAttributeValues={
            ":one": {"N": "1"},
            ":function": {"S": function},
            ":now": {"S": now},
        },
        ReturnValues="UPDATED_NEW",
    )
    return int(response["Attributes"]["count"]["N"])


def read(event_id: str, *, pattern: str | None = None) -> int:
    """The recorded count for event_id (0 when never recorded)."""
    response = clients.client("dynamodb").get_item(
        TableName=env_str(LEDGER_TABLE),
        Key={"pattern": {"S": pattern or env_str(LEDGER_PATTERN)}, "event_id": {"S": event_id}},
        ConsistentRead=True,
    )
    item = response.get("Item")
    return int(item["count"]["N"]) if item else 0
