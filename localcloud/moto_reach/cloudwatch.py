"""Reaches into moto's CloudWatch backend (moto.cloudwatch, pinned ==5.2.5): metric data,
alarms and their state changes, DescribeAlarmHistory.

tests/unit/localcloud/test_alarm_moto.py fails loudly when a moto upgrade moves one of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from localcloud.moto_reach import sqs

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


# ---- CloudWatch ------------------------------------------------------------------------
def cloudwatch_backend(account_id: str, region: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account_id][region]


def cloudwatch_backends_iter() -> Iterator[tuple[str, str, Any]]:
    from moto.cloudwatch.models import cloudwatch_backends

    for account_id, regions in list(cloudwatch_backends.items()):
        for region, backend in list(regions.items()):
            yield account_id, region, backend


def put_metric_data(
    account_id: str, region: str, namespace: str, data: list[dict[str, Any]]
) -> None:
    """PutMetricData straight into moto's backend (as the service publishing the metric)."""
    cloudwatch_backend(account_id, region).put_metric_data(namespace, data)


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
    """Install the CloudWatch patches and the SQS counters once per process (idempotent)."""
    global _patched
    with _patch_lock:
        if _patched:
            return
        _patch_cloudwatch()
        sqs.patch_counters()
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
