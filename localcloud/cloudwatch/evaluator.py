"""The alarm evaluator: every metric alarm, evaluated as soon as each of its periods closes.

Periods are aligned on multiples of the alarm's Period since the epoch, as
CloudWatch aggregates them. An alarm is evaluated at `boundary + grace` (grace
lets a datapoint stamped just before the boundary land) over its evaluation
range of N + 2 periods (rules.evaluation_range). Worst case from a breaching
sample to the state change, for N = M = 1:

    sample interval S (1 s for AWS/SQS) + Period + grace (0.5 s) + tick (0.1 s)

Datapoints are read from moto's CloudWatch backend (everything emitted or
PutMetricData'd) through an incremental index, and moto's list is trimmed to a
retention window so a long run does not grow without bound.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localcloud.cloudwatch import rules
from localcloud.cloudwatch.history import iso
from localcloud.moto_reach import cloudwatch as cloudwatch_reach

logger = logging.getLogger(__name__)

GRACE_SECONDS = 0.5
TICK_SECONDS = 0.1
# Datapoints older than this are forgotten (AWS keeps 15 days; a local run needs minutes).
DEFAULT_RETENTION_SECONDS = float(os.environ.get("LOCALCLOUD_METRIC_RETENTION", "1800"))

SeriesKey = tuple[str, str, frozenset[tuple[str, str]]]


def alarm_budget(
    period: float,
    *,
    evaluation_periods: int = 1,
    datapoints_to_alarm: int | None = None,
    sample_interval: float = 1.0,
    clearing: bool = False,
    grace: float = GRACE_SECONDS,
    tick: float = TICK_SECONDS,
) -> float:
    """Worst-case seconds for a local alarm to change state once its metric changes.

    To ALARM, M breaching periods must close after the first breaching sample:
        sample_interval + M * period + grace + tick
    To OK (clearing=True), the period holding the last breaching sample and the
    N - M + 1 clean periods after it must close:
        sample_interval + (N - M + 2) * period + grace + tick
    `sample_interval` is the AWS/SQS sampling interval for queue metrics; 0 for
    metrics emitted as events happen (AWS/Lambda, PutMetricData).
    """
    n = evaluation_periods
    m = datapoints_to_alarm or n
    periods = (n - m + 2) if clearing else m
    return sample_interval + periods * period + grace + tick


class MetricIndex:
    """Datapoints of one moto CloudWatch backend by series, read incrementally."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._cursor = 0
        self._series: dict[SeriesKey, list[tuple[float, str | None, Any]]] = {}

    def refresh(self) -> None:
        fresh = cloudwatch_reach.metric_data(self.backend)[self._cursor :]
        self._cursor += len(fresh)
        for datum in fresh:
            namespace, name, dims, stamp, unit = cloudwatch_reach.datum_fields(datum)
            self._series.setdefault((namespace, name, dims), []).append(
                (stamp.timestamp(), unit, datum)
            )

    def samples(
        self, key: SeriesKey, start: float, end: float, unit: str | None = None
    ) -> list[rules.Sample]:
        found = []
        for stamp, datum_unit, datum in self._series.get(key, ()):
            if start <= stamp < end and (unit is None or datum_unit == unit):
                found.append(rules.Sample(*cloudwatch_reach.datum_stats(datum)))
        return found

    def prune(self, cutoff: float) -> int:
        """Forget datapoints stamped before `cutoff` (epoch seconds), here and in moto."""
        data = cloudwatch_reach.metric_data(self.backend)
        drop = 0
        for datum in data[: self._cursor]:
            if cloudwatch_reach.datum_fields(datum)[3].timestamp() >= cutoff:
                break
            drop += 1
        if drop:
            cloudwatch_reach.drop_oldest_metric_data(self.backend, drop)
            self._cursor -= drop
        for key, points in list(self._series.items()):
            kept = [p for p in points if p[0] >= cutoff]
            if kept:
                self._series[key] = kept
            else:
                del self._series[key]
        return drop


class AlarmEvaluator:
    """Background service (start/stop) evaluating every metric alarm of every moto backend."""

    def __init__(
        self,
        *,
        lock: Any = None,
        clock: Callable[[], float] = time.time,
        grace: float = GRACE_SECONDS,
        tick: float = TICK_SECONDS,
        retention: float = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self.lock = lock if lock is not None else threading.RLock()
        self.clock = clock
        self.grace = grace
        self.tick_seconds = tick
        self.retention = retention
        self._indexes: dict[int, MetricIndex] = {}
        self._last_boundary: dict[str, float] = {}
        self._warned: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0
        self.evaluations = 0

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alarm-evaluator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick(self.clock())
            except Exception:  # one bad alarm must not stop every other alarm
                logger.exception("alarm evaluation tick failed")
            self._stop.wait(self.tick_seconds)

    def budget(self, period: float, sample_interval: float = 1.0, **kwargs: Any) -> float:
        """alarm_budget() with this evaluator's grace and tick (default: N = M = 1, to ALARM)."""
        return alarm_budget(
            period,
            sample_interval=sample_interval,
            grace=self.grace,
            tick=self.tick_seconds,
            **kwargs,
        )

    # -- one pass ------------------------------------------------------------------------
    def tick(self, now: float) -> int:
        """Evaluate every alarm whose period closed (plus grace) since its last evaluation."""
        evaluated = 0
        for _, _, backend in cloudwatch_reach.cloudwatch_backends_iter():
            index = self._indexes.setdefault(id(backend), MetricIndex(backend))
            index.refresh()
            for alarm in cloudwatch_reach.alarms(backend):
                if alarm.rule is not None:  # composite alarms: not used by the program
                    continue
                period = float(alarm.period or 0) or self._query_period(alarm)
                if not period:
                    continue
                boundary = math.floor((now - self.grace) / period) * period
                last = self._last_boundary.get(alarm.alarm_arn)
                if last is None:
                    # First sight (just created): evaluate when its first period closes.
                    self._last_boundary[alarm.alarm_arn] = boundary
                    continue
                if boundary <= last:
                    continue
                self._last_boundary[alarm.alarm_arn] = boundary
                try:
                    self.evaluate(alarm, index, boundary, now)
                except rules.AlarmRuleError as exc:  # one bad alarm must not stop the others
                    if alarm.alarm_arn not in self._warned:
                        self._warned.add(alarm.alarm_arn)
                        logger.warning("alarm %s is not evaluated: %s", alarm.name, exc)
                    continue
                evaluated += 1
            if now - self._last_prune > 30:
                with self.lock:
                    index.prune(now - max(self.retention, self._longest_window(backend)))
        if now - self._last_prune > 30:
            self._last_prune = now
        self.evaluations += evaluated
        return evaluated

    def _longest_window(self, backend: Any) -> float:
        windows = [
            float(a.period or 0) * (rules.evaluation_range(int(a.evaluation_periods)) + 1)
            for a in cloudwatch_reach.alarms(backend)
            if a.rule is None
        ]
        return max(windows, default=0.0)

    def _query_period(self, alarm: Any) -> float:
        stat = self._metric_stat(alarm)
        return float(stat.period) if stat is not None and stat.period else 0.0

    def _metric_stat(self, alarm: Any) -> Any:
        """The one MetricStat of a metric-math alarm, or None (expressions are not evaluated)."""
        returned = [q for q in alarm.metric_data_queries if q.return_data in (None, True, "true")]
        if len(returned) == 1 and returned[0].metric_stat is not None:
            return returned[0].metric_stat
        if alarm.metric_data_queries and alarm.alarm_arn not in self._warned:
            self._warned.add(alarm.alarm_arn)
            logger.warning("alarm %s: metric math is not evaluated locally", alarm.name)
        return None

    def evaluate(self, alarm: Any, index: MetricIndex, boundary: float, now: float) -> str:
        """Evaluate one alarm over the range ending at `boundary`; returns the resulting state."""
        if alarm.metric_data_queries:
            stat = self._metric_stat(alarm)
            if stat is None:
                return str(alarm.state_value)
            namespace, name = stat.metric.namespace, stat.metric.metric_name
            dims = frozenset((d.name, d.value) for d in stat.metric.dimensions)
            period, statistic, unit = float(stat.period), stat.stat, stat.unit
        else:
            namespace, name = alarm.namespace, alarm.metric_name
            dims = frozenset((d.name, d.value) for d in alarm.dimensions)
            period = float(alarm.period)
            statistic = alarm.extended_statistic or alarm.statistic
            unit = alarm.unit
        n = int(alarm.evaluation_periods)
        span = rules.evaluation_range(n)
        start = boundary - span * period
        key = (namespace, name, dims)
        values: list[float | None] = []
        low_sample = False
        for i in range(span):
            samples = index.samples(key, start + i * period, start + (i + 1) * period, unit)
            values.append(rules.statistic(samples, statistic))
            if statistic.startswith("p") and samples and i >= span - n:
                low_sample |= _low_sample(samples, statistic)
        threshold = float(alarm.threshold)
        slots = [
            None if v is None else rules.breaches(v, alarm.comparison_operator, threshold)
            for v in values
        ]
        treat = alarm.treat_missing_data
        if namespace == "AWS/DynamoDB":
            treat = "ignore"  # AWS: alarms on AWS/DynamoDB metrics always ignore missing data
        decision = rules.decide(
            slots,
            evaluation_periods=n,
            datapoints_to_alarm=alarm.datapoints_to_alarm,
            treat_missing_data=treat,
            current=alarm.state_value,
        )
        new_state = decision.state
        if low_sample and alarm.evaluate_low_sample_count_percentile == "ignore":
            new_state = alarm.state_value
        if new_state == alarm.state_value:
            return str(new_state)
        reason, data = _reason(
            alarm, values, slots, new_state, decision, statistic, period, start, boundary, now
        )
        with self.lock:
            cloudwatch_reach.set_alarm_state(alarm, new_state, reason, json.dumps(data))
        return str(new_state)


def _low_sample(samples: list[rules.Sample], statistic: str) -> bool:
    fraction = float(statistic[1:]) / 100
    count = sum(s.count for s in samples)
    if fraction >= 0.5:
        return count < 10 / max(1e-9, 1 - fraction)
    return count < 10 / max(1e-9, fraction)


WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


def _reason(
    alarm: Any,
    values: list[float | None],
    slots: list[bool | None],
    new_state: str,
    decision: rules.Decision,
    statistic: str,
    period: float,
    start: float,
    boundary: float,
    now: float,
) -> tuple[str, dict[str, Any]]:
    """AWS-style StateReason text and StateReasonData JSON."""
    points = []
    for i, value in enumerate(values):
        if value is None:
            continue
        stamp = datetime.fromtimestamp(start + i * period, UTC)
        points.append((stamp, value))
    recent = points[-int(alarm.evaluation_periods) :]
    listing = ", ".join(f"{v} ({s.strftime('%d/%m/%y %H:%M:%S')})" for s, v in recent)
    threshold = float(alarm.threshold)
    word = WORDS.get(alarm.comparison_operator, alarm.comparison_operator)
    m = int(alarm.datapoints_to_alarm or alarm.evaluation_periods)
    if new_state == rules.INSUFFICIENT_DATA:
        text = f"Insufficient Data: {len(slots)} datapoints were unknown."
    elif new_state == rules.ALARM:
        breaching = sum(1 for s in decision.evaluated if s)
        text = (
            f"Threshold Crossed: {breaching} out of the last {alarm.evaluation_periods} "
            f"datapoints [{listing}] {'was' if breaching == 1 else 'were'} {word} the threshold "
            f"({threshold}) (minimum {m} datapoint{'s' if m > 1 else ''} for "
            f"{alarm.state_value} -> ALARM transition)."
        )
    else:
        text = (
            f"Threshold Crossed: no datapoints [{listing}] meet the alarm condition: not {word} "
            f"the threshold ({threshold}) in at least {m} of the last "
            f"{alarm.evaluation_periods} periods."
        )
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": iso(datetime.fromtimestamp(now, UTC)),
        "startDate": iso(datetime.fromtimestamp(start, UTC)),
        "statistic": statistic,
        "period": int(period),
        "recentDatapoints": [v for _, v in recent],
        "threshold": threshold,
        "evaluatedDatapoints": [{"timestamp": iso(s), "value": v} for s, v in reversed(recent)],
    }
    if decision.premature:
        data["prematureAlarm"] = True
    return text, data
