"""CloudWatch alarm rules: the two worked tables of the CloudWatch user guide, row by row."""

from __future__ import annotations

import pytest

from localcloud.cloudwatch.rules import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmRuleError,
    Sample,
    decide,
    evaluation_range,
    percentile,
    statistic,
)

RETAIN = "retain"
SYMBOL = {"0": False, "X": True, "-": None}

# (datapoints oldest first, N, M, {treatment: expected})
GUIDE_ROWS = [
    # Table 1: EvaluationPeriods 3, DatapointsToAlarm 3, evaluation range 5.
    ("0-X-X", 3, 3, {"missing": OK, "ignore": OK, "breaching": OK, "notBreaching": OK}),
    ("0----", 3, 3, {"missing": OK, "ignore": OK, "breaching": OK, "notBreaching": OK}),
    (
        "-----",
        3,
        3,
        {"missing": INSUFFICIENT_DATA, "ignore": RETAIN, "breaching": ALARM, "notBreaching": OK},
    ),
    ("0XX-X", 3, 3, {"missing": ALARM, "ignore": ALARM, "breaching": ALARM, "notBreaching": ALARM}),
    ("--X--", 3, 3, {"missing": ALARM, "ignore": RETAIN, "breaching": ALARM, "notBreaching": OK}),
    # Table 2: 2 out of 3.
    ("0-X-X", 3, 2, {"missing": ALARM, "ignore": ALARM, "breaching": ALARM, "notBreaching": ALARM}),
    ("00X0X", 3, 2, {"missing": ALARM, "ignore": ALARM, "breaching": ALARM, "notBreaching": ALARM}),
    ("0-X--", 3, 2, {"missing": OK, "ignore": OK, "breaching": ALARM, "notBreaching": OK}),
    ("----0", 3, 2, {"missing": OK, "ignore": OK, "breaching": ALARM, "notBreaching": OK}),
    ("---X-", 3, 2, {"missing": ALARM, "ignore": RETAIN, "breaching": ALARM, "notBreaching": OK}),
]


@pytest.mark.parametrize("current", [OK, ALARM, INSUFFICIENT_DATA])
@pytest.mark.parametrize(("points", "n", "m", "expected"), GUIDE_ROWS)
def test_guide_tables(points: str, n: int, m: int, expected: dict[str, str], current: str) -> None:
    slots = [SYMBOL[c] for c in points]
    assert len(slots) == evaluation_range(n)
    for treat, want in expected.items():
        got = decide(
            slots,
            evaluation_periods=n,
            datapoints_to_alarm=m,
            treat_missing_data=treat,
            current=current,
        ).state
        assert got == (current if want == RETAIN else want), (points, n, m, treat)


def test_breaching_alarms_once_the_good_point_leaves_the_range() -> None:
    # The guide: "0 - - - -" stays OK with breaching, then ALARMs once the 0 leaves the range.
    decision = decide(
        [None] * 5,
        evaluation_periods=3,
        datapoints_to_alarm=3,
        treat_missing_data="breaching",
        current=OK,
    )
    assert decision.state == ALARM


def test_statistics_over_raw_values_and_statistic_sets() -> None:
    samples = [Sample.of(1.0), Sample.of(3.0), Sample(0.5, 9.0, 12.0, 4.0)]
    assert statistic(samples, "Maximum") == 9.0
    assert statistic(samples, "Minimum") == 0.5
    assert statistic(samples, "Sum") == 16.0
    assert statistic(samples, "SampleCount") == 6.0
    assert statistic(samples, "Average") == pytest.approx(16.0 / 6.0)
    assert statistic([], "Maximum") is None
    assert percentile([float(v) for v in range(1, 101)], 99) == 99.0
    assert statistic([Sample.of(float(v)) for v in range(1, 11)], "p50") == 5.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"evaluation_periods": 0}, "EvaluationPeriods"),
        ({"datapoints_to_alarm": 4}, "DatapointsToAlarm"),
        ({"treat_missing_data": "sometimes"}, "TreatMissingData"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, object], field: str) -> None:
    settings: dict[str, object] = {
        "evaluation_periods": 3,
        "datapoints_to_alarm": 3,
        "treat_missing_data": "missing",
        "current": OK,
    }
    settings.update(kwargs)
    with pytest.raises(AlarmRuleError, match=field):
        decide([None] * 5, **settings)  # type: ignore[arg-type]
    with pytest.raises(AlarmRuleError, match="statistic"):
        statistic([Sample.of(1.0)], "Median")
