"""One experiment per failure-handling pattern. CI (`make test`) runs those marked `ci`;
`make demo` runs them all. Timings come from the stack's own settings (see Budget)."""

from __future__ import annotations

from typing import Any

from chaos.experiments.model import (
    AlarmExpect,
    ApiThrottle,
    Attempts,
    AwaitAttempts,
    AwaitSettled,
    Budget,
    Contains,
    Expect,
    Experiment,
    FromOutput,
    Inject,
    InvokeSync,
    PlaceRef,
    Present,
    ReserveConcurrency,
    RevokeGrant,
    Send,
    SetEnv,
    UndoFaults,
)

# FAILMODES_MATCH: only events the traffic marked as targets are hit, healthy ones pass. The
# middleware exposes the decoded payload (SQS body, SNS Message, Kinesis data, EventBridge detail,
# API body) as `payload`; a bare event (direct invoke, Step Functions input) carries the mark.
HIT_ONLY = "payload.chaos_target || payload.detail.chaos_target || chaos_target"


def notifier(pipeline: str, **send: Any) -> Send:
    """Traffic to a pipeline's notifier API, with its API key (None when the stack opened
    the API: the driver then sends none)."""
    return Send(
        "api",
        f"{pipeline}.api_url",
        options={"api_key": f"{pipeline}.api_key_value"},
        **send,
    )


CATALOG: tuple[Experiment, ...] = (
    Experiment(
        name="sqs-poison-to-dlq",
        pattern="queue_worker",
        title="Poison messages end in the SQS redrive DLQ; healthy ones are processed",
        fault="poison events (the handler always raises on them)",
        # ONE poison message: the DLQ alarm is shown to fire on one (two would let "> 1" pass).
        method=(Send("sqs", "queue_worker.queue_url", healthy=8, poison=1), AwaitSettled()),
        expect=Expect(
            envelope={"payload": Present()},
            alarms=(
                AlarmExpect(
                    "queue_worker.alarms.dlq",
                    Budget("sqs", "queue_worker.queue_url"),
                    dlq="queue_worker.dlq_url",
                ),
            ),
            attempts=(
                Attempts(
                    "sqs", "queue_worker.queue_url", declared="queue_worker.max_receive_count"
                ),
            ),
            max_duplicates=0,
        ),
        budget=Budget("sqs", "queue_worker.queue_url"),
        ci=True,
    ),
    Experiment(
        name="async-retries-exhausted",
        pattern="async_function",
        title="Async invoke: retries exhausted -> OnFailure destination and function DLQ",
        fault="failure rate 1.0 on marked events",
        method=(
            Inject("async_function.function.name", {"failure_rate": 1.0, "match": HIT_ONLY}),
            # ONE failing event: one destination record and one DLQ message, one per alarm.
            Send("invoke", "async_function.function.name", healthy=3, hit=1),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="function_error",
            envelope={"condition": "RetriesExhausted"},
            alarms=(
                AlarmExpect(
                    "async_function.alarms.on_failure",
                    Budget("async", "async_function.function.name"),
                    dlq="async_function.on_failure_queue_url",
                ),
                AlarmExpect(
                    "async_function.alarms.dlq",
                    Budget("async", "async_function.function.name"),
                    dlq="async_function.dlq_url",
                ),
            ),
            attempts=(
                Attempts(
                    "async",
                    "async_function.function.name",
                    declared="async_function.maximum_retry_attempts",
                ),
            ),
            max_duplicates=0,
        ),
        budget=Budget("async", "async_function.function.name"),
        ci=True,
    ),
    Experiment(
        name="async-timeout",
        pattern="async_function",
        title="A function that times out is retried, then dead-lettered with the timeout error",
        fault="timeout on marked events",
        method=(
            Inject("async_function.function.name", {"timeout": True, "match": HIT_ONLY}),
            Send("invoke", "async_function.function.name", healthy=2, hit=2),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="timeout",
            envelope={"condition": "RetriesExhausted"},
            attempts=(
                Attempts(
                    "async",
                    "async_function.function.name",
                    declared="async_function.maximum_retry_attempts",
                ),
            ),
        ),
        budget=Budget("async", "async_function.function.name"),
    ),
    Experiment(
        name="throttle-event-age",
        pattern="async_function",
        title="Reserved concurrency 0: throttled events expire (EventAgeExceeded) to the DLQs",
        fault="reserved concurrency 0",
        method=(
            ReserveConcurrency("async_function.function.name", 0),
            Send("invoke", "async_function.function.name", hit=3),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="throttle",
            envelope={"condition": "EventAgeExceeded"},
            alarms=(AlarmExpect("async_function.alarms.throttles", Budget("none")),),
        ),
        budget=Budget("event_age", "async_function.function.name"),
    ),
    Experiment(
        name="ride-writer-dynamodb-throttled",
        pattern="ride_records",
        title="Ride-record writer: DynamoDB throttling -> retries -> function DLQ, nothing lost",
        fault="FAILMODES_THROTTLE dynamodb:1.0 on marked events",
        method=(
            Inject(
                "ride_records.function.name",
                {"throttle": "dynamodb:1.0", "match": HIT_ONLY, "record_attempts": True},
            ),
            Send("sns", "ride_records.topic_arn", healthy=3, hit=1),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="downstream_throttle",
            # The SDK retries the throttle with backoff (DynamoDB: 10 attempts), which can
            # outlast a short function timeout: either error is the throttle's doing.
            envelope={
                "error_message": Contains("ProvisionedThroughputExceeded", ("Task timed out",))
            },
            alarms=(
                AlarmExpect(
                    "ride_records.alarms.dlq",
                    Budget("async", "ride_records.function.name"),
                    dlq="ride_records.dlq_url",
                ),
            ),
            # A function DLQ message carries no count: the handler's attempts ledger does.
            attempts=(
                Attempts(
                    "async", "ride_records.function.name", ledger="ride_records.function.name"
                ),
            ),
            max_duplicates=0,
        ),
        budget=Budget("async", "ride_records.function.name"),
        ci=True,
    ),
    Experiment(
        name="eventbridge-direct-slow-api",
        pattern="event_pipeline",
        title="EventBridge -> delivery -> slow API failing half the calls: delivered or DLQ",
        fault="slow API failure rate 0.5",
        method=(
            SetEnv(
                "slow_api.function.name", {"SLOW_API_FAILURE_RATE": "0.5", "SLOW_API_SEED": "7"}
            ),
            notifier("event_pipeline", hit=10, rate=5.0),
            AwaitSettled(),
        ),
        expect=Expect(failure="target_error", either=True),
        lock="slow_api",
        budget=Budget("async", "event_pipeline.delivery.name"),
    ),
    Experiment(
        name="eventbridge-flow-controlled-slow-api",
        pattern="event_pipeline_flow",
        title="EventBridge -> SQS -> MaximumConcurrency -> delivery -> slow API: delivered or DLQ",
        fault="slow API failure rate 0.5",
        method=(
            SetEnv(
                "slow_api.function.name", {"SLOW_API_FAILURE_RATE": "0.5", "SLOW_API_SEED": "7"}
            ),
            notifier("event_pipeline_flow", hit=10, rate=5.0),
            AwaitSettled(),
        ),
        expect=Expect(failure="target_error", either=True),
        lock="slow_api",
        budget=Budget("sqs", "event_pipeline_flow.buffer_queue_url"),
    ),
    Experiment(
        name="slow-api-over-its-plan-throttled",
        pattern="slow_api",
        title="Calls over the slow API's usage plan are refused with 429, the rest served",
        fault="60 calls in 1 s against a plan of 10/s, burst 10; the API answers at once",
        method=(
            # No failures and no delay: every refusal is the plan's, every call is quick.
            SetEnv(
                "slow_api.function.name",
                {
                    "SLOW_API_FAILURE_RATE": "0",
                    "SLOW_API_MIN_DELAY": "0",
                    "SLOW_API_MAX_DELAY": "0",
                },
            ),
            Send(
                "api",
                "slow_api.url",
                hit=60,
                rate=60.0,
                options={"api_key": "slow_api.api_key_value"},
            ),
            AwaitSettled(),
        ),
        # A hit call is processed (the API's ledger) or refused by the plan ("rejected").
        expect=Expect(failure="throttle", either=True, throttled=ApiThrottle("slow_api.api_id")),
        lock="slow_api",
    ),
    Experiment(
        name="eventbridge-target-denied",
        pattern="event_pipeline",
        title="EventBridge cannot invoke its target: the event is in the target DLQ at once",
        fault="the delivery function's grant to events.amazonaws.com revoked",
        method=(
            RevokeGrant("function", "event_pipeline.delivery.name", "events.amazonaws.com"),
            notifier("event_pipeline", hit=1, rate=5.0),
            AwaitSettled(),
        ),
        # Missing permissions are not retried (EventBridge guide, dead-letter queues).
        expect=Expect(
            failure="target_delivery",
            envelope={"error_code": "NO_PERMISSIONS", "retry_attempts": 0, "rule_arn": Present()},
            alarms=(
                AlarmExpect(
                    "event_pipeline.alarms.target_dlq",
                    Budget("none"),
                    dlq="event_pipeline.target_dlq_url",
                ),
            ),
        ),
        lock="slow_api",
        ci=True,
    ),
    Experiment(
        name="eventbridge-flow-buffer-denied",
        pattern="event_pipeline_flow",
        title="EventBridge cannot write to the flow-control buffer: the event is in the target DLQ",
        fault="the buffer queue's grant to events.amazonaws.com revoked",
        method=(
            RevokeGrant("queue", "event_pipeline_flow.buffer_queue_url", "events.amazonaws.com"),
            notifier("event_pipeline_flow", hit=1, rate=5.0),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="target_delivery",
            envelope={"error_code": "NO_PERMISSIONS", "retry_attempts": 0, "rule_arn": Present()},
            alarms=(
                AlarmExpect(
                    "event_pipeline_flow.alarms.target_dlq",
                    Budget("none"),
                    dlq="event_pipeline_flow.target_dlq_url",
                ),
            ),
        ),
        lock="slow_api",
    ),
    Experiment(
        name="eventbridge-flow-delivery-fails",
        pattern="event_pipeline_flow",
        title="The buffer's consumer keeps failing: the event reaches the buffer DLQ after"
        " maxReceiveCount",
        fault="failure rate 1.0 on the delivery function for marked events",
        method=(
            Inject("event_pipeline_flow.delivery.name", {"failure_rate": 1.0, "match": HIT_ONLY}),
            notifier("event_pipeline_flow", hit=1, rate=5.0),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="function_error",
            alarms=(
                AlarmExpect(
                    "event_pipeline_flow.alarms.delivery_dlq",
                    Budget("sqs", "event_pipeline_flow.buffer_queue_url"),
                    dlq="event_pipeline_flow.delivery_dlq_url",
                ),
            ),
            attempts=(Attempts("sqs", "event_pipeline_flow.buffer_queue_url"),),
        ),
        lock="slow_api",
        budget=Budget("sqs", "event_pipeline_flow.buffer_queue_url"),
    ),
    Experiment(
        name="sns-subscription-denied",
        pattern="async_function",
        title="SNS cannot invoke the subscribed function: the message is in the subscription DLQ",
        fault="the function's grant to sns.amazonaws.com revoked",
        method=(
            RevokeGrant("function", "async_function.function.name", "sns.amazonaws.com"),
            Send("sns", "async_function.topic_arn", hit=1),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="subscription_delivery",
            alarms=(
                AlarmExpect(
                    "async_function.alarms.subscription_dlq",
                    Budget("none"),
                    dlq="async_function.subscription_dlq_url",
                ),
            ),
        ),
    ),
    Experiment(
        name="ride-sns-subscription-denied",
        pattern="ride_records",
        title="SNS cannot invoke the ride writer: the ride is in the subscription DLQ, not lost",
        fault="the writer's grant to sns.amazonaws.com revoked",
        method=(
            RevokeGrant("function", "ride_records.function.name", "sns.amazonaws.com"),
            Send("sns", "ride_records.topic_arn", hit=1),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="subscription_delivery",
            alarms=(
                AlarmExpect(
                    "ride_records.alarms.subscription_dlq",
                    Budget("none"),
                    dlq="ride_records.subscription_dlq_url",
                ),
            ),
        ),
    ),
    Experiment(
        name="kinesis-poison-bisect",
        pattern="stream_processor",
        title="Kinesis poison record: bisect isolates it, the OnFailure pointer resolves to it",
        fault="one poison record among healthy ones",
        method=(
            Send("kinesis", "stream_processor.stream_name", healthy=8, poison=1),
            AwaitSettled(),
        ),
        expect=Expect(
            # The OnFailure batch may span records that an earlier attempt already processed:
            # those are both processed and pointed at, which AWS allows (idempotent handler).
            places={
                "healthy": (
                    (PlaceRef("processed", "stream_processor.function.name"),),
                    (
                        PlaceRef("processed", "stream_processor.function.name"),
                        PlaceRef("kinesis_on_failure", "stream_processor.on_failure_queue_url"),
                    ),
                )
            },
            envelope={"pointer": Present(), "condition": "RetryAttemptsExhausted"},
            alarms=(
                AlarmExpect(
                    "stream_processor.alarms.on_failure",
                    Budget("stream", "stream_processor"),
                    dlq="stream_processor.on_failure_queue_url",
                ),
            ),
            attempts=(
                Attempts(
                    "stream",
                    "stream_processor.mapping_uuid",
                    declared="stream_processor.maximum_retry_attempts",
                ),
            ),
            max_duplicates=0,
        ),
        budget=Budget("stream", "stream_processor"),
        ci=True,
    ),
    Experiment(
        name="workflow-retry-then-catch",
        pattern="workflow",
        title="Step Functions: the task is retried per Retry, then Catch writes a failure record",
        fault="failure rate 1.0 on the step for marked events",
        method=(
            Inject("workflow.step.name", {"failure_rate": 1.0, "match": HIT_ONLY}),
            # ONE failing execution: one failure record for the alarm to fire on.
            Send("stepfunctions", "workflow.state_machine_arn", healthy=2, hit=1),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="function_error",
            envelope={"error_code": Present()},
            alarms=(
                AlarmExpect(
                    "workflow.alarms.failures",
                    Budget("workflow", "workflow"),
                    dlq="workflow.failure_queue_url",
                ),
            ),
            attempts=(Attempts("workflow", "workflow", declared="workflow.retry_max_attempts"),),
            max_duplicates=0,
        ),
        budget=Budget("workflow", "workflow"),
        ci=True,
    ),
    Experiment(
        name="fanout-one-consumer-failing",
        pattern="fan_out",
        title="SNS fan-out with filters: one consumer failing fills only its own DLQ",
        fault="failure rate 1.0 on the first subscriber's consumer",
        method=(
            Inject("fan_out.subscribers.{failing}.consumer.name", {"failure_rate": 1.0}),
            Send("sns", "fan_out.topic_arn", hit=6, per_subscriber=True),
            AwaitSettled(),
        ),
        # Each event carries the attributes of one subscriber's filter (routes "fan_out:<name>"):
        # the failing subscriber's events end in its own DLQ, the others' are processed.
        expect=Expect(
            failure="function_error",
            attempts=(Attempts("sqs", "fan_out.subscribers.{failing}.queue_url"),),
            max_duplicates=0,
        ),
        budget=Budget("sqs", "fan_out.subscribers.{failing}.queue_url"),
    ),
    Experiment(
        name="fanout-subscription-denied",
        pattern="fan_out",
        title="SNS cannot write to one subscriber's queue: its messages are in that"
        " subscription's DLQ, the other subscriber's are processed",
        fault="the first subscriber queue's grant to sns.amazonaws.com revoked",
        method=(
            RevokeGrant("queue", "fan_out.subscribers.{failing}.queue_url", "sns.amazonaws.com"),
            Send("sns", "fan_out.topic_arn", hit=2, per_subscriber=True),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="subscription_delivery",
            alarms=(
                AlarmExpect(
                    "fan_out.subscribers.{failing}.alarms.subscription_dlq",
                    Budget("none"),
                    dlq="fan_out.subscribers.{failing}.subscription_dlq_url",
                ),
            ),
        ),
    ),
    Experiment(
        name="dlq-redrive-brings-all-home",
        pattern="queue_worker",
        title="Messages dead-lettered while the worker failed all come home on redrive",
        fault="failure rate 1.0 on the worker, then undone, then the redriver",
        method=(
            Inject("queue_worker.function.name", {"failure_rate": 1.0}),
            Send("sqs", "queue_worker.queue_url", hit=5),
            AwaitSettled(places={"hit": ((PlaceRef("sqs_redrive", "queue_worker.dlq_url"),),)}),
            UndoFaults(),
            # The DLQ alone: the redriver sends it home to the source the stack configured
            # (REDRIVE_SOURCES), so a redriver deployed without its pairs fails here.
            InvokeSync("dlq_redriver.function.name", {"dlq_url": "@queue_worker.dlq_url"}),
            AwaitSettled(),
        ),
        expect=Expect(
            places={"hit": ((PlaceRef("processed", "queue_worker.function.name"),),)},
            max_duplicates=0,
        ),
        budget=Budget("sqs", "queue_worker.queue_url"),
    ),
)


Places = dict[str, tuple[tuple[PlaceRef, ...], ...]]
QW_PROCESSED: Places = {"hit": ((PlaceRef("processed", "queue_worker.function.name"),),)}
AF_PROCESSED: Places = {"hit": ((PlaceRef("processed", "async_function.function.name"),),)}
WF_PROCESSED: Places = {"hit": ((PlaceRef("processed", "workflow.step.name"),),)}

# Attempt boundaries, N as the stack declares it (its output): attempts 1..N-1 fail -> processed
# on attempt N; attempts 1..N fail -> dead-lettered after exactly N. A stack that does not do
# what it declares (maxReceiveCount, MaximumRetryAttempts, Retry MaxAttempts) fails one of each
# pair; the attempts verdicts also compare the live setting with the declared one.
CATALOG += (
    Experiment(
        name="sqs-attempts-below-boundary",
        pattern="queue_worker",
        title="SQS: an event failing maxReceiveCount-1 receives is processed, not dead-lettered",
        fault="fail attempts 1..maxReceiveCount-1 of marked events",
        method=(
            Inject(
                "queue_worker.function.name",
                {
                    "fail_attempts": FromOutput("queue_worker.max_receive_count", -1),
                    "match": HIT_ONLY,
                    "record_attempts": True,
                },
            ),
            Send("sqs", "queue_worker.queue_url", healthy=2, hit=2),
            AwaitSettled(),
        ),
        expect=Expect(
            places=QW_PROCESSED,
            attempts=(
                Attempts(
                    "sqs",
                    "queue_worker.queue_url",
                    declared="queue_worker.max_receive_count",
                    ledger="queue_worker.function.name",
                    events="hit",
                ),
            ),
            max_duplicates=0,
        ),
        budget=Budget("sqs", "queue_worker.queue_url"),
        ci=True,
    ),
    Experiment(
        name="sqs-attempts-at-boundary",
        pattern="queue_worker",
        title="SQS: an event failing maxReceiveCount receives is dead-lettered after exactly those",
        fault="fail attempts 1..maxReceiveCount of marked events",
        method=(
            Inject(
                "queue_worker.function.name",
                {
                    "fail_attempts": FromOutput("queue_worker.max_receive_count"),
                    "match": HIT_ONLY,
                    "record_attempts": True,
                },
            ),
            Send("sqs", "queue_worker.queue_url", healthy=2, hit=1),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="function_error",
            attempts=(
                Attempts(
                    "sqs", "queue_worker.queue_url", declared="queue_worker.max_receive_count"
                ),
                Attempts(
                    "sqs",
                    "queue_worker.queue_url",
                    declared="queue_worker.max_receive_count",
                    ledger="queue_worker.function.name",
                ),
            ),
            max_duplicates=0,
        ),
        budget=Budget("sqs", "queue_worker.queue_url"),
        ci=True,
    ),
    Experiment(
        name="sqs-crash-after-write-no-duplicate",
        pattern="queue_worker",
        title="SQS: a worker that fails after its write is redelivered; the write is not repeated",
        fault="fail attempt 1 of marked events after the handler's side effect",
        method=(
            Inject(
                "queue_worker.function.name",
                {
                    "fail_attempts": 1,
                    "fail_phase": "after",
                    "match": HIT_ONLY,
                    "record_attempts": True,
                },
            ),
            Send("sqs", "queue_worker.queue_url", healthy=2, hit=3),
            # The first attempt's write makes an event look processed: judge the duplicates
            # only once the redelivery has run.
            AwaitAttempts("queue_worker.function.name", 2),
            AwaitSettled(),
        ),
        expect=Expect(places=QW_PROCESSED, max_duplicates=0),
        budget=Budget("sqs", "queue_worker.queue_url"),
        ci=True,
    ),
    Experiment(
        name="async-attempts-below-boundary",
        pattern="async_function",
        title="Async: an event failing MaximumRetryAttempts attempts succeeds on its last one",
        fault="fail attempts 1..MaximumRetryAttempts of marked events",
        method=(
            Inject(
                "async_function.function.name",
                {
                    "fail_attempts": FromOutput("async_function.maximum_retry_attempts"),
                    "match": HIT_ONLY,
                    "record_attempts": True,
                },
            ),
            Send("invoke", "async_function.function.name", healthy=1, hit=2),
            AwaitSettled(),
        ),
        expect=Expect(
            places=AF_PROCESSED,
            attempts=(
                Attempts(
                    "async",
                    "async_function.function.name",
                    declared="async_function.maximum_retry_attempts",
                    ledger="async_function.function.name",
                    events="hit",
                ),
            ),
            max_duplicates=0,
        ),
        budget=Budget("async", "async_function.function.name"),
        ci=True,
    ),
    Experiment(
        name="async-attempts-at-boundary",
        pattern="async_function",
        title="Async: an event failing all MaximumRetryAttempts+1 attempts is dead-lettered",
        fault="fail attempts 1..MaximumRetryAttempts+1 of marked events",
        method=(
            Inject(
                "async_function.function.name",
                {
                    "fail_attempts": FromOutput("async_function.maximum_retry_attempts", 1),
                    "match": HIT_ONLY,
                    "record_attempts": True,
                },
            ),
            Send("invoke", "async_function.function.name", healthy=1, hit=1),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="function_error",
            envelope={"condition": "RetriesExhausted"},
            attempts=(
                Attempts(
                    "async",
                    "async_function.function.name",
                    declared="async_function.maximum_retry_attempts",
                ),
                Attempts(
                    "async",
                    "async_function.function.name",
                    declared="async_function.maximum_retry_attempts",
                    ledger="async_function.function.name",
                ),
            ),
            max_duplicates=0,
        ),
        budget=Budget("async", "async_function.function.name"),
    ),
    Experiment(
        name="async-crash-after-write-no-duplicate",
        pattern="async_function",
        title="Async: a retry after the side effect does not repeat it (idempotent worker)",
        fault="fail attempt 1 of marked events after the handler's side effect",
        method=(
            Inject(
                "async_function.function.name",
                {
                    "fail_attempts": 1,
                    "fail_phase": "after",
                    "match": HIT_ONLY,
                    "record_attempts": True,
                },
            ),
            Send("invoke", "async_function.function.name", healthy=1, hit=2),
            AwaitAttempts("async_function.function.name", 2),
            AwaitSettled(),
        ),
        expect=Expect(places=AF_PROCESSED, max_duplicates=0),
        budget=Budget("async", "async_function.function.name"),
    ),
    Experiment(
        name="workflow-attempts-below-boundary",
        pattern="workflow",
        title="Step Functions: a step failing Retry MaxAttempts times succeeds on its last attempt",
        fault="fail attempts 1..MaxAttempts of the step for marked events",
        method=(
            Inject(
                "workflow.step.name",
                {
                    "fail_attempts": FromOutput("workflow.retry_max_attempts"),
                    "match": HIT_ONLY,
                    "record_attempts": True,
                },
            ),
            Send("stepfunctions", "workflow.state_machine_arn", healthy=1, hit=2),
            AwaitSettled(),
        ),
        expect=Expect(
            places=WF_PROCESSED,
            attempts=(
                Attempts(
                    "workflow",
                    "workflow",
                    declared="workflow.retry_max_attempts",
                    ledger="workflow.step.name",
                    events="hit",
                ),
            ),
            max_duplicates=0,
        ),
        budget=Budget("workflow", "workflow"),
    ),
    Experiment(
        name="fanout-crash-after-write-no-duplicate",
        pattern="fan_out",
        title="SNS fan-out: a consumer failing after its write is redelivered without a duplicate",
        fault="fail attempt 1 of every event after the first subscriber's side effect",
        method=(
            Inject(
                "fan_out.subscribers.{failing}.consumer.name",
                {"fail_attempts": 1, "fail_phase": "after", "record_attempts": True},
            ),
            Send("sns", "fan_out.topic_arn", hit=6, per_subscriber=True),
            AwaitAttempts("fan_out.subscribers.{failing}.consumer.name", 2, "sub:{failing}"),
            AwaitSettled(),
        ),
        expect=Expect(failure="none", max_duplicates=0),
        budget=Budget("sqs", "fan_out.subscribers.{failing}.queue_url"),
    ),
)

# A fan-out subscriber's DLQ alarm, shown on ONE dead message (one event per subscriber).
CATALOG += (
    Experiment(
        name="fanout-dlq-alarm-fires-on-one",
        pattern="fan_out",
        title="SNS fan-out: the failing subscriber's DLQ alarm fires on its one dead message",
        fault="failure rate 1.0 on the first subscriber's consumer, one event per subscriber",
        method=(
            Inject("fan_out.subscribers.{failing}.consumer.name", {"failure_rate": 1.0}),
            Send("sns", "fan_out.topic_arn", hit=2, per_subscriber=True),
            AwaitSettled(),
        ),
        expect=Expect(
            failure="function_error",
            alarms=(
                AlarmExpect(
                    "fan_out.subscribers.{failing}.alarms.dlq",
                    Budget("sqs", "fan_out.subscribers.{failing}.queue_url"),
                    dlq="fan_out.subscribers.{failing}.dlq_url",
                ),
            ),
            attempts=(Attempts("sqs", "fan_out.subscribers.{failing}.queue_url"),),
            max_duplicates=0,
        ),
        budget=Budget("sqs", "fan_out.subscribers.{failing}.queue_url"),
    ),
)

# Several failing events at once (the alarm experiments above leave exactly one each).
CATALOG += (
    Experiment(
        name="sqs-poisons-all-dead-lettered",
        pattern="queue_worker",
        title="Several poison messages: each dead-lettered after exactly maxReceiveCount receives",
        fault="poison events (the handler always raises on them)",
        method=(Send("sqs", "queue_worker.queue_url", healthy=6, poison=3), AwaitSettled()),
        expect=Expect(
            envelope={"payload": Present()},
            attempts=(
                Attempts(
                    "sqs", "queue_worker.queue_url", declared="queue_worker.max_receive_count"
                ),
            ),
            max_duplicates=0,
        ),
        budget=Budget("sqs", "queue_worker.queue_url"),
    ),
    Experiment(
        name="workflow-poison-not-retried",
        pattern="workflow",
        title="Step Functions: a poison input is not retried (its Retry has MaxAttempts 0)",
        fault="poison events (the step always raises its poison error)",
        method=(
            Send("stepfunctions", "workflow.state_machine_arn", healthy=1, poison=2),
            AwaitSettled(),
        ),
        expect=Expect(
            envelope={"error_code": Present()},
            attempts=(Attempts("workflow", "workflow", declared="workflow.retry_max_attempts"),),
            max_duplicates=0,
        ),
        budget=Budget("workflow", "workflow"),
    ),
)


def by_name(name: str) -> Experiment:
    """The template of `name` ("sqs-poison-to-dlq", or an instance's "sqs-poison-to-dlq[x]")."""
    template = name.split("[", 1)[0]
    for exp in CATALOG:
        if exp.name == template:
            return exp
    raise KeyError(f"unknown experiment {name!r}; known: {', '.join(e.name for e in CATALOG)}")


def templates_named(names: list[str]) -> list[Experiment]:
    """The templates the names ask for, each once, in catalog order (unknown: KeyError)."""
    wanted = {by_name(n).name for n in names}
    return [e for e in CATALOG if e.name in wanted]


def select(experiments: list[Experiment], names: list[str]) -> list[Experiment]:
    """Of the experiments made for a stack, those `names` ask for: a template's name selects
    every instance of it, "template[instance]" (or "[instance/sub]") that one. A name that
    matches none: KeyError naming the ones this stack has."""
    chosen: list[Experiment] = []
    for name in names:
        found = [
            e
            for e in experiments
            if e.name == name
            or e.template == name
            # "t[fan-out]": every subscriber's "t[fan-out/sub]"
            or (name.endswith("]") and "/" not in name and e.name.startswith(f"{name[:-1]}/"))
        ]
        if not found:
            raise KeyError(
                f"no experiment {name!r} on this stack; it has: "
                f"{', '.join(e.name for e in experiments) or 'none'}"
            )
        chosen += [e for e in found if e not in chosen]
    return chosen


def ci_subset() -> tuple[Experiment, ...]:
    return tuple(e for e in CATALOG if e.ci)
