"""orders: a program of its own built from the failmodes components (the example of a fork).

Two queue workers ("orders", "payments") and one async function ("receipts"), each running a
handler of this program (handlers/, business code wearing only `@chaos_handler`), with the
shared ledger, alarm topic and dependency layer every component needs. The only reader of
pulumi.Config; the keys are declared in Pulumi.yaml.

    python -m localcloud up --cwd examples/orders      # or: pulumi -C examples/orders up
    python -m chaos run --stack local --cwd examples/orders
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

import functions
from components import contract, packaging
from components import outputs as keys
from components.alarms import AlarmArgs
from components.async_function import AsyncFunction
from components.function import FunctionArgs, LedgerArgs
from components.queue_worker import QueueWorker
from components.shared import Shared

PROGRAM_DIR = Path(__file__).absolute().parent
HANDLERS_DIR = PROGRAM_DIR / "handlers"
# The library @chaos_handler comes from, wherever it is installed; its requirements are the layer.
LIBRARY_DIR = Path(functions.__file__).absolute().parent

config = pulumi.Config()
stack = pulumi.get_stack()
region = pulumi.Config("aws").get("region") or "us-east-1"

shared = Shared("shared", {"alarm_email": config.get("alarmEmail") or ""})
ledger: LedgerArgs = {
    "table_name": shared.ledger.name,
    "table_arn": shared.ledger.arn,
    "idempotency_table_name": shared.idempotency.name,
    "idempotency_table_arn": shared.idempotency.arn,
}
alarms: AlarmArgs = {
    "topic_arn": shared.alarm_topic.arn,
    "period": config.require_int("alarmPeriod"),
    "evaluation_periods": config.require_int("alarmEvaluationPeriods"),
}
layer = aws.lambda_.LayerVersion(
    "dependencies",
    layer_name=f"orders-{stack}-dependencies",
    compatible_runtimes=["python3.11"],
    code=packaging.layer_archive(
        LIBRARY_DIR, config.require("layerSource"), PROGRAM_DIR / "build" / "layer"
    ),
)
code = packaging.program_code(HANDLERS_DIR, LIBRARY_DIR)


def function(module: str) -> FunctionArgs:
    return {
        "code": code,
        "handler": f"handlers.{module}.handler",
        "timeout": config.require_int("functionTimeout"),
        "memory_size": config.require_int("functionMemory"),
        "layers": [layer.arn],
    }


def common(name: str) -> dict[str, Any]:
    # Each instance's ledger partition is its own: its instance key (components/contract.py).
    # Its handlers wear @chaos_handler, so the ledger counts events handled, not side effects.
    return {
        "function": function(name),
        "ledger": ledger,
        "alarms": alarms,
        "ledger_records": "handled",
    }


def queue_worker(name: str, **settings: Any) -> QueueWorker:
    return QueueWorker(
        name,
        {
            **common(name),
            "max_receive_count": config.require_int("queueMaxReceiveCount"),
            "batch_size": config.require_int("queueBatchSize"),
            **settings,
        },
    )


# Each instance declares one valid event of its business (`chaos_event`): the chaos suite
# sends it, with its own id and markers merged in, so healthy traffic passes the business
# checks and only the faults it injects fail it.
orders = queue_worker(
    "orders", chaos_event={"lines": [{"sku": "sku-1", "quantity": 2, "unit_price": "4.50"}]}
)
# Its handler raises for a payment it refuses, failing the batch: one payment per batch.
payments = queue_worker(
    "payments", batch_size=1, chaos_event={"currency": "EUR", "amount": "9.00", "order": "o-1"}
)
receipts = AsyncFunction(
    "receipts",
    {
        **common("receipts"),
        "chaos_event": {"email": "buyer@example.com", "lines": ["2 x sku-1"]},
        "maximum_retry_attempts": config.require_int("asyncMaximumRetryAttempts"),
        "maximum_event_age": config.require_int("asyncMaximumEventAge"),
    },
)

# Every instance above, with the instances index and its routes; then the stack-wide keys of
# components/outputs.py.
contract.export_all()
pulumi.export(keys.CHAOS_ENABLED, config.require_bool("chaosEnabled"))
pulumi.export(keys.STACK, stack)
pulumi.export(keys.REGION, region)
pulumi.export(keys.LEDGER_TABLE, shared.ledger.name)
pulumi.export(keys.IDEMPOTENCY_TABLE, shared.idempotency.name)
pulumi.export(keys.ALARM_TOPIC_ARN, shared.alarm_topic.arn)
pulumi.export(keys.ALARM_INBOX_QUEUE_URL, shared.inbox.url)
pulumi.export(keys.LAYER_ARN, layer.arn)
