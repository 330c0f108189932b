"""failmodes: the Pulumi program. The only reader of pulumi.Config.

Builds each pattern's Args from the stack config (declared, with defaults, in
Pulumi.yaml), creates the components, and exports every component instance's outputs
(components/contract.py: under its instance key, with the `instances` index and the
`routes`: where an event ends for each failure kind), plus the keys in components/outputs.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components import contract, packaging
from components import outputs as keys
from components.alarms import AlarmArgs
from components.async_function import AsyncFunction
from components.dlq_redriver import DlqRedriver
from components.event_pipeline import EventPipeline
from components.fan_out import FanOut
from components.function import FunctionArgs, LedgerArgs
from components.queue_worker import QueueWorker
from components.ride_records import RideRecords
from components.shared import Shared
from components.slow_api import SlowApi
from components.stream_processor import StreamProcessor
from components.workflow import Workflow

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).absolute().parent
FUNCTIONS_DIR = PROJECT_DIR / "functions"
FAN_OUT_SUBSCRIBERS = {"orders": {"kind": ["order"]}, "refunds": {"kind": ["refund"]}}

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
    layer_name=f"failmodes-{stack}-dependencies",
    compatible_runtimes=["python3.11"],
    code=packaging.layer_archive(
        FUNCTIONS_DIR, config.require("layerSource"), PROJECT_DIR / "build" / "layer"
    ),
)


def function(name: str, *, timeout_key: str = "functionTimeout") -> FunctionArgs:
    return {
        "code": packaging.function_code(FUNCTIONS_DIR, name),
        "handler": f"functions.{name}.handler.handler",
        "timeout": config.require_int(timeout_key),
        "memory_size": config.require_int("functionMemory"),
        "layers": [layer.arn],
    }


def common() -> dict[str, Any]:
    # Each instance's ledger partition is its instance key (components/contract.py).
    return {"ledger": ledger, "alarms": alarms}


queue_worker_args: dict[str, Any] = {
    "function": function("queue_worker"),
    **common(),
    "fifo": config.require_bool("queueFifo"),
    "max_receive_count": config.require_int("queueMaxReceiveCount"),
    "batch_size": config.require_int("queueBatchSize"),
}
if config.require_int("queueMaximumConcurrency"):
    queue_worker_args["maximum_concurrency"] = config.require_int("queueMaximumConcurrency")
queue_worker = QueueWorker("queue-worker", queue_worker_args)

async_function = AsyncFunction(
    "async-function",
    {
        "function": function("async_worker"),
        **common(),
        "maximum_retry_attempts": config.require_int("asyncMaximumRetryAttempts"),
        "maximum_event_age": config.require_int("asyncMaximumEventAge"),
    },
)

ride_records = RideRecords(
    "ride-records",
    {
        "function": function("ride_writer"),
        **common(),
        "billing_mode": config.require("rideBillingMode"),
        "read_capacity": config.require_int("rideReadCapacity"),
        "write_capacity": config.require_int("rideWriteCapacity"),
        "autoscaling_max_capacity": config.require_int("rideAutoscalingMaxCapacity"),
        "maximum_retry_attempts": config.require_int("asyncMaximumRetryAttempts"),
        "maximum_event_age": config.require_int("asyncMaximumEventAge"),
    },
)

slow_api_args: dict[str, Any] = {
    "function": function("slow_api", timeout_key="slowApiTimeout"),
    **common(),
    "failure_rate": config.require_float("slowApiFailureRate"),
    "min_delay": config.require_float("slowApiMinDelay"),
    "max_delay": config.require_float("slowApiMaxDelay"),
    "rate_limit": config.require_float("slowApiRateLimit"),
    "burst_limit": config.require_int("slowApiBurstLimit"),
}
if config.get("slowApiSeed"):
    slow_api_args["seed"] = config.require_int("slowApiSeed")
slow_api = SlowApi("slow-api", slow_api_args)


def pipeline_args(flow_control: bool) -> dict[str, Any]:
    return {
        "notifier": function("notifier"),
        "delivery": function("delivery", timeout_key="deliveryTimeout"),
        **common(),
        "slow_api_url": slow_api.api.base_url,
        "slow_api_key_secret_arn": slow_api.key_secret_arn,
        "api_open": config.require_bool("notifierApiOpen"),
        "flow_control": flow_control,
        "target_maximum_retry_attempts": config.require_int("pipelineTargetMaximumRetryAttempts"),
        "target_maximum_event_age": config.require_int("pipelineTargetMaximumEventAge"),
        "maximum_retry_attempts": config.require_int("asyncMaximumRetryAttempts"),
        "maximum_event_age": config.require_int("asyncMaximumEventAge"),
        "maximum_concurrency": config.require_int("pipelineMaximumConcurrency"),
        "max_receive_count": config.require_int("queueMaxReceiveCount"),
        "delivery_attempts": config.require_int("deliveryAttempts"),
        "delivery_wait_base": config.require_float("deliveryWaitBase"),
        "delivery_wait_jitter": config.require_float("deliveryWaitJitter"),
        "delivery_http_timeout": config.require_float("deliveryHttpTimeout"),
    }


event_pipeline = EventPipeline("event-pipeline", pipeline_args(False))
event_pipeline_flow = EventPipeline("event-pipeline-flow", pipeline_args(True))

stream_processor = StreamProcessor(
    "stream-processor",
    {
        "function": function("stream_processor"),
        **common(),
        "batch_size": config.require_int("streamBatchSize"),
        "bisect_on_error": config.require_bool("streamBisectOnError"),
        "maximum_retry_attempts": config.require_int("streamMaximumRetryAttempts"),
        "maximum_record_age": config.require_int("streamMaximumRecordAge"),
    },
)

workflow = Workflow(
    "workflow",
    {
        "step": function("workflow_step"),
        "compensation": function("compensation"),
        **common(),
        "retry_max_attempts": config.require_int("workflowRetryMaxAttempts"),
        "retry_interval": config.require_int("workflowRetryInterval"),
        "retry_backoff_rate": config.require_float("workflowRetryBackoffRate"),
    },
)

fan_out = FanOut(
    "fan-out",
    {
        "consumer": function("queue_worker"),
        **common(),
        "subscribers": FAN_OUT_SUBSCRIBERS,
        "max_receive_count": config.require_int("queueMaxReceiveCount"),
    },
)


def redrive_source(dlq: aws.sqs.Queue, source: aws.sqs.Queue) -> dict[str, Any]:
    return {
        "dlq_url": dlq.url,
        "dlq_arn": dlq.arn,
        "source_url": source.url,
        "source_arn": source.arn,
    }


# Redrive makes sense only where the DLQ holds the original message for a queue: each queue
# worker declared above this line, each fan-out subscriber, and the flow pipeline's buffer.
redrive_pairs = [(worker.dlq, worker.queue) for worker in contract.components(keys.QUEUE_WORKER)]
for fan in contract.components(keys.FAN_OUT):
    redrive_pairs += [(worker.dlq, worker.queue) for worker in fan.subscribers.values()]
for pipeline in contract.components(keys.EVENT_PIPELINE_FLOW):
    if pipeline.buffer is not None:
        redrive_pairs.append((pipeline.delivery_dlq, pipeline.buffer))
dlq_redriver = DlqRedriver(
    "dlq-redriver",
    {
        "function": function("dlq_redriver"),
        **common(),
        "sources": [
            redrive_source(dlq, source) for dlq, source in redrive_pairs if dlq is not None
        ],
    },
)

# Every pattern component instance above, with its routes (components/contract.py).
contract.export_all()
pulumi.export(keys.CHAOS_ENABLED, config.require_bool("chaosEnabled"))
pulumi.export(keys.STACK, stack)
pulumi.export(keys.REGION, region)
pulumi.export(keys.LEDGER_TABLE, shared.ledger.name)
pulumi.export(keys.IDEMPOTENCY_TABLE, shared.idempotency.name)
pulumi.export(keys.ALARM_TOPIC_ARN, shared.alarm_topic.arn)
pulumi.export(keys.ALARM_INBOX_QUEUE_URL, shared.inbox.url)
pulumi.export(keys.LAYER_ARN, layer.arn)
