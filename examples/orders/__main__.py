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
from components import outputs as keys
from components import packaging
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
    # Each instance's own ledger partition: its name.
    return {"function": function(name), "ledger": ledger, "ledger_pattern": name, "alarms": alarms}


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


orders = queue_worker("orders")
# Its handler raises for a payment it refuses, failing the batch: one payment per batch.
payments = queue_worker("payments", batch_size=1)
receipts = AsyncFunction(
    "receipts",
    {
        **common("receipts"),
        "maximum_retry_attempts": config.require_int("asyncMaximumRetryAttempts"),
        "maximum_event_age": config.require_int("asyncMaximumEventAge"),
    },
)

# The exports, all here: each instance under its name, then the stack-wide keys of
# components/outputs.py.
for name, instance in {"orders": orders, "payments": payments, "receipts": receipts}.items():
    pulumi.export(name, instance.outputs)
pulumi.export(keys.CHAOS_ENABLED, config.require_bool("chaosEnabled"))
pulumi.export(keys.STACK, stack)
pulumi.export(keys.REGION, region)
pulumi.export(keys.LEDGER_TABLE, shared.ledger.name)
pulumi.export(keys.IDEMPOTENCY_TABLE, shared.idempotency.name)
pulumi.export(keys.ALARM_TOPIC_ARN, shared.alarm_topic.arn)
pulumi.export(keys.ALARM_INBOX_QUEUE_URL, shared.inbox.url)
pulumi.export(keys.LAYER_ARN, layer.arn)
