"""CloudWatch's alarm rules as pure functions: statistics, comparison, missing data.

Hand-written: no library models CloudWatch alarm semantics. Every rule follows
the CloudWatch user guide ("Configuring how CloudWatch alarms treat missing
data", "Avoiding premature transitions to alarm state"); the two worked tables
there are the unit test fixture (tests/unit/localcloud/test_alarm_rules.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from localcloud.errors import LocalCloudError

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)

TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")

# AWS publishes no formula for the evaluation range, only one example: N=3 -> 5
# datapoints retrieved. N + 2 reproduces it; see evaluation_range().
EXTRA_RANGE = 2

OPERATORS = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


class AlarmRuleError(LocalCloudError, ValueError):
    """An alarm setting the evaluator cannot evaluate; the message names the field."""


@dataclass(frozen=True)
class Sample:
    """One datapoint as stored: a raw value, or a statistic set (PutMetricData StatisticValues)."""

    minimum: float
    maximum: float
    total: float
    count: float
    values: tuple[float, ...] = ()  # raw values, for percentiles; empty for a statistic set

    @classmethod
    def of(cls, value: float) -> Sample:
        return cls(value, value, value, 1.0, (value,))


def evaluation_range(evaluation_periods: int) -> int:
    """How many periods are retrieved when data is missing (the guide's "evaluation range")."""
    return evaluation_periods + EXTRA_RANGE


def statistic(samples: Sequence[Sample], stat: str) -> float | None:
    """The value of `stat` (a statistic or an ExtendedStatistic pNN[.NN]) over one period."""
    if not samples:
        return None
    if stat == "SampleCount":
        return sum(s.count for s in samples)
    if stat == "Sum":
        return sum(s.total for s in samples)
    if stat == "Average":
        count = sum(s.count for s in samples)
        return sum(s.total for s in samples) / count if count else None
    if stat == "Minimum":
        return min(s.minimum for s in samples)
    if stat == "Maximum":
        return max(s.maximum for s in samples)
    if stat.startswith("p"):
        return percentile([v for s in samples for v in s.values], _percent(stat))
    raise AlarmRuleError(
        f"statistic {stat!r} is not supported: use one of {', '.join(STATISTICS)} or pNN[.NN]"
    )


def _percent(stat: str) -> float:
    try:
        value = float(stat[1:])
    except ValueError:
        raise AlarmRuleError(f"ExtendedStatistic {stat!r} is not pNN[.NN]") from None
    if not 0 <= value <= 100:
        raise AlarmRuleError(f"ExtendedStatistic {stat!r} must be between p0 and p100")
    return value


def percentile(values: Sequence[float], percent: float) -> float | None:
    """Nearest-rank percentile; None when only statistic sets (no raw values) were stored."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def breaches(value: float, operator: str, threshold: float) -> bool:
    try:
        compare = OPERATORS[operator]
    except KeyError:
        raise AlarmRuleError(
            f"ComparisonOperator {operator!r} is not supported: use one of {', '.join(OPERATORS)}"
        ) from None
    return compare(value, threshold)


@dataclass(frozen=True)
class Decision:
    state: str  # one of STATES; equals `current` when the rules keep the state
    reason: str
    evaluated: tuple[bool | None, ...]  # the N (or fewer) datapoints the decision used
    premature: bool = False


def decide(
    slots: Sequence[bool | None],
    *,
    evaluation_periods: int,
    datapoints_to_alarm: int | None,
    treat_missing_data: str | None,
    current: str,
) -> Decision:
    """The next state from the evaluation range, oldest slot first.

    A slot is True (breaching), False (not breaching) or None (missing).
    """
    n = evaluation_periods
    m = datapoints_to_alarm or n
    treat = treat_missing_data or "missing"
    if n < 1:
        raise AlarmRuleError(f"EvaluationPeriods must be >= 1, got {n}")
    if not 1 <= m <= n:
        raise AlarmRuleError(
            f"DatapointsToAlarm must be between 1 and EvaluationPeriods ({n}), got {m}"
        )
    if treat not in TREAT_MISSING:
        raise AlarmRuleError(f"TreatMissingData {treat!r} is not one of {', '.join(TREAT_MISSING)}")
    real: list[bool | None] = [s for s in slots if s is not None]
    if len(real) >= n:
        # Enough real datapoints: the most recent N decide and the treatment is not used.
        return _count(tuple(real[-n:]), m, n)

    # Fewer than N real datapoints: every real one counts, and the treatment fills
    # the rest as few times as possible.
    fill = n - len(real)
    filler: list[bool | None]
    if treat == "breaching":
        filler = [True] * fill
    elif treat == "notBreaching":
        filler = [False] * fill
    else:
        filler = [None] * fill
    evaluated: tuple[bool | None, ...] = (*real, *filler)
    if sum(1 for s in evaluated if s) >= m:
        return _count(evaluated, m, n)
    if _premature(slots, evaluated, n, m):
        if treat == "ignore":
            return Decision(current, "missing data ignored (premature alarm rule)", evaluated)
        return Decision(
            ALARM,
            f"Threshold Crossed: a breaching datapoint is {m} or more periods old and no "
            "later datapoint is within the threshold (premature alarm rule)",
            evaluated,
            premature=True,
        )
    if not real:
        if treat == "missing":
            return Decision(INSUFFICIENT_DATA, "Insufficient Data: no datapoints", evaluated)
        if treat == "ignore":
            return Decision(current, "missing data ignored", evaluated)
    return _count(evaluated, m, n)


def _count(evaluated: tuple[bool | None, ...], m: int, n: int) -> Decision:
    breaching = sum(1 for s in evaluated if s)
    state = ALARM if breaching >= m else OK
    reason = f"{breaching} out of the last {n} datapoints breaching (need {m})"
    return Decision(state, reason, evaluated)


def _premature(
    slots: Sequence[bool | None], evaluated: tuple[bool | None, ...], n: int, m: int
) -> bool:
    # A real within-threshold datapoint among those evaluated is evidence against
    # alarming early; only intermittent breaching data can trigger this rule.
    if any(s is False for s in evaluated):
        return False
    window = list(slots[-n:])
    if True not in window:
        return False
    oldest = window.index(True)
    if any(s is False for s in window[oldest + 1 :]):
        return False
    return len(window) - oldest >= m
