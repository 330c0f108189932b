"""Every reach into moto internals made by metrics, alarms, API Gateway and DynamoDB capacity.

Part of the localcloud.moto_reach package, so a moto upgrade breaks here,
loudly, and nowhere else: moto is pinned ==5.2.5 and
tests/unit/localcloud/test_alarm_moto.py covers each function.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
INITIAL_REASON = "Unchecked: Initial alarm creation"

# (alarm, old_state, old_reason) after every state change, whoever made it
# (the evaluator or SetAlarmState); (alarm, created) after every PutMetricAlarm.
TransitionListener = Callable[[Any, str, str], None]
PutListener = Callable[[Any, bool], None]
_transition_listeners: list[TransitionListener] = []
_put_listeners: list[PutListener] = []
_history_handler: list[Callable[[str, str, dict[str, Any]], dict[str, Any]]] = []
_patch_lock = threading.Lock()
_patched = False

# SQS counters observed at moto's backend, so calls that bypass the HTTP API
# (event source mappings, SNS delivery) count too: (account, region, queue) -> name -> n.
_sqs_counts: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
_sqs_counts_lock = threading.Lock()


# ---- CloudWatch ------------------------------------------------------------------------
def cloudwatch_backend(account_id: str, region: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account_id][region]


def cloudwatch_backends_iter() -> Iterator[tuple[str, str, Any]]:
    from moto.cloudwatch.models import cloudwatch_backends

    for account_id, regions in list(cloudwatch_backends.items()):
        for region, backend in list(regions.items()):
            yield account_id, region, backend


def metric_data(backend: Any) -> list[Any]:
    """moto's append-only list of datapoints (MetricDatum / MetricAggregatedDatum)."""
    return backend.metric_data  # type: ignore[no-any-return]


def drop_oldest_metric_data(backend: Any, count: int) -> None:
    """Forget the `count` first-appended datapoints (retention); atomic under the GIL."""
    del backend.metric_data[:count]


def datum_fields(datum: Any) -> tuple[str, str, frozenset[tuple[str, str]], datetime, str | None]:
    """(namespace, name, dimensions, aware timestamp, unit) of one moto datapoint."""
    stamp = datum.timestamp
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if stamp.tzinfo is None:  # moto's utcnow() is naive UTC
        stamp = stamp.replace(tzinfo=UTC)
    dims = frozenset((d.name, d.value) for d in datum.dimensions)
    return datum.namespace, datum.name, dims, stamp, datum.unit


def datum_stats(datum: Any) -> tuple[float, float, float, float, tuple[float, ...]]:
    """(min, max, sum, count, raw values) of one moto datapoint."""
    if hasattr(datum, "value"):
        value = float(datum.value)
        return value, value, value, 1.0, (value,)
    return float(datum.min), float(datum.max), float(datum.sum), float(datum.sample_count), ()


def append_datum(
    backend: Any,
    namespace: str,
    name: str,
    value: float,
    dimensions: list[Any],
    timestamp: datetime,
    unit: str,
) -> None:
    """Append one datapoint sharing a prebuilt `dimensions` list (see shared_dimensions).

    The SQS sampler writes 8 datapoints per queue per second; sharing one
    Dimension list per queue instead of moto building one per datapoint keeps
    that affordable in memory.
    """
    from moto.cloudwatch.models import MetricDatum

    datum = MetricDatum(namespace, name, value, [], timestamp, unit)
    datum.dimensions = dimensions
    backend.metric_data.append(datum)


def shared_dimensions(dimensions: dict[str, str]) -> list[Any]:
    from moto.cloudwatch.models import Dimension

    return [Dimension(k, v) for k, v in dimensions.items()]


def alarms(backend: Any) -> list[Any]:
    return list(backend.alarms.values())


def alarm_account(alarm: Any) -> str:
    return str(alarm.alarm_arn.split(":")[4])


def set_alarm_state(alarm: Any, state: str, reason: str, reason_data: str) -> None:
    """Change state through moto's own path, so the transition listeners run."""
    alarm.update_state(reason, reason_data, state)


def add_transition_listener(fn: TransitionListener) -> None:
    _transition_listeners.append(fn)


def remove_transition_listener(fn: TransitionListener) -> None:
    if fn in _transition_listeners:
        _transition_listeners.remove(fn)


def add_put_listener(fn: PutListener) -> None:
    _put_listeners.append(fn)


def remove_put_listener(fn: PutListener) -> None:
    if fn in _put_listeners:
        _put_listeners.remove(fn)


def set_history_handler(fn: Callable[[str, str, dict[str, Any]], dict[str, Any]]) -> None:
    """`fn(account, region, params) -> result` answers DescribeAlarmHistory (moto has none)."""
    _history_handler[:] = [fn]


def patch_moto() -> None:
    """Install the CloudWatch and SQS patches once per process (idempotent)."""
    global _patched
    with _patch_lock:
        if _patched:
            return
        _patch_cloudwatch()
        _patch_sqs()
        _patched = True


def _patch_cloudwatch() -> None:
    from moto.cloudwatch.models import Alarm, CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow

    original_put = CloudWatchBackend.put_metric_alarm
    original_update = Alarm.update_state

    def put_metric_alarm(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = kwargs["name"] if "name" in kwargs else args[0]
        previous = self.alarms.get(name)
        alarm = original_put(self, *args, **kwargs)
        if previous is not None:
            # AWS: updating an alarm leaves its state unchanged (moto resets it to OK).
            alarm.state_value = previous.state_value
            alarm.state_reason = previous.state_reason
            alarm.state_reason_data = previous.state_reason_data
            alarm.state_updated_timestamp = previous.state_updated_timestamp
        else:
            # AWS: "the alarm state is immediately set to INSUFFICIENT_DATA" (moto: OK).
            alarm.state_value = INSUFFICIENT_DATA
            alarm.state_reason = INITIAL_REASON
            alarm.state_updated_timestamp = utcnow()
        for listener in list(_put_listeners):
            listener(alarm, previous is None)
        return alarm

    def update_state(self: Any, reason: str, reason_data: str, state_value: str) -> None:
        old_state, old_reason = self.state_value, self.state_reason
        original_update(self, reason, reason_data, state_value)
        for listener in list(_transition_listeners):
            try:
                listener(self, old_state, old_reason)
            except Exception:
                logger.exception("alarm transition listener failed for %s", self.name)

    def describe_alarm_history(self: Any) -> Any:
        if not _history_handler:
            return ActionResult({"AlarmHistoryItems": []})
        handler = _history_handler[0]
        return ActionResult(handler(self.current_account, self.region, self._get_params()))

    setattr(CloudWatchBackend, "put_metric_alarm", put_metric_alarm)  # noqa: B010
    setattr(Alarm, "update_state", update_state)  # noqa: B010
    # moto dispatches an action to the response method of the same (snake_case) name.
    setattr(CloudWatchResponse, "describe_alarm_history", describe_alarm_history)  # noqa: B010


# ---- SQS ---------------------------------------------------------------------------------
def sqs_queues() -> Iterator[tuple[str, str, Any]]:
    """(account, region, queue) for every queue in every moto SQS backend."""
    from moto.sqs.models import sqs_backends

    for account_id, regions in list(sqs_backends.items()):
        for region, backend in list(regions.items()):
            for queue in list(backend.queues.values()):
                yield account_id, region, queue


def queue_gauges(queue: Any, now_ms: float) -> dict[str, float]:
    """The AWS/SQS gauges of one queue, read from moto's queue state."""
    messages = list(queue._messages)
    visible = not_visible = delayed = 0
    oldest: float | None = None
    for message in messages:
        if message.delayed:
            delayed += 1
        elif message.visible:
            visible += 1
        else:
            not_visible += 1
        stamp = message.sent_timestamp
        if stamp is not None and (oldest is None or stamp < oldest):
            oldest = stamp
    return {
        "ApproximateNumberOfMessagesVisible": float(visible),
        "ApproximateNumberOfMessagesNotVisible": float(not_visible),
        "ApproximateNumberOfMessagesDelayed": float(delayed),
        "ApproximateAgeOfOldestMessage": max(0.0, (now_ms - oldest) / 1000.0) if oldest else 0.0,
    }


def take_sqs_counts() -> dict[tuple[str, str, str], dict[str, int]]:
    """The SQS counters since the last call, reset to zero."""
    with _sqs_counts_lock:
        taken = {key: dict(value) for key, value in _sqs_counts.items()}
        _sqs_counts.clear()
    return taken


def _count(backend: Any, queue_name: str, metric: str, n: int) -> None:
    if n <= 0:
        return
    with _sqs_counts_lock:
        _sqs_counts[(backend.account_id, backend.region_name, queue_name)][metric] += n


def _patch_sqs() -> None:
    from moto.sqs.models import SQSBackend

    original_send = SQSBackend.send_message
    original_receive = SQSBackend.receive_message
    original_delete = SQSBackend.delete_message

    def send_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        message = original_send(self, queue_name, *args, **kwargs)
        _count(self, queue_name, "NumberOfMessagesSent", 1)
        return message

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        result = original_receive(self, queue_name, *args, **kwargs)
        _count(self, queue_name, "NumberOfMessagesReceived", len(result))
        if not result:
            _count(self, queue_name, "NumberOfEmptyReceives", 1)
        return result

    def delete_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        result = original_delete(self, queue_name, *args, **kwargs)
        _count(self, queue_name, "NumberOfMessagesDeleted", 1)
        return result

    setattr(SQSBackend, "send_message", send_message)  # noqa: B010
    setattr(SQSBackend, "receive_message", receive_message)  # noqa: B010
    setattr(SQSBackend, "delete_message", delete_message)  # noqa: B010


# ---- SNS (alarm actions without a running endpoint, e.g. under mock_aws) -----------------
def sns_publish(account_id: str, region: str, topic_arn: str, subject: str, message: str) -> str:
    from moto.sns.models import sns_backends

    return str(sns_backends[account_id][region].publish(message, arn=topic_arn, subject=subject))


# ---- DynamoDB ----------------------------------------------------------------------------
def dynamodb_table(account_id: str, region: str, name: str) -> Any | None:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account_id][region].tables.get(name)


def table_capacity(table: Any) -> tuple[str, float, float]:
    """(billing mode, read units/s, write units/s) as moto stores them."""
    mode = table.billing_mode or "PROVISIONED"
    throughput = table.throughput or {}
    return (
        mode,
        float(throughput.get("ReadCapacityUnits") or 0),
        float(throughput.get("WriteCapacityUnits") or 0),
    )


def table_age(table: Any) -> float:
    """Seconds since moto created the table (moto stores naive UTC)."""
    created = table.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - created).total_seconds())


def existing_item(table: Any, key: dict[str, Any]) -> dict[str, Any] | None:
    """The stored item (wire JSON shape) with primary key `key`, or None."""
    hash_name = table.hash_key_attr
    range_name = table.range_key_attr
    if hash_name not in key:
        return None
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(key[hash_name])
    range_value = DynamoType(key[range_name]) if range_name and range_name in key else None
    try:
        item = table.get_item(hash_value, range_value)
    except Exception:  # a malformed key: moto will answer the request with its own error
        return None
    return item.to_json()["Attributes"] if item is not None else None


# ---- API Gateway -------------------------------------------------------------------------
def apigateway_backend(account_id: str, region: str) -> Any:
    from moto.apigateway.models import apigateway_backends

    return apigateway_backends[account_id][region]
