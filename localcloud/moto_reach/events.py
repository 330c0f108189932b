"""Reaches into moto's EventBridge backend (moto.events, pinned ==5.2.5): rule fan-out,
pattern matching, input transformation, moto's own target delivery.

tests/unit/localcloud/test_es_moto_reach.py fails loudly when a moto upgrade moves one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Called with (rule, event) for each rule of the bus an event was put on.
RuleDispatcher = Callable[[Any, dict[str, Any]], None]

_original_send_to_targets: Callable[..., None] | None = None


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


def deliver_with_moto(rule: Any, event: dict[str, Any], targets: list[dict[str, Any]]) -> None:
    """moto's own inline delivery, for target kinds the local cloud leaves to it
    (CloudWatch Logs groups, archives, other event buses, API destinations)."""
    import copy

    if _original_send_to_targets is None or not targets:
        return
    view = copy.copy(rule)
    view.targets = targets
    _original_send_to_targets(view, event)
