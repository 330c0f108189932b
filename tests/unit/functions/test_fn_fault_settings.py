"""The fault variables' parsers: every valid value round-trips, every bad one names itself."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.faults import FaultConfigError, settings
from functions.faults.types import Latency

rates = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
millis = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(rates)
def test_any_rate_in_range_round_trips(rate: float) -> None:
    assert settings.parse_rate(settings.FAILURE_RATE, repr(rate)) == rate


@given(
    st.one_of(
        st.floats(allow_nan=True).filter(lambda x: not 0.0 <= x <= 1.0),
        st.text().filter(lambda s: _not_a_unit_float(s)),
    )
)
def test_a_bad_rate_names_the_variable_and_the_value(value) -> None:
    raw = value if isinstance(value, str) else repr(value)
    with pytest.raises(FaultConfigError) as caught:
        settings.parse_rate(settings.FAILURE_RATE, raw)
    assert caught.value.variable == settings.FAILURE_RATE
    assert caught.value.value == raw
    assert settings.FAILURE_RATE in str(caught.value) and repr(raw) in str(caught.value)


def _not_a_unit_float(s: str) -> bool:
    if s.strip() == "":
        return False  # empty means unset (0), which is valid
    try:
        x = float(s)
    except ValueError:
        return True
    return not (math.isfinite(x) and 0.0 <= x <= 1.0)


@given(millis, st.sampled_from(["ms", "s"]))
def test_fixed_latency_in_either_unit(value: float, unit: str) -> None:
    latency = settings.parse_latency(f"fixed:{value!r}{unit}")
    expected = value / 1000.0 if unit == "ms" else value
    assert latency == Latency("fixed", expected, expected)


@given(millis, millis)
def test_uniform_latency_accepts_ordered_bounds_and_rejects_reversed(a: float, b: float) -> None:
    raw = f"uniform:{a!r}ms-{b!r}ms"
    if a / 1000.0 <= b / 1000.0:  # compared in seconds, as parsed (tiny values underflow alike)
        assert settings.parse_latency(raw) == Latency("uniform", a / 1000.0, b / 1000.0)
    else:
        with pytest.raises(FaultConfigError, match="min is greater than max"):
            settings.parse_latency(raw)


@given(
    st.floats(min_value=0.001, max_value=1e5, allow_nan=False),
    st.floats(min_value=1.0, max_value=100.0, allow_nan=False),
)
def test_dist_latency_needs_p50_at_most_p99(p50: float, factor: float) -> None:
    p99 = p50 * factor
    ok = settings.parse_latency(f"dist:p50={p50!r}ms,p99={p99!r}ms")
    assert ok is not None and ok.kind == "dist"
    assert math.isclose(ok.low, p50 / 1000.0) and math.isclose(ok.high, p99 / 1000.0)
    if factor > 1.0001:
        with pytest.raises(FaultConfigError, match="p50 <= p99"):
            settings.parse_latency(f"dist:p50={p99!r}ms,p99={p50!r}ms")


@given(st.text(max_size=30))
def test_arbitrary_latency_text_parses_or_names_the_variable(raw: str) -> None:
    try:
        result = settings.parse_latency(raw)
    except FaultConfigError as exc:
        assert exc.variable == settings.LATENCY and exc.value == raw
    else:
        assert result is None or result.low >= 0.0


@pytest.mark.parametrize(
    "raw",
    [
        "250",
        "fixed:250",
        "fixed:-5ms",
        "uniform:5ms",
        "uniform:1s-",
        "dist:p50=1ms",
        "dist:p99=2ms,p50=",
        "dist:p50=0ms,p99=1ms",
        "gauss:1ms",
        "fixed:1h",
        "fixed:nanms",
        "fixed:infs",
    ],
)
def test_latency_examples_that_must_fail(raw: str) -> None:
    with pytest.raises(FaultConfigError) as caught:
        settings.parse_latency(raw)
    assert caught.value.variable == settings.LATENCY


def test_latency_examples_that_must_parse() -> None:
    assert settings.parse_latency("fixed:1.5s") == Latency("fixed", 1.5, 1.5)
    assert settings.parse_latency("uniform:10ms-2s") == Latency("uniform", 0.01, 2.0)
    assert settings.parse_latency("dist:p99=1s,p50=100ms") == Latency("dist", 0.1, 1.0)
    assert settings.parse_latency("off") is None and settings.parse_latency(None) is None


def test_throttle_lists_services_with_rates_and_resolves_aliases() -> None:
    assert settings.parse_throttle("dynamodb:0.5, eventbridge:1,sfn:0") == {
        "dynamodb": 0.5,
        "events": 1.0,
        "stepfunctions": 0.0,
    }
    for bad in ("dynamodb", "s3:0.5", "dynamodb:2", "dynamodb:0.1,dynamodb:0.2", "sqs:x"):
        with pytest.raises(FaultConfigError) as caught:
            settings.parse_throttle(bad)
        assert caught.value.variable == settings.THROTTLE and caught.value.value == bad


def test_switch_match_and_seed_reject_bad_values() -> None:
    with pytest.raises(FaultConfigError, match="FAILMODES_FAULTS='yes'"):
        settings.parse({settings.MASTER: "yes"})
    with pytest.raises(FaultConfigError, match="FAILMODES_TIMEOUT"):
        settings.parse({settings.MASTER: "on", settings.TIMEOUT: "1"})
    with pytest.raises(FaultConfigError, match="FAILMODES_MATCH"):
        settings.parse({settings.MASTER: "on", settings.MATCH: "payload.["})
    with pytest.raises(FaultConfigError, match="FAILMODES_SEED"):
        settings.parse({settings.MASTER: "on", settings.SEED: "1.5"})


def test_off_ignores_the_other_variables() -> None:
    config = settings.parse({settings.MASTER: "off", settings.FAILURE_RATE: "garbage"})
    assert config.enabled is False


def test_load_parses_once_per_distinct_environment() -> None:
    env = {settings.MASTER: "on", settings.FAILURE_RATE: "0.25"}
    first = settings.load(env)
    assert settings.load(dict(env)) is first  # same raw strings: the cached object
    changed = settings.load({**env, settings.FAILURE_RATE: "0.5"})
    assert changed is not first and changed.failure_rate == 0.5


def test_a_bad_value_is_not_cached() -> None:
    env = {settings.MASTER: "on", settings.FAILURE_RATE: "1.5"}
    for _ in range(2):
        with pytest.raises(FaultConfigError):
            settings.load(env)


@given(st.integers(min_value=0, max_value=10**30), st.sampled_from(["", " ", "\t"]))
def test_any_whole_number_of_fail_attempts_round_trips(n: int, pad: str) -> None:
    assert settings.parse_count(settings.FAIL_ATTEMPTS, f"{pad}{n}{pad}") == n


@given(st.one_of(st.text(max_size=12), st.from_regex(r"\A\s?[-+]?[0-9_.e]{1,4}\s?\Z")))
def test_fail_attempts_text_is_digits_or_names_the_variable(raw: str) -> None:
    # GIVEN any text WHEN it is parsed THEN it is a count written in ASCII digits (or unset),
    # or the error names the variable and the whole value
    try:
        value = settings.parse_count(settings.FAIL_ATTEMPTS, raw)
    except FaultConfigError as exc:
        assert exc.variable == settings.FAIL_ATTEMPTS and exc.value == raw
        assert not (raw.strip().isascii() and raw.strip().isdigit())
    else:
        text = raw.strip()
        assert text == "" or (text.isascii() and text.isdigit())
        assert value == (int(text) if text else 0) >= 0


@pytest.mark.parametrize("raw", ["-1", "1.5", "2.0", "+2", "1e3", "two", "3_000", "٣", "1 2"])
def test_fail_attempts_examples_that_must_fail(raw: str) -> None:
    with pytest.raises(FaultConfigError) as caught:
        settings.parse({settings.MASTER: "on", settings.FAIL_ATTEMPTS: raw})
    assert caught.value.variable == settings.FAIL_ATTEMPTS and caught.value.value == raw


def test_more_digits_than_int_reads_is_a_config_error_too() -> None:
    raw = "9" * 5000  # above CPython's int-from-text digit limit
    with pytest.raises(FaultConfigError) as caught:
        settings.parse_count(settings.FAIL_ATTEMPTS, raw)
    assert caught.value.variable == settings.FAIL_ATTEMPTS


@given(st.sampled_from(["before", "after", "BEFORE", " After "]))
def test_fail_phase_accepts_its_two_values(raw: str) -> None:
    assert settings.parse_phase(raw) == raw.strip().lower()


@given(st.text(max_size=10).filter(lambda s: s.strip().lower() not in ("", "before", "after")))
def test_a_bad_fail_phase_names_the_variable_and_the_value(raw: str) -> None:
    with pytest.raises(FaultConfigError) as caught:
        settings.parse({settings.MASTER: "on", settings.FAIL_PHASE: raw})
    assert caught.value.variable == settings.FAIL_PHASE and caught.value.value == raw


@given(
    st.one_of(st.none(), st.sampled_from(["", "0", "3", "x", "-2"])),
    st.one_of(st.none(), st.sampled_from(["", "before", "after", "later"])),
    st.one_of(st.none(), st.sampled_from(["", "on", "off", "yes", "1"])),
)
def test_the_attempt_variables_parse_together_or_name_the_bad_one(
    attempts: str | None, phase: str | None, record: str | None
) -> None:
    values = {
        settings.MASTER: "on",
        settings.FAIL_ATTEMPTS: attempts,
        settings.FAIL_PHASE: phase,
        settings.RECORD_ATTEMPTS: record,
    }
    bad = {
        settings.FAIL_ATTEMPTS: attempts in ("x", "-2"),
        settings.FAIL_PHASE: phase == "later",
        settings.RECORD_ATTEMPTS: record in ("yes", "1"),
    }
    try:
        config = settings.parse(values)
    except FaultConfigError as exc:
        assert bad[exc.variable] and exc.value == values[exc.variable]
    else:
        assert not any(bad.values())
        assert config.fail_attempts == int(attempts or 0)
        assert config.fail_phase == (phase or "before")
        assert config.record_attempts is (record == "on")
        assert config.counts_attempts is (record == "on" or config.fail_attempts > 0)


def test_the_attempt_variables_are_listed_and_default_off() -> None:
    for name in (settings.FAIL_ATTEMPTS, settings.FAIL_PHASE, settings.RECORD_ATTEMPTS):
        assert name in settings.ALL_VARIABLES and name in (settings.__doc__ or "")
    config = settings.parse({settings.MASTER: "on"})
    assert (config.fail_attempts, config.fail_phase, config.record_attempts) == (0, "before", False)
    assert config.counts_attempts is False


def test_a_changed_attempt_variable_is_parsed_again() -> None:
    env = {settings.MASTER: "on", settings.FAIL_ATTEMPTS: "1"}
    assert settings.load(env).fail_attempts == 1
    assert settings.load({**env, settings.FAIL_ATTEMPTS: "2"}).fail_attempts == 2
