"""Stack output keys and shapes: the one contract between the Pulumi program and chaos/.

`__main__.py` exports exactly these keys; `chaos/` reads them (from the local
state file or `pulumi stack output --json`). Add fields freely; never rename one
without changing both sides in the same commit.
"""

from __future__ import annotations

from typing import Literal, TypedDict

# Top-level export keys.
CHAOS_ENABLED = "chaos_enabled"  # bool: the chaos package refuses a stack without it
STACK = "stack"  # str: stack name the outputs came from
REGION = "region"  # str
LEDGER_TABLE = "ledger_table"  # str: DynamoDB table every side effect writes its event id to
IDEMPOTENCY_TABLE = "idempotency_table"  # str: Powertools idempotency table (added)
LAYER_ARN = "layer_arn"  # str: the shared dependency layer version (added)
ALARM_TOPIC_ARN = "alarm_topic_arn"  # str: SNS topic every alarm notifies
# str | None: SQS queue subscribed to the alarm topic
ALARM_INBOX_QUEUE_URL = "alarm_inbox_queue_url"
ROUTES = "routes"  # dict[instance key, dict[failure, Route]]: where an event ends when X fails
# (a FanOut also has one key per subscriber, "<key>:<subscriber>"; "<key>" is the first one.)
# dict[instance key, {"type", "name", "ledger_pattern"}]: every pattern component instance of
# the program (components/contract.py); each instance's outputs are exported under its key.
INSTANCES = "instances"

# Component types, each with its *Outputs dict below. The program's first instance of each
# is named after its type ("queue-worker" -> output key "queue_worker"); more instances of a
# type are exported under their own keys (components/contract.py).
QUEUE_WORKER = "queue_worker"
ASYNC_FUNCTION = "async_function"
RIDE_RECORDS = "ride_records"
EVENT_PIPELINE = "event_pipeline"  # EventBridge -> delivery function directly
EVENT_PIPELINE_FLOW = "event_pipeline_flow"  # EventBridge -> SQS -> mapping (MaximumConcurrency)
SLOW_API = "slow_api"
STREAM_PROCESSOR = "stream_processor"
WORKFLOW = "workflow"
FAN_OUT = "fan_out"
DLQ_REDRIVER = "dlq_redriver"

PATTERNS: tuple[str, ...] = (
    QUEUE_WORKER,
    ASYNC_FUNCTION,
    RIDE_RECORDS,
    EVENT_PIPELINE,
    EVENT_PIPELINE_FLOW,
    SLOW_API,
    STREAM_PROCESSOR,
    WORKFLOW,
    FAN_OUT,
    DLQ_REDRIVER,
)

# Output keys no instance may take.
RESERVED: frozenset[str] = frozenset(
    {
        CHAOS_ENABLED,
        STACK,
        REGION,
        LEDGER_TABLE,
        IDEMPOTENCY_TABLE,
        LAYER_ARN,
        ALARM_TOPIC_ARN,
        ALARM_INBOX_QUEUE_URL,
        ROUTES,
        INSTANCES,
    }
)

# Instance output fields that are Pulumi secrets (pulumi.Output.secret): `pulumi stack output`
# shows them as [secret], `--show-secrets` (what chaos/ reads) and the local state file in
# clear. No other output is built from them (the routes are not).
SECRET_FIELDS: frozenset[str] = frozenset({"api_key_value"})

# Failure kinds a route can be asked about.
Failure = Literal[
    "none",  # healthy: the event is processed
    "poison",  # the event itself is bad: the handler always raises on it
    "function_error",  # injected failure rate 1.0
    "timeout",  # injected sleep past the function timeout
    "throttle",  # reserved concurrency 0
    "downstream_throttle",  # the function's own SDK calls throttled (e.g. DynamoDB)
    "target_error",  # a delivery target (e.g. the slow API) keeps failing
    # EventBridge cannot deliver to the rule's target (no grant, target gone): target DLQ
    "target_delivery",
    # SNS cannot deliver to the subscribed function (no grant, function gone): subscription DLQ
    "subscription_delivery",
]

# Envelope kinds, one per DLQ / destination wire shape the chaos probes parse.
Envelope = Literal[
    "processed",  # not a DLQ: the side effect is in the ledger
    "sqs_redrive",  # SQS redrive: original body unchanged
    "lambda_dlq",  # function DLQ: original event + RequestID/ErrorCode/ErrorMessage attributes
    "destination",  # async OnFailure destination record (requestContext.condition ...)
    "kinesis_on_failure",  # Kinesis mapping OnFailure record: shard + sequence pointers
    "eventbridge_dlq",  # target DLQ: ERROR_CODE/ERROR_MESSAGE/RULE_ARN/TARGET_ARN/RETRY_ATTEMPTS
    "sns_dlq",  # SNS subscription redrive: the SNS envelope SNS could not deliver
    "failure_record",  # Step Functions Catch -> compensation -> failure record queue
    # Added: a synchronous entry point refused it (API 4xx/5xx to the caller): no queue, not lost.
    "rejected",
]


class RouteTarget(TypedDict):
    """A further place the same event lands (see Route.also)."""

    envelope: Envelope
    queue_url: str | None


class Route(TypedDict):
    """Where one event ends for one failure kind."""

    envelope: Envelope
    queue_url: str | None  # the DLQ / destination queue; None when envelope == "processed"
    ledger_pattern: str | None  # the ledger partition the side effect lands in, when processed
    # Added: the same event ALSO lands here (e.g. an async failure goes to the OnFailure
    # destination AND the function DLQ). Empty when it lands in one place.
    also: list[RouteTarget]
    # Added: SNS message attributes the event must carry to take this route (FanOut), else None.
    message_attributes: dict[str, str] | None


class FunctionOutputs(TypedDict):
    name: str
    arn: str
    timeout: int  # seconds


class QueueWorkerOutputs(TypedDict):
    function: FunctionOutputs
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    fifo: bool
    max_receive_count: int
    visibility_timeout: int
    batch_size: int
    mapping_uuid: str
    alarms: dict[str, str]  # role ("dlq", "errors", "throttles", "age") -> alarm name


class AsyncFunctionOutputs(TypedDict):
    function: FunctionOutputs
    topic_arn: str  # SNS topic that invokes the function asynchronously
    subscription_dlq_url: str  # SNS subscription redrive DLQ
    dlq_url: str | None  # the function's DeadLetterConfig queue (None only if disabled in Args)
    on_failure_queue_url: str | None  # OnFailure destination queue (None only if disabled in Args)
    maximum_retry_attempts: int
    maximum_event_age: int  # seconds
    alarms: dict[str, str]


class RideRecordsOutputs(TypedDict):
    function: FunctionOutputs
    topic_arn: str
    table_name: str
    billing_mode: str  # PAY_PER_REQUEST | PROVISIONED
    dlq_url: str
    subscription_dlq_url: str  # SNS subscription redrive DLQ (added)
    alarms: dict[str, str]


class EventPipelineOutputs(TypedDict):
    notifier: FunctionOutputs  # API -> notifier (adds correlation_id) -> EventBridge
    delivery: FunctionOutputs  # calls the slow API with tenacity retries
    api_url: str  # the notifier's API (POST /events)
    # added: the x-api-key its callers send (a secret); None when the stack opened the API
    api_key_value: str | None
    api_open: bool  # added: True when the API takes calls without a key (notifierApiOpen)
    event_bus_name: str
    rule_name: str
    target_dlq_url: str  # EventBridge target DLQ
    # the delivery function's async DLQ (direct) or the buffer's redrive DLQ (flow)
    delivery_dlq_url: str
    buffer_queue_url: str | None  # flow-controlled variant only
    maximum_concurrency: int | None  # flow-controlled variant only
    flow_control: bool  # added: True for the flow-controlled variant
    target_maximum_retry_attempts: int  # added: the EventBridge target's RetryPolicy
    target_maximum_event_age: int  # added: seconds
    maximum_retry_attempts: int | None  # added: the delivery's async config (direct only)
    maximum_event_age: int | None  # added: seconds (direct only)
    max_receive_count: int | None  # added: the buffer's redrive policy (flow only)
    alarms: dict[str, str]


class SlowApiOutputs(TypedDict):
    function: FunctionOutputs
    url: str  # invoke URL of the stage, ends with '/'
    api_id: str
    api_key_id: str
    api_key_value: str  # a secret; the chaos suite needs it to call the API
    api_key_secret_arn: str  # added: the Secrets Manager secret its callers read the key from
    rate_limit: float
    burst_limit: int
    failure_rate: float
    alarms: dict[str, str]


class StreamProcessorOutputs(TypedDict):
    function: FunctionOutputs
    stream_name: str
    stream_arn: str
    on_failure_queue_url: str
    bisect_on_error: bool
    maximum_retry_attempts: int
    maximum_record_age: int
    mapping_uuid: str  # added
    alarms: dict[str, str]


class WorkflowOutputs(TypedDict):
    state_machine_arn: str
    step: FunctionOutputs
    compensation: FunctionOutputs
    failure_queue_url: str  # failure records written by the Catch path
    retry_max_attempts: int
    retry_interval: int
    retry_backoff_rate: float
    alarms: dict[str, str]


class FanOutSubscriberOutputs(TypedDict):
    queue_url: str
    queue_arn: str
    dlq_url: str
    subscription_dlq_url: str  # added: SNS's own delivery failures to this subscriber's queue
    filter_policy: dict[str, object]
    consumer: FunctionOutputs
    ledger_pattern: str  # added: "fan_out.<subscriber>"
    alarms: dict[str, str]  # added: that subscriber's queue alarms


class FanOutOutputs(TypedDict):
    topic_arn: str
    subscribers: dict[str, FanOutSubscriberOutputs]  # subscriber name -> outputs
    filter_scope: str  # added: MessageAttributes | MessageBody
    alarms: dict[str, str]


class DlqRedriverOutputs(TypedDict):
    function: FunctionOutputs
    sources: dict[str, str]  # DLQ url -> source queue url it redrives into
    alarms: dict[str, str]  # added
