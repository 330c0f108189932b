"""Deployed = declared: each setting a pattern's outputs declare, compared with the cloud.

The outputs (components/outputs.py) are what the program says it deployed; chaos.preflight
reads what the cloud has. A stack whose live maxReceiveCount, visibility timeout, batch size,
retry counts, event ages, DLQ and destination wiring, billing mode, usage-plan throttle,
Step Functions Retry, subscription filters or redrive map differ from its declaration fails
here by name, whatever its experiments exercise. Some settings no fault can reach: an
EventBridge target's RetryPolicy is spent on AWS only by the target service's own throttling
or 5xx, and a usage plan's throttle only by more load than a test should send a shared API;
for those this comparison is the verdict. The experiments' budgets and attempt counts are
computed from the same live settings, so a drift shows in both places.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chaos.budgets import ASL_DEFAULT_MAX_ATTEMPTS
from policy.model import (
    EVENT_TARGET,
    FUNCTION,
    INVOKE_CONFIG,
    MAPPING,
    QUEUE,
    STATE_MACHINE,
    SUBSCRIPTION,
    TABLE,
    USAGE_PLAN,
    Resource,
    parse_json,
)

__all__ = ["DECLARED_ENVIRONMENT", "DECLARED_RULE", "Claim", "declared_claims"]

DECLARED_RULE = "declared-settings"
REDRIVE_SOURCES = "REDRIVE_SOURCES"  # functions/dlq_redriver/handler.py reads it
# Function environment variables a pattern declares in its outputs: the only ones preflight
# reads back (the rest of an environment may hold secrets and is nobody's business here).
DECLARED_ENVIRONMENT = frozenset({REDRIVE_SOURCES})
# ASL defaults of a retrier (States Language specification), besides MaxAttempts.
ASL_DEFAULT_INTERVAL, ASL_DEFAULT_BACKOFF = 1, 2.0
ABSENT = "absent"


@dataclass(frozen=True)
class Claim:
    setting: str  # output path, e.g. "queue_worker.max_receive_count"
    where: str  # what was read, e.g. "RedrivePolicy maxReceiveCount of queue q"
    declared: Any
    live: Any

    @property
    def holds(self) -> bool:
        return _same(self.declared, self.live)

    def __str__(self) -> str:
        live = ABSENT if self.live is None else repr(self.live)
        return f"{self.setting}: declared {self.declared!r}, live {self.where} = {live}"


def _same(declared: Any, live: Any) -> bool:
    if isinstance(declared, bool) or isinstance(live, bool):
        return bool(declared) == bool(live) if live is not None else declared in (None, False)
    if isinstance(declared, int | float) and isinstance(live, int | float | str):
        try:
            return float(declared) == float(live)
        except ValueError:
            return False
    return declared == live


class _Live:
    """The live resources, indexed the ways the outputs name them."""

    def __init__(self, resources: list[Resource]) -> None:
        self.resources = resources
        self.queues = {r.props.get("url"): r for r in resources if r.type == QUEUE}
        self.functions = {r.props.get("name"): r for r in resources if r.type == FUNCTION}
        self.mappings = {r.props.get("uuid"): r for r in resources if r.type == MAPPING}
        self.invoke_configs = {
            r.props.get("functionName"): r for r in resources if r.type == INVOKE_CONFIG
        }
        self.tables = {r.props.get("name"): r for r in resources if r.type == TABLE}
        self.state_machines = {r.props.get("arn"): r for r in resources if r.type == STATE_MACHINE}

    def queue_arn(self, url: Any) -> Any:
        queue = self.queues.get(url)
        return queue.props.get("arn") if queue is not None else f"<no queue at {url}>"

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]


def declared_claims(pattern: str, outputs: Any, resources: list[Resource]) -> list[Claim]:
    """One Claim per declared setting of `pattern` (its outputs) against the live resources."""
    if not isinstance(outputs, Mapping):
        return []
    live = _Live(resources)
    claims = list(_claims(pattern, outputs, live))
    for name, sub in sorted((outputs.get("subscribers") or {}).items()):  # FanOut
        claims.extend(_claims(f"{pattern}.subscribers.{name}", sub, live))
    return claims


def _claims(path: str, o: Mapping[str, Any], live: _Live) -> Iterator[Claim]:
    yield from _queue(path, o, live)
    yield from _mapping(path, o, live)
    yield from _async(path, o, live)
    yield from _pipeline(path, o, live)
    yield from _subscription(path, o, live)
    yield from _table(path, o, live)
    yield from _usage_plan(path, o, live)
    yield from _workflow(path, o, live)
    yield from _redriver(path, o, live)


def _redrive(queue: Resource | None) -> dict[str, Any]:
    doc = parse_json(queue.props.get("redrivePolicy")) if queue is not None else None
    return doc if isinstance(doc, dict) else {}


def _queue_claims(
    path: str, key: str, url: Any, o: Mapping[str, Any], dlq_key: str, live: _Live
) -> Iterator[Claim]:
    queue = live.queues.get(url)
    name = queue.props.get("name") if queue is not None else url
    redrive = _redrive(queue)
    if o.get("max_receive_count") is not None:
        yield Claim(
            f"{path}.max_receive_count",
            f"RedrivePolicy maxReceiveCount of queue {name}",
            o["max_receive_count"],
            redrive.get("maxReceiveCount"),
        )
    if key == "queue_url" and o.get("visibility_timeout") is not None:
        yield Claim(
            f"{path}.visibility_timeout",
            f"VisibilityTimeout of queue {name}",
            o["visibility_timeout"],
            queue.props.get("visibilityTimeoutSeconds") if queue is not None else None,
        )
    if o.get(dlq_key):
        yield Claim(
            f"{path}.{dlq_key}",
            f"RedrivePolicy deadLetterTargetArn of queue {name}",
            live.queue_arn(o[dlq_key]),
            redrive.get("deadLetterTargetArn"),
        )


def _queue(path: str, o: Mapping[str, Any], live: _Live) -> Iterator[Claim]:
    if o.get("queue_url"):  # QueueWorker, a FanOut subscriber
        yield from _queue_claims(path, "queue_url", o["queue_url"], o, "dlq_url", live)
    elif o.get("buffer_queue_url"):  # the flow-controlled EventPipeline's buffer
        yield from _queue_claims(
            path, "buffer_queue_url", o["buffer_queue_url"], o, "delivery_dlq_url", live
        )


def _mapping(path: str, o: Mapping[str, Any], live: _Live) -> Iterator[Claim]:
    uuid = o.get("mapping_uuid")
    if not uuid:
        return
    mapping = live.mappings.get(uuid)
    props: Mapping[str, Any] = mapping.props if mapping is not None else {}
    where = f"mapping {uuid}"
    if o.get("batch_size") is not None:
        yield Claim(
            f"{path}.batch_size", f"BatchSize of {where}", o["batch_size"], props.get("batchSize")
        )
    if not o.get("stream_arn"):
        return
    for key, prop, label in (
        ("maximum_retry_attempts", "maximumRetryAttempts", "MaximumRetryAttempts"),
        ("maximum_record_age", "maximumRecordAgeInSeconds", "MaximumRecordAgeInSeconds"),
        ("bisect_on_error", "bisectBatchOnFunctionError", "BisectBatchOnFunctionError"),
    ):
        if key in o:
            yield Claim(f"{path}.{key}", f"{label} of {where}", o[key], props.get(prop))
    if "on_failure_queue_url" in o:
        destination = (props.get("destinationConfig") or {}).get("onFailure") or {}
        yield Claim(
            f"{path}.on_failure_queue_url",
            f"DestinationConfig OnFailure of {where}",
            live.queue_arn(o["on_failure_queue_url"]) if o["on_failure_queue_url"] else None,
            destination.get("destinationArn"),
        )


def _async_function(o: Mapping[str, Any]) -> tuple[str, str | None]:
    """(output key, function name) of the function a pattern invokes asynchronously."""
    for key in ("function", "delivery"):
        fn = o.get(key)
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            return key, fn["name"]
    return "", None


def _async(path: str, o: Mapping[str, Any], live: _Live) -> Iterator[Claim]:
    if o.get("mapping_uuid") or o.get("queue_url") or o.get("buffer_queue_url"):
        return  # a mapping invokes it: no async config to declare
    key, name = _async_function(o)
    if name is None:
        return
    config = live.invoke_configs.get(name)
    props: Mapping[str, Any] = config.props if config is not None else {}
    where = f"event invoke config of {name}"
    for out, prop, label in (
        ("maximum_retry_attempts", "maximumRetryAttempts", "MaximumRetryAttempts"),
        ("maximum_event_age", "maximumEventAgeInSeconds", "MaximumEventAgeInSeconds"),
    ):
        if o.get(out) is not None:
            yield Claim(f"{path}.{out}", f"{label} of {where}", o[out], props.get(prop))
    if "on_failure_queue_url" in o:
        destination = (props.get("destinationConfig") or {}).get("onFailure") or {}
        url = o["on_failure_queue_url"]
        yield Claim(
            f"{path}.on_failure_queue_url",
            f"DestinationConfig OnFailure of {where}",
            live.queue_arn(url) if url else None,
            destination.get("destination"),
        )
    dlq_key = "dlq_url" if key == "function" else "delivery_dlq_url"
    # The function's own DLQ: SNS-invoked functions (topic_arn) and the direct delivery.
    if dlq_key in o and ("topic_arn" in o or key == "delivery"):
        fn = live.functions.get(name)
        url = o.get(dlq_key)
        yield Claim(
            f"{path}.{dlq_key}",
            f"DeadLetterConfig of function {name}",
            live.queue_arn(url) if url else None,
            ((fn.props.get("deadLetterConfig") or {}) if fn is not None else {}).get("targetArn"),
        )


def _pipeline(path: str, o: Mapping[str, Any], live: _Live) -> Iterator[Claim]:
    rule = o.get("rule_name")
    if not rule:
        return
    targets = [t for t in live.of_type(EVENT_TARGET) if t.props.get("rule") == rule]
    if not targets:
        yield Claim(f"{path}.rule_name", f"targets of rule {rule}", "one target", None)
    for target in targets:
        where = f"rule {rule} target {target.props.get('targetId')}"
        retry = target.props.get("retryPolicy") or {}
        for out, prop, label in (
            ("target_maximum_retry_attempts", "maximumRetryAttempts", "MaximumRetryAttempts"),
            ("target_maximum_event_age", "maximumEventAgeInSeconds", "MaximumEventAgeInSeconds"),
        ):
            if o.get(out) is not None:
                yield Claim(
                    f"{path}.{out}", f"RetryPolicy {label} of {where}", o[out], retry.get(prop)
                )
        if o.get("target_dlq_url"):
            yield Claim(
                f"{path}.target_dlq_url",
                f"DeadLetterConfig of {where}",
                live.queue_arn(o["target_dlq_url"]),
                (target.props.get("deadLetterConfig") or {}).get("arn"),
            )


def _subscription(path: str, o: Mapping[str, Any], live: _Live) -> Iterator[Claim]:
    if "filter_policy" not in o and "subscription_dlq_url" not in o:
        return
    if o.get("queue_url"):
        endpoint = live.queue_arn(o["queue_url"])  # FanOut: the topic delivers to the queue
    else:
        endpoint = (
            (o.get("function") or {}) if isinstance(o.get("function"), Mapping) else {}
        ).get("arn")
    subs = [s for s in live.of_type(SUBSCRIPTION) if s.props.get("endpoint") == endpoint]
    if not subs:
        yield Claim(f"{path}.subscription", f"SNS subscription of {endpoint}", "one", None)
        return
    for sub in subs:
        where = f"subscription {str(sub.props.get('arn')).rsplit(':', 1)[-1]}"
        if "filter_policy" in o:
            yield Claim(
                f"{path}.filter_policy",
                f"FilterPolicy of {where}",
                o["filter_policy"] or None,
                parse_json(sub.props.get("filterPolicy")),
            )
        if o.get("subscription_dlq_url"):
            redrive = parse_json(sub.props.get("redrivePolicy")) or {}
            yield Claim(
                f"{path}.subscription_dlq_url",
                f"RedrivePolicy deadLetterTargetArn of {where}",
                live.queue_arn(o["subscription_dlq_url"]),
                redrive.get("deadLetterTargetArn") if isinstance(redrive, dict) else None,
            )


def _table(path: str, o: Mapping[str, Any], live: _Live) -> Iterator[Claim]:
    if o.get("table_name") and o.get("billing_mode"):
        table = live.tables.get(o["table_name"])
        yield Claim(
            f"{path}.billing_mode",
            f"BillingMode of table {o['table_name']}",
            o["billing_mode"],
            table.props.get("billingMode") if table is not None else None,
        )


def _usage_plan(path: str, o: Mapping[str, Any], live: _Live) -> Iterator[Claim]:
    api_id = o.get("api_id")
    if not api_id or (o.get("rate_limit") is None and o.get("burst_limit") is None):
        return
    plans = [p for p in live.of_type(USAGE_PLAN) if p.props.get("apiId") == api_id]
    if not plans:
        yield Claim(f"{path}.rate_limit", f"usage plans of API {api_id}", o.get("rate_limit"), None)
    for plan in plans:
        throttle = plan.props.get("throttleSettings") or {}
        for out, prop in (("rate_limit", "rateLimit"), ("burst_limit", "burstLimit")):
            if o.get(out) is not None:
                yield Claim(
                    f"{path}.{out}",
                    f"throttle {prop} of usage plan {plan.props.get('id')}",
                    o[out],
                    throttle.get(prop),
                )


def _workflow(path: str, o: Mapping[str, Any], live: _Live) -> Iterator[Claim]:
    arn = o.get("state_machine_arn")
    if not arn or o.get("retry_max_attempts") is None:
        return
    machine = live.state_machines.get(arn)
    doc = parse_json(machine.props.get("definition")) if machine is not None else None
    step = ((o.get("step") or {}) if isinstance(o.get("step"), Mapping) else {}).get("arn")
    retrier = _catch_all_retrier(doc, step)
    where = f"the States.ALL Retry of the task running {step} in {arn}"
    for out, key, default in (
        ("retry_max_attempts", "MaxAttempts", ASL_DEFAULT_MAX_ATTEMPTS),
        ("retry_interval", "IntervalSeconds", ASL_DEFAULT_INTERVAL),
        ("retry_backoff_rate", "BackoffRate", ASL_DEFAULT_BACKOFF),
    ):
        if o.get(out) is not None:
            value = None if retrier is None else retrier.get(key, default)
            yield Claim(f"{path}.{out}", f"{key} of {where}", o[out], value)


def _catch_all_retrier(doc: Any, step_arn: Any) -> dict[str, Any] | None:
    for state in ((doc or {}).get("States") or {}).values() if isinstance(doc, dict) else ():
        runs = json.dumps([state.get("Resource"), state.get("Parameters")])
        if state.get("Type") != "Task" or not step_arn or step_arn not in runs:
            continue
        for retrier in state.get("Retry") or []:
            if "States.ALL" in (retrier.get("ErrorEquals") or []):
                return retrier
    return None


def _redriver(path: str, o: Mapping[str, Any], live: _Live) -> Iterator[Claim]:
    if "sources" not in o:
        return
    _, name = _async_function(o)
    fn = live.functions.get(name)
    env = ((fn.props.get("environment") or {}).get("variables") or {}) if fn is not None else {}
    yield Claim(
        f"{path}.sources",
        f"{REDRIVE_SOURCES} of function {name}",
        o["sources"],
        parse_json(env.get(REDRIVE_SOURCES)),
    )
