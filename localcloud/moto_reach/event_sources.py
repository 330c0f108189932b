"""Reaches into moto 5.2.5 internals for the event sources (part of localcloud.moto_reach).

Each function here touches a moto private (a backend dict, a model attribute,
a method swapped at class level); tests/local/test_moto_reach.py and
tests/unit/localcloud/test_es_moto_reach.py fail loudly when an
upgrade moves one of them. moto is pinned ==5.2.5 for this reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

logger = logging.getLogger(__name__)

# --- event sources ---

# Called with (rule, event) for each rule of the bus an event was put on.
RuleDispatcher = Callable[[Any, dict[str, Any]], None]

_original_send_to_targets: Callable[..., None] | None = None


class _NoSendTimeMappings:
    """A data descriptor that hides moto's per-queue/per-stream mapping dict.

    moto invokes mapped functions inside SendMessage / PutRecord (and answers 500
    when that fails). Lambda polls instead, so the pollers in
    localcloud.event_sources own delivery; writes land in a throwaway dict and
    reads see none. The mappings themselves stay in the Lambda backend.
    """

    def __get__(self, obj: object, objtype: type | None = None) -> dict[str, Any]:
        return {}

    def __set__(self, obj: object, value: object) -> None:
        # moto's __init__ assigns {} here; nothing to keep.
        return None


def disable_send_time_mapping_invocation() -> None:
    """Stop moto from invoking SQS/Kinesis-mapped functions at send time. Idempotent."""
    from moto.kinesis.models import Stream
    from moto.sqs.models import Queue

    for cls in (Queue, Stream):
        if not isinstance(cls.__dict__.get("lambda_event_source_mappings"), _NoSendTimeMappings):
            cls.lambda_event_source_mappings = _NoSendTimeMappings()  # type: ignore[assignment]


def list_event_source_mappings(
    account_id: str = DEFAULT_ACCOUNT_ID, region: str = "us-east-1"
) -> list[dict[str, Any]]:
    """Every mapping in moto's Lambda backend, as GetEventSourceMapping would answer it."""
    from moto.awslambda.models import lambda_backends

    backend = lambda_backends[account_id][region]
    # Copy first: the API thread may add or remove mappings while we read.
    mappings = list(backend._event_source_mappings.values())
    return [m.get_configuration() for m in mappings]


def install_rule_dispatcher(dispatcher: RuleDispatcher) -> None:
    """Route every put event's rule fan-out to `dispatcher` instead of moto's targets.

    moto delivers to SQS/logs inline and fails the whole PutEvents with HTTP 500
    for Lambda/SNS targets; EventBridge accepts the event and delivers
    asynchronously with a retry policy. moto still builds the event and calls
    this per rule, inside the PutEvents request: the dispatcher must only enqueue.
    """
    global _original_send_to_targets
    from moto.events.models import Rule

    if _original_send_to_targets is None:
        _original_send_to_targets = Rule.send_to_targets

    def send_to_targets(
        self: Any, original_event: dict[str, Any], transform_input: bool = True
    ) -> None:
        dispatcher(self, original_event)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def uninstall_rule_dispatcher() -> None:
    """Give moto its own target delivery back (used when a cloud stops)."""
    global _original_send_to_targets
    from moto.events.models import Rule

    if _original_send_to_targets is not None:
        Rule.send_to_targets = _original_send_to_targets  # type: ignore[method-assign]
        _original_send_to_targets = None


def rule_matches(rule: Any, event: dict[str, Any]) -> bool:
    """moto's own EventBridge pattern matcher (prefix, anything-but, numeric, exists, $or...)."""
    return bool(rule.event_pattern.matches_event(event))


def rule_snapshot(rule: Any) -> dict[str, Any]:
    """What delivery needs from a moto Rule, copied so later PutTargets do not race it."""
    import copy

    return {
        "arn": rule.arn,
        "name": rule.name,
        "state": rule.state,
        "event_bus_name": rule.event_bus_name,
        "targets": copy.deepcopy(list(rule.targets)),
    }


def transform_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """moto's InputTransformer (InputPathsMap + InputTemplate with <placeholders>)."""
    from moto.events.utils import EventTemplateParser

    transformer = target["InputTransformer"]
    # moto's parser reads ingestion-time for <aws.events.event.ingestion-time>.
    return EventTemplateParser.parse(
        input_template=transformer.get("InputTemplate"),
        input_paths_map=transformer.get("InputPathsMap", {}),
        event={"ingestion-time": event.get("time"), **event},
    )


def speed_up_sqs_retention_check() -> None:
    """moto checks retention per received message via get_queue_attributes(), which computes
    every attribute (message counts included): O(queue length) per message, 0.6 s per
    ReceiveMessage on a 500-message queue. Read the one attribute instead. Idempotent."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend.is_message_valid_based_on_retention_period, "_localcloud", False):
        return

    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    is_message_valid_based_on_retention_period._localcloud = True  # type: ignore[attr-defined]
    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


def speed_up_sqs_visibility_checks() -> None:
    """moto's Message.visible/.delayed read the clock through datetime conversions, and
    SendMessage evaluates them for every message in the queue (queue.attributes counts
    them): a cheaper clock with the same value (epoch milliseconds). Idempotent."""
    import time

    from moto.sqs.models import Message

    if getattr(Message, "_localcloud_fast_clock", False):
        return

    def visible(self: Any) -> bool:
        return time.time() * 1000 > self.visible_at

    def delayed(self: Any) -> bool:
        return time.time() * 1000 < self.delayed_until

    Message.visible = property(visible)  # type: ignore[assignment,method-assign]
    Message.delayed = property(delayed)  # type: ignore[assignment,method-assign]
    Message._localcloud_fast_clock = True  # type: ignore[attr-defined]


def function_timeout(name_or_arn: str, account_id: str, region: str) -> int | None:
    """A function's configured Timeout (seconds), or None if moto has no such function."""
    from moto.awslambda.models import lambda_backends

    try:
        return int(lambda_backends[account_id][region].get_function(name_or_arn).timeout)
    except Exception:  # moto raises several "not found" types
        return None


def queue_visibility_timeout(queue_arn: str, account_id: str, region: str) -> int | None:
    """The VisibilityTimeout of the queue with this ARN, or None if there is none."""
    from moto.sqs.models import sqs_backends

    for queue in list(sqs_backends[account_id][region].queues.values()):
        if queue.queue_arn == queue_arn:
            return int(queue.visibility_timeout)
    return None


def stored_mapping(uuid: str, account_id: str, region: str) -> dict[str, Any] | None:
    """GetEventSourceMapping's answer for `uuid` from moto's backend, or None."""
    from moto.awslambda.models import lambda_backends

    mapping = lambda_backends[account_id][region]._event_source_mappings.get(uuid)
    return None if mapping is None else mapping.get_configuration()


def deliver_with_moto(rule: Any, event: dict[str, Any], targets: list[dict[str, Any]]) -> None:
    """moto's own inline delivery, for target kinds the local cloud leaves to it
    (CloudWatch Logs groups, archives, other event buses, API destinations)."""
    import copy

    if _original_send_to_targets is None or not targets:
        return
    view = copy.copy(rule)
    view.targets = targets
    _original_send_to_targets(view, event)
