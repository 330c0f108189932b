"""Powertools idempotency (DynamoDB persistence) for side effects, optional by environment.

IDEMPOTENCY_TABLE names the table (partition key `id`, Powertools' default).
When it is unset the side effect runs unguarded and that is logged once per
process, so a local run without the table still works and says what it lost.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from functions.common import clients

IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"

logger = Logger(child=True)

_guarded: dict[
    tuple[str, Callable[..., Any], str], tuple[Callable[..., Any], IdempotencyConfig]
] = {}
_warned = False


def run_once(
    fn: Callable[..., Any], payload: dict[str, Any], context: Any, *, key: str = "id"
) -> Any:
    """fn(payload=payload), at most once per payload[key] while the record lives.

    fn's return value must be JSON-serialisable: a repeat gets the stored result.
    """
    global _warned
    table = os.environ.get(IDEMPOTENCY_TABLE)
    if not table:
        if not _warned:
            logger.warning(f"{IDEMPOTENCY_TABLE} is not set: side effects are not deduplicated")
            _warned = True
        return fn(payload=payload)
    cache_key = (table, fn, key)
    entry = _guarded.get(cache_key)
    if entry is None:
        config = IdempotencyConfig(event_key_jmespath=key, raise_on_no_idempotency_key=True)
        store = DynamoDBPersistenceLayer(table_name=table, boto3_client=clients.client("dynamodb"))
        guarded = idempotent_function(
            fn, data_keyword_argument="payload", persistence_store=store, config=config
        )
        entry = _guarded[cache_key] = (guarded, config)
    guarded, config = entry
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)
    return guarded(payload=payload)


def reset() -> None:
    """Drop cached persistence layers (tests: their clients belong to a finished mock)."""
    global _warned
    _guarded.clear()
    _warned = False
