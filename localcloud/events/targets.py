"""EventBridge rules -> targets, delivered asynchronously with the target's RetryPolicy and DLQ.

moto builds each put event and matches it per rule; the local cloud takes over
from there (moto would deliver inline and fail PutEvents with HTTP 500 for
Lambda and SNS targets). Following the EventBridge guide ("Event retry policy
and using dead-letter queues"):

- PutEvents returns once events are accepted; delivery happens on worker threads.
- Targets: Lambda (handed to Lambda's async queue, so errors inside the function
  follow the function's own async config, never the target DLQ), SQS (with
  SqsParameters.MessageGroupId), SNS, Step Functions StartExecution.
- Input, InputPath and InputTransformer shape what the target receives.
- Throttling, 5xx and connection failures are retried until MaximumRetryAttempts
  (0-185, default 185) or MaximumEventAgeInSeconds (60-86400, default 86400);
  a missing target or missing permission goes to the DLQ at once.
- The DLQ message body is the event; its attributes are RULE_ARN, TARGET_ARN,
  ERROR_CODE, ERROR_MESSAGE, RETRY_ATTEMPTS and, when a retry limit ended
  delivery, EXHAUSTED_RETRY_CONDITION.

EventBridge's backoff between retries is a fixed AWS delay: it is multiplied by
the cloud's time scale. The event age limit is the stack's setting and is not.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localcloud.errors import AwsError
from localcloud.iam.resource_policy import queue_allows
from localcloud.lambda_.event_sources.base import (
    ClientFactory,
    InvokeFn,
    arn_account,
    arn_resource,
)
from localcloud.moto_reach import events as events_reach

logger = logging.getLogger(__name__)

DEFAULT_MAX_RETRIES = 185
DEFAULT_MAX_AGE = 86_400
BACKOFF_BASE, BACKOFF_CAP = 1.0, 300.0  # AWS seconds, before the time scale
WORKERS = 4
# Target services delivered here with RetryPolicy and DLQ; the rest (logs, archives,
# other buses, API destinations) keep moto's inline delivery.
DELIVERED_HERE = ("lambda", "sqs", "sns", "states")

PRINCIPAL = "events.amazonaws.com"  # what resource policies must grant for delivery
NOT_FOUND_CODES = {
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NonExistentQueue",
    "ResourceNotFoundException",
    "NotFound",
    "NotFoundException",
    "StateMachineDoesNotExist",
}
THROTTLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "ThrottledException",
    "TooManyRequests",
}


class DeliveryError(AwsError):
    """A target delivery failed; `code` is EventBridge's ERROR_CODE for the DLQ."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass(order=True)
class Delivery:
    due: float
    seq: int
    rule_arn: str = field(compare=False)
    rule_name: str = field(compare=False)
    target: dict[str, Any] = field(compare=False)
    event: dict[str, Any] = field(compare=False)
    accepted_at: float = field(compare=False)
    retries: int = field(default=0, compare=False)


def normalize_event(event: dict[str, Any]) -> dict[str, Any]:
    """moto's event as EventBridge sends it: ISO time, no moto-only keys."""
    out = {k: v for k, v in event.items() if k != "ingestion-time"}
    stamp = out.get("time")
    if isinstance(stamp, (int, float)):
        out["time"] = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif isinstance(stamp, datetime):
        out["time"] = stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def target_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """What the target receives: Input, InputPath, InputTransformer, or the whole event."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        from jsonpath_ng.ext import parse

        matches = parse(target["InputPath"]).find(event)
        return json.dumps(matches[0].value if matches else None)
    if target.get("InputTransformer"):
        try:
            return json.dumps(events_reach.transform_input(target, event))
        except ValueError as exc:
            raise DeliveryError(
                "INVALID_JSON", f"InputTemplate did not give JSON: {exc}", retryable=False
            ) from exc
    return json.dumps(event)


def retry_policy(target: dict[str, Any]) -> tuple[int, int]:
    """(MaximumRetryAttempts, MaximumEventAgeInSeconds), validated as PutTargets does."""
    policy = target.get("RetryPolicy") or {}
    retries = int(policy.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES))
    age = int(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE))
    if not 0 <= retries <= 185:
        raise ValueError(
            f"target {target.get('Id')}: RetryPolicy.MaximumRetryAttempts={retries} "
            "must be in 0..185"
        )
    if not 60 <= age <= 86_400:
        raise ValueError(
            f"target {target.get('Id')}: RetryPolicy.MaximumEventAgeInSeconds={age} "
            "must be in 60..86400"
        )
    return retries, age


def backoff_seconds(retry: int, time_scale: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter (AWS's delay), compressed by the time scale."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(retry - 1, 0))
    return (rng or random).uniform(ceiling / 2, ceiling) * time_scale


def next_step(
    delivery: Delivery, error: DeliveryError, now: float, time_scale: float
) -> tuple[str, float | str | None]:
    """After a failed attempt: ("retry", delay) or ("dlq", EXHAUSTED_RETRY_CONDITION or None)."""
    if not error.retryable:
        return "dlq", None
    max_retries, max_age = retry_policy(delivery.target)
    if delivery.retries >= max_retries:
        return "dlq", "MaximumRetryAttempts"
    delay = backoff_seconds(delivery.retries + 1, time_scale)
    if now + delay - delivery.accepted_at >= max_age:
        return "dlq", "MaximumEventAgeInSeconds"
    return "retry", delay


def classify_client_error(exc: Exception) -> DeliveryError:
    """botocore / runtime errors as EventBridge's ERROR_CODE and whether it retries."""
    response = getattr(exc, "response", None) or {}
    code = (response.get("Error") or {}).get("Code") or type(exc).__name__
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    message = str(exc)
    if code in NOT_FOUND_CODES or type(exc).__name__ in ("ResourceNotFound",):
        return DeliveryError("NO_RESOURCE", message, retryable=False)
    if code.startswith("AccessDenied") or code in ("AuthorizationError", "KMSAccessDenied"):
        return DeliveryError("NO_PERMISSIONS", message, retryable=False)
    if code in THROTTLE_CODES or status == 429:
        return DeliveryError("THROTTLING", message, retryable=True)
    if "EndpointConnectionError" in type(exc).__name__ or "ConnectionClosed" in type(exc).__name__:
        return DeliveryError("CONNECTION_FAILURE", message, retryable=True)
    if status >= 500 or type(exc).__name__ == "ServiceError":
        return DeliveryError("INTERNAL_ERROR", message, retryable=True)
    return DeliveryError("INVALID_PARAMETER", message, retryable=False)


class EventBridgeDelivery:
    """Delivers matched events to rule targets, with retries, backoff and DLQ."""

    def __init__(
        self,
        *,
        clients: ClientFactory,
        invoke: InvokeFn,
        time_scale: float,
        emit_metric: Callable[..., None] | None = None,
        workers: int = WORKERS,
    ) -> None:
        self._clients = clients
        self._invoke = invoke
        self._time_scale = time_scale
        self._emit = emit_metric
        self._workers = workers
        self._heap: list[Delivery] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._in_flight = 0

    def start(self) -> None:
        events_reach.install_rule_dispatcher(self.dispatch)
        self.start_workers()

    def start_workers(self) -> None:
        """Deliver what is enqueued (start() also routes moto's PutEvents here)."""
        for n in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"eventbridge-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        events_reach.uninstall_rule_dispatcher()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def pending(self) -> int:
        """Deliveries queued or in progress (retries included)."""
        with self._cond:
            return len(self._heap) + self._in_flight

    # -- called by moto inside PutEvents: match and enqueue only ----------------------------
    def dispatch(self, rule: Any, event: dict[str, Any]) -> None:
        snapshot = events_reach.rule_snapshot(rule)
        if snapshot["state"] != "ENABLED":
            return
        normalized = normalize_event(event)
        if not events_reach.rule_matches(rule, normalized):
            return
        ours = [t for t in snapshot["targets"] if t["Arn"].split(":")[2] in DELIVERED_HERE]
        for target in ours:
            self.enqueue(snapshot["arn"], snapshot["name"], target, normalized)
        others = [t for t in snapshot["targets"] if t not in ours]
        if others:
            try:
                events_reach.deliver_with_moto(rule, event, others)
            except Exception:  # one target kind must not fail the whole PutEvents
                logger.exception("moto's delivery to %s failed", [t["Arn"] for t in others])

    def enqueue(
        self, rule_arn: str, rule_name: str, target: dict[str, Any], event: dict[str, Any]
    ) -> None:
        """Hand one matched event to one target's delivery (first attempt now)."""
        now = time.time()
        with self._cond:
            heapq.heappush(
                self._heap, Delivery(now, next(self._seq), rule_arn, rule_name, target, event, now)
            )
            self._cond.notify_all()

    # -- workers ----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._heap or self._heap[0].due > time.time()):
                    timeout = self._heap[0].due - time.time() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopping:
                    return
                delivery = heapq.heappop(self._heap)
                self._in_flight += 1
            try:
                self._attempt(delivery)
            except Exception:
                logger.exception("EventBridge delivery to %s crashed", delivery.target.get("Arn"))
            finally:
                with self._cond:
                    self._in_flight -= 1

    def _attempt(self, delivery: Delivery) -> None:
        self._metric("Invocations", delivery)
        try:
            self._deliver(delivery.target, delivery.event, delivery.rule_arn)
            return
        except DeliveryError as exc:
            error = exc
        except Exception as exc:
            error = classify_client_error(exc)
        try:
            step, value = next_step(delivery, error, time.time(), self._time_scale)
        except ValueError as exc:  # a RetryPolicy PutTargets should have refused
            error, step, value = (
                DeliveryError("INVALID_PARAMETER", str(exc), retryable=False),
                "dlq",
                None,
            )
        if step == "retry":
            delivery.retries += 1
            delivery.due = time.time() + float(value or 0)
            self._metric("RetryInvocationAttempts", delivery)
            with self._cond:
                heapq.heappush(self._heap, delivery)
                self._cond.notify_all()
            return
        self._dead_letter(delivery, error, value if isinstance(value, str) else None)

    def _deliver(self, target: dict[str, Any], event: dict[str, Any], rule_arn: str) -> None:
        arn = target["Arn"]
        body = target_input(target, event)
        service = arn.split(":")[2]
        if service == "lambda":
            # Lambda's async queue owns retries of function errors from here on. The
            # function's resource policy must let events.amazonaws.com in from this rule.
            self._invoke(arn, body.encode(), invocation_type="Event", source_arn=rule_arn)
        elif service == "sqs":
            sqs = self._clients("sqs")
            url = sqs.get_queue_url(
                QueueName=arn_resource(arn), QueueOwnerAWSAccountId=arn_account(arn)
            )["QueueUrl"]
            if not queue_allows(
                sqs, url, PRINCIPAL, source_arn=rule_arn, source_account=arn_account(rule_arn)
            ):
                raise DeliveryError(
                    "NO_PERMISSIONS",
                    f"the policy of {arn} does not allow {PRINCIPAL} sqs:SendMessage"
                    f" from {rule_arn}",
                    retryable=False,
                )
            args: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            if group:
                args["MessageGroupId"] = group
            sqs.send_message(**args)
        elif service == "sns":
            self._clients("sns").publish(TopicArn=arn, Message=body)
        elif service == "states":
            self._clients("stepfunctions").start_execution(stateMachineArn=arn, input=body)
        else:
            raise DeliveryError(
                "INVALID_PARAMETER",
                f"target type of {arn} is not supported locally",
                retryable=False,
            )

    def _dead_letter(self, delivery: Delivery, error: DeliveryError, exhausted: str | None) -> None:
        self._metric("FailedInvocations", delivery)
        dlq = (delivery.target.get("DeadLetterConfig") or {}).get("Arn")
        logger.info(
            "rule %s target %s: %s after %d retries -> %s",
            delivery.rule_name,
            delivery.target.get("Id"),
            error.code,
            delivery.retries,
            dlq or "dropped",
        )
        if not dlq:
            return
        attributes = {
            "RULE_ARN": delivery.rule_arn,
            "TARGET_ARN": delivery.target["Arn"],
            "ERROR_CODE": error.code,
            "ERROR_MESSAGE": error.message[:1000] or error.code,
            "RETRY_ATTEMPTS": str(delivery.retries),
        }
        if exhausted:
            attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
        try:
            sqs = self._clients("sqs")
            url = sqs.get_queue_url(
                QueueName=arn_resource(dlq), QueueOwnerAWSAccountId=arn_account(dlq)
            )["QueueUrl"]
            if not queue_allows(
                sqs,
                url,
                PRINCIPAL,
                source_arn=delivery.rule_arn,
                source_account=arn_account(delivery.rule_arn),
            ):
                # AWS drops the event then (InvocationsFailedToBeSentToDlq): it is lost.
                logger.error(
                    "EventBridge may not write to the DLQ %s (its policy does not allow %s from"
                    " %s): event dropped",
                    dlq,
                    PRINCIPAL,
                    delivery.rule_arn,
                )
                self._metric("InvocationsFailedToBeSentToDlq", delivery)
                return
            sqs.send_message(
                QueueUrl=url,
                MessageBody=json.dumps(delivery.event),
                MessageAttributes={
                    k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
                },
            )
            self._metric("InvocationsSentToDlq", delivery)
        except Exception as exc:
            logger.error("EventBridge DLQ %s unreachable: %s", dlq, exc)
            self._metric("InvocationsFailedToBeSentToDlq", delivery)

    def _metric(self, name: str, delivery: Delivery) -> None:
        if self._emit is None:
            return
        try:
            self._emit("AWS/Events", name, 1.0, {"RuleName": delivery.rule_name})
        except Exception:  # metrics never break delivery
            logger.exception("AWS/Events metric %s failed", name)
