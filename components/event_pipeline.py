"""EventPipeline: API -> notifier -> EventBridge -> delivery -> the slow third-party API.

Direct variant: the rule targets the delivery function (async invoke); EventBridge
retries only throttles/5xx of the invoke itself (RetryPolicy, then the target DLQ);
errors inside delivery are handled by its async config (retries, then its DLQ).
Flow-controlled variant: the rule targets an SQS buffer; delivery reads it with
batch size 1 and MaximumConcurrency, so a burst cannot overrun the slow API.

The notifier API requires an API key (its own, in its own usage plan) unless `api_open`;
delivery reads the slow API's key from its Secrets Manager secret at run time, cached for
`slow_api_key_max_age` seconds, never from its environment.
"""

from __future__ import annotations

import json
from typing import NotRequired

import pulumi
import pulumi_aws as aws

from components import contract, queues, validation
from components import outputs as keys
from components.alarms import AlarmArgs, AlarmFactory, validate_alarm_args
from components.api import LambdaRestApi
from components.async_function import ASYNC_SETTINGS, async_invoke_config
from components.function import (
    FunctionArgs,
    LambdaFunction,
    LedgerArgs,
    function_timeout,
    statement,
    validate_function_args,
)

__all__ = ["SETTINGS", "EventPipeline", "EventPipelineArgs", "validate"]

NAME = "EventPipeline"


class EventPipelineArgs(contract.InstanceArgs):
    """Notifier API, event bus and rule, delivery function (direct or behind an SQS buffer)."""

    notifier: FunctionArgs
    """API handler: adds a correlation id, puts the event (functions.notifier.handler.handler)."""
    delivery: FunctionArgs
    """Calls the slow API with tenacity retries (functions.delivery.handler.handler)."""
    ledger: LedgerArgs
    """The stack's ledger and idempotency tables."""
    ledger_pattern: NotRequired[str]
    """LEDGER_PATTERN of delivery; the notifier gets '<ledger_pattern>.notifier'."""
    alarms: AlarmArgs
    """Alarm topic and timing."""
    slow_api_url: pulumi.Input[str]
    """URL delivery POSTs to (SlowApi url)."""
    slow_api_key_secret_arn: pulumi.Input[str]
    """ARN of the Secrets Manager secret holding its API key (SlowApi key_secret_arn): delivery
    gets the ARN in its environment and secretsmanager:GetSecretValue on that secret only."""
    slow_api_key_max_age: NotRequired[int]
    """Seconds delivery caches the key before reading the secret again (a rotation is seen
    within this; a 403 reads it again at once)."""
    api_open: NotRequired[bool]
    """False (default): the notifier API requires x-api-key, its key in its usage plan (the
    `api_key_value` output, a secret). True: anyone may call it."""
    flow_control: NotRequired[bool]
    """False: rule -> delivery. True: rule -> SQS buffer -> MaximumConcurrency mapping."""
    event_source: NotRequired[str]
    """EventBridge source the notifier puts and the rule matches."""
    event_detail_type: NotRequired[str]
    """detail-type the notifier puts and the rule matches."""
    target_maximum_retry_attempts: NotRequired[int]
    """EventBridge target retries."""
    target_maximum_event_age: NotRequired[int]
    """EventBridge target max event age, seconds."""
    maximum_retry_attempts: NotRequired[int]
    """Direct: delivery's async retries."""
    maximum_event_age: NotRequired[int]
    """Direct: delivery's async max event age, seconds."""
    maximum_concurrency: NotRequired[int]
    """Flow: mapping MaximumConcurrency."""
    max_receive_count: NotRequired[int]
    """Flow: receives before the buffer's DLQ."""
    visibility_timeout: NotRequired[int]
    """Flow: buffer visibility, >= delivery timeout (default VISIBILITY_FACTOR x it)."""
    delivery_attempts: NotRequired[int]
    """DELIVERY_ATTEMPTS: tries at the slow API per invocation."""
    delivery_wait_base: NotRequired[float]
    """DELIVERY_WAIT_BASE: fixed seconds between tries."""
    delivery_wait_jitter: NotRequired[float]
    """DELIVERY_WAIT_JITTER: up to this many random extra seconds between tries."""
    delivery_http_timeout: NotRequired[float]
    """DELIVERY_HTTP_TIMEOUT: seconds per call (capped below the invocation's time left)."""
    dlq_retention: NotRequired[int]
    """DLQ retention seconds (default 14 days)."""


SETTINGS = validation.Settings(
    EventPipelineArgs,
    flow_control=validation.Setting(False),
    api_open=validation.Setting(False),
    # Powertools' cache: one GetSecretValue per worker per 5 minutes, not one per delivery.
    slow_api_key_max_age=validation.Setting(300, 1, 3600),
    event_source=validation.Setting("failmodes.notifier"),
    event_detail_type=validation.Setting("OrderPlaced"),
    # EventBridge's maxima: retry for a day, 185 times, before the target DLQ.
    target_maximum_retry_attempts=validation.Setting(185, 0, 185),
    target_maximum_event_age=validation.Setting(86_400, 60, 86_400),
    **ASYNC_SETTINGS,
    maximum_concurrency=validation.Setting(10, 2, 1000),
    max_receive_count=queues.MAX_RECEIVE_COUNT,
    visibility_timeout=validation.Setting(),  # bounds: validate(), from the function timeout
    # The seed demo's retry profile: 5 tries, 3 s + 0..5 s apart, 12 s per call.
    delivery_attempts=validation.Setting(5, 1, 20),
    delivery_wait_base=validation.Setting(3.0, 0.0, 60.0),
    delivery_wait_jitter=validation.Setting(5.0, 0.0, 60.0),
    delivery_http_timeout=validation.Setting(12.0, 0.1, 900.0),
)


def validate(args: EventPipelineArgs) -> EventPipelineArgs:
    for field in (
        "notifier",
        "delivery",
        "ledger",
        "alarms",
        "slow_api_url",
        "slow_api_key_secret_arn",
    ):
        validation.require(NAME, args, field)
    validate_function_args(NAME, "notifier", args["notifier"])
    validate_function_args(NAME, "delivery", args["delivery"])
    validate_alarm_args(NAME, args["alarms"])
    SETTINGS.check(NAME, args)
    timeout = function_timeout(args["delivery"])
    visibility = queues.visibility_timeout(args, timeout)
    validation.int_range(NAME, "visibility_timeout", visibility, timeout, queues.MAX_VISIBILITY)
    return args


class EventPipeline(contract.PatternComponent):
    """API -> notifier -> bus -> rule -> (buffer ->) delivery -> slow API."""

    def __init__(
        self, name: str, args: EventPipelineArgs, opts: pulumi.ResourceOptions | None = None
    ):
        validate(args)
        super().__init__(NAME, name, args, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.flow_control = SETTINGS.value(args, "flow_control")
        self.api_open = bool(SETTINGS.value(args, "api_open"))
        self.target_maximum_retry_attempts = SETTINGS.value(args, "target_maximum_retry_attempts")
        self.target_maximum_event_age = SETTINGS.value(args, "target_maximum_event_age")
        # The delivery's async settings (direct) or the buffer's redrive (flow): set below.
        self.maximum_retry_attempts: int | None = None
        self.maximum_event_age: int | None = None
        self.max_receive_count: int | None = None
        retention = SETTINGS.value(args, "dlq_retention")
        source = SETTINGS.value(args, "event_source")
        detail_type = SETTINGS.value(args, "event_detail_type")
        pattern = self.ledger_pattern

        self.bus = aws.cloudwatch.EventBus(f"{name}-bus", opts=child)
        self.notifier = LambdaFunction(
            self,
            f"{name}-notifier",
            args["notifier"],
            ledger=args["ledger"],
            ledger_pattern=f"{pattern}.notifier",
            statements=[statement(["events:PutEvents"], [self.bus.arn])],
            environment={
                "EVENT_BUS_NAME": self.bus.name,
                "EVENT_SOURCE": source,
                "EVENT_DETAIL_TYPE": detail_type,
            },
        )
        # No throttle of its own: the plan is what lets the key in (the stage's and the
        # account's limits still apply); flow control is downstream, in the buffer.
        self.api = LambdaRestApi(
            self,
            name,
            self.notifier.function,
            http_method="POST",
            path_part="events",
            api_key_required=not self.api_open,
        )
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            event_bus_name=self.bus.name,
            event_pattern=json.dumps({"source": [source], "detail-type": [detail_type]}),
            opts=child,
        )
        self.target_dlq = queues.dead_letter_queue(self, f"{name}-target-dlq", retention=retention)
        # EventBridge writes to a target DLQ with its own principal: the queue must allow it.
        queues.allow_services_to_send(
            self,
            f"{name}-target-dlq-policy",
            self.target_dlq,
            [("events.amazonaws.com", self.rule.arn)],
        )
        self.slow_api_key_secret_arn = args["slow_api_key_secret_arn"]
        delivery_env = {
            "SLOW_API_URL": args["slow_api_url"],
            "SLOW_API_KEY_SECRET": self.slow_api_key_secret_arn,
            "SLOW_API_KEY_MAX_AGE": str(SETTINGS.value(args, "slow_api_key_max_age")),
            "DELIVERY_ATTEMPTS": str(SETTINGS.value(args, "delivery_attempts")),
            "DELIVERY_WAIT_BASE": str(float(SETTINGS.value(args, "delivery_wait_base"))),
            "DELIVERY_WAIT_JITTER": str(float(SETTINGS.value(args, "delivery_wait_jitter"))),
            "DELIVERY_HTTP_TIMEOUT": str(float(SETTINGS.value(args, "delivery_http_timeout"))),
        }
        self.alarm_factory = AlarmFactory(self, name, args["alarms"])
        self.buffer: aws.sqs.Queue | None = None
        self.maximum_concurrency: int | None = None
        if self.flow_control:
            target_arn = self._flow(name, args, delivery_env, retention)
        else:
            target_arn = self._direct(name, args, delivery_env, retention)
        self.target = aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=self.rule.name,
            event_bus_name=self.bus.name,
            arn=target_arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_retry_attempts=self.target_maximum_retry_attempts,
                maximum_event_age_in_seconds=self.target_maximum_event_age,
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(
                arn=self.target_dlq.arn
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._target_ready),
        )
        self.alarm_factory.dlq("target_dlq", self.target_dlq, f"{name}: EventBridge target DLQ")
        self.alarm_factory.dlq("delivery_dlq", self.delivery_dlq, f"{name}: delivery DLQ")
        self.alarm_factory.errors_and_throttles("notifier", self.notifier.function)
        self.alarm_factory.errors_and_throttles("delivery", self.delivery.function)
        self.alarm_factory.metric(
            "failed_invocations",
            namespace="AWS/Events",
            metric_name="FailedInvocations",
            dimensions={"EventBusName": self.bus.name, "RuleName": self.rule.name},
            description=f"{name}: EventBridge could not deliver to the target",
        )
        if self.buffer is not None:
            self.alarm_factory.queue_age("buffer_age", self.buffer, self._buffer_age_threshold)
        # A dict, not one Output.all: its secret field stays the only secret one.
        self.outputs = {
            "notifier": pulumi.Output.all(**self.notifier.outputs()),
            "delivery": pulumi.Output.all(**self.delivery.outputs()),
            "api_url": pulumi.Output.concat(self.api.base_url, "events"),
            "api_key_value": self.api.api_key_value,
            "api_open": self.api_open,
            "event_bus_name": self.bus.name,
            "rule_name": self.rule.name,
            "target_dlq_url": self.target_dlq.url,
            "delivery_dlq_url": self.delivery_dlq.url,
            "buffer_queue_url": self.buffer.url if self.buffer is not None else None,
            "maximum_concurrency": self.maximum_concurrency,
            "flow_control": self.flow_control,
            "target_maximum_retry_attempts": self.target_maximum_retry_attempts,
            "target_maximum_event_age": self.target_maximum_event_age,
            "maximum_retry_attempts": self.maximum_retry_attempts,
            "maximum_event_age": self.maximum_event_age,
            "max_receive_count": self.max_receive_count,
            "alarms": pulumi.Output.all(**self.alarm_factory.names()),
        }
        self.register_outputs({"outputs": self.outputs})
        # The flow-controlled variant's failure contract differs (its buffer, its own
        # experiments): it is a component type of its own.
        kind = keys.EVENT_PIPELINE_FLOW if self.flow_control else keys.EVENT_PIPELINE
        contract.declare(self, kind, name, opts)

    def _key_statement(self) -> dict:
        # The one secret, by its ARN; its key is AWS's managed aws/secretsmanager, whose key
        # policy lets the account use it through Secrets Manager: no kms:Decrypt grant
        # (Secrets Manager user guide, "Secret encryption and decryption").
        return statement(["secretsmanager:GetSecretValue"], [self.slow_api_key_secret_arn])

    def _direct(
        self, name: str, args: EventPipelineArgs, env: dict, retention: int
    ) -> pulumi.Output[str]:
        self.delivery_dlq = queues.dead_letter_queue(
            self, f"{name}-delivery-dlq", retention=retention
        )
        self.delivery = LambdaFunction(
            self,
            f"{name}-delivery",
            args["delivery"],
            ledger=args["ledger"],
            ledger_pattern=self.ledger_pattern,
            statements=[
                statement(["sqs:SendMessage"], [self.delivery_dlq.arn]),
                self._key_statement(),
            ],
            environment=env,
            dead_letter_arn=self.delivery_dlq.arn,
        )
        self.maximum_retry_attempts = SETTINGS.value(args, "maximum_retry_attempts")
        self.maximum_event_age = SETTINGS.value(args, "maximum_event_age")
        async_invoke_config(
            self,
            name,
            self.delivery,
            maximum_retry_attempts=self.maximum_retry_attempts,
            maximum_event_age=self.maximum_event_age,
            on_failure=None,
        )
        permission = aws.lambda_.Permission(
            f"{name}-events-permission",
            action="lambda:InvokeFunction",
            function=self.delivery.function.name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._target_ready = [permission, *self.delivery.ready]
        return self.delivery.function.arn

    def _flow(
        self, name: str, args: EventPipelineArgs, env: dict, retention: int
    ) -> pulumi.Output[str]:
        visibility = queues.visibility_timeout(args, function_timeout(args["delivery"]))
        max_receive = self.max_receive_count = SETTINGS.value(args, "max_receive_count")
        self.maximum_concurrency = SETTINGS.value(args, "maximum_concurrency")
        self.delivery_dlq = queues.dead_letter_queue(
            self, f"{name}-buffer-dlq", retention=retention
        )
        self.buffer = queues.queue(
            self,
            f"{name}-buffer",
            visibility_timeout_seconds=visibility,
            redrive_policy=queues.redrive_policy(self.delivery_dlq, max_receive),
        )
        self._buffer_age_threshold = visibility * max_receive
        buffer_policy = queues.allow_services_to_send(
            self, f"{name}-buffer-policy", self.buffer, [("events.amazonaws.com", self.rule.arn)]
        )
        self.delivery = LambdaFunction(
            self,
            f"{name}-delivery",
            args["delivery"],
            ledger=args["ledger"],
            ledger_pattern=self.ledger_pattern,
            statements=[
                statement(
                    [
                        "sqs:ChangeMessageVisibility",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ReceiveMessage",
                    ],
                    [self.buffer.arn],
                ),
                self._key_statement(),
            ],
            environment=env,
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-mapping",
            event_source_arn=self.buffer.arn,
            function_name=self.delivery.function.arn,
            # One event per invocation: a slow call holds up no other event.
            batch_size=1,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                maximum_concurrency=self.maximum_concurrency
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.delivery.ready),
        )
        self._target_ready = [buffer_policy]
        return self.buffer.arn
