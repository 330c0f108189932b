"""Args validation: valid ranges accepted, anything else rejected naming the field and the range."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import (
    async_function,
    event_pipeline,
    fan_out,
    queue_worker,
    ride_records,
    slow_api,
    stream_processor,
    workflow,
)
from components.validation import ArgsValidationError
from tests.unit.components.comp_helpers import common, function

KEY_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slow-key-AbCdEf"

FAST = settings(max_examples=60, deadline=None)


def queue_args(**extra):
    return {"function": function("queue_worker", 5), **common("queue_worker"), **extra}


def async_args(**extra):
    return {"function": function("async_worker"), **common("async_function"), **extra}


def stream_args(**extra):
    return {"function": function("stream_processor"), **common("stream_processor"), **extra}


def pipeline_args(**extra):
    return {
        "notifier": function("notifier"),
        "delivery": function("delivery", 10),
        **common("event_pipeline"),
        "slow_api_url": "u",
        "slow_api_key_secret_arn": KEY_SECRET,
        **extra,
    }


def rejected(validate, args, field):
    with pytest.raises(ArgsValidationError) as caught:
        validate(args)
    assert caught.value.field == field
    assert re.search(rf"\b{re.escape(field)}=", str(caught.value)), str(caught.value)
    assert "allowed" in str(caught.value)
    return caught.value


# (validate, args builder, field, inclusive range, extra allowed values)
INT_RANGES = [
    (async_function.validate, async_args, "maximum_retry_attempts", 0, 2, ()),
    (async_function.validate, async_args, "maximum_event_age", 60, 21_600, ()),
    (queue_worker.validate, queue_args, "max_receive_count", 1, 1000, ()),
    (queue_worker.validate, queue_args, "batch_size", 1, 10, ()),
    (queue_worker.validate, queue_args, "maximum_concurrency", 2, 1000, ()),
    (stream_processor.validate, stream_args, "maximum_retry_attempts", 0, 10_000, (-1,)),
    (stream_processor.validate, stream_args, "maximum_record_age", 60, 604_800, (-1,)),
    (stream_processor.validate, stream_args, "batch_size", 1, 10_000, ()),
    (event_pipeline.validate, pipeline_args, "target_maximum_retry_attempts", 0, 185, ()),
    (event_pipeline.validate, pipeline_args, "target_maximum_event_age", 60, 86_400, ()),
    (event_pipeline.validate, pipeline_args, "maximum_concurrency", 2, 1000, ()),
]
IDS = [f"{v.__module__.split('.')[-1]}.{field}" for v, _, field, *_ in INT_RANGES]


@pytest.mark.parametrize(("validate", "make", "field", "low", "high", "extra"), INT_RANGES, ids=IDS)
@FAST
@given(data=st.data())
def test_integer_ranges(validate, make, field, low, high, extra, data):
    good = data.draw(st.one_of(st.integers(low, high), *[st.just(e) for e in extra]))
    validate(make(**{field: good}))
    bad = data.draw(
        st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1)).filter(
            lambda v: v not in extra
        )
    )
    error = rejected(validate, make(**{field: bad}), field)
    assert str(low) in error.allowed and str(high) in error.allowed


@FAST
@given(timeout=st.integers(1, 900), data=st.data())
def test_visibility_timeout_must_cover_the_function_timeout(timeout, data):
    args = {"function": function("queue_worker", timeout), **common("queue_worker")}
    queue_worker.validate({**args, "visibility_timeout": data.draw(st.integers(timeout, 43_200))})
    below = data.draw(st.integers(0, timeout - 1)) if timeout > 1 else 0
    error = rejected(
        queue_worker.validate, {**args, "visibility_timeout": below}, "visibility_timeout"
    )
    assert error.allowed.startswith(f"an integer {timeout}..")


@FAST
@given(period=st.integers(-100, 100_000))
def test_alarm_periods_are_10_20_30_or_a_multiple_of_60(period):
    args = queue_args()
    args["alarms"] = {**args["alarms"], "period": period}
    if period in (10, 20, 30) or (period > 0 and period % 60 == 0):
        queue_worker.validate(args)
    else:
        rejected(queue_worker.validate, args, "alarms.period")


def test_batch_size_above_ten_needs_a_batching_window_and_never_on_fifo():
    rejected(queue_worker.validate, queue_args(batch_size=100), "batch_size")
    queue_worker.validate(queue_args(batch_size=100, maximum_batching_window=1))
    rejected(
        queue_worker.validate,
        queue_args(batch_size=100, maximum_batching_window=1, fifo=True),
        "batch_size",
    )


@pytest.mark.parametrize("bad", [True, "2", 1.5, None])
def test_non_integers_are_rejected_not_coerced(bad):
    rejected(
        async_function.validate, async_args(maximum_retry_attempts=bad), "maximum_retry_attempts"
    )


def test_other_fields():
    rejected(
        ride_records.validate,
        {"function": function("ride_writer"), **common("r"), "billing_mode": "ON_DEMAND"},
        "billing_mode",
    )
    slow = {"function": function("slow_api"), **common("slow_api")}
    rejected(slow_api.validate, {**slow, "failure_rate": 1.5}, "failure_rate")
    rejected(slow_api.validate, {**slow, "min_delay": 5.0, "max_delay": 2.0}, "max_delay")
    rejected(
        slow_api.validate, {**slow, "integration_timeout_ms": 30_000}, "integration_timeout_ms"
    )
    wf = {
        "step": function("workflow_step"),
        "compensation": function("compensation"),
        **common("workflow"),
    }
    rejected(workflow.validate, {**wf, "retry_backoff_rate": 0.5}, "retry_backoff_rate")
    fo = {"consumer": function("queue_worker"), **common("fan_out")}
    rejected(fan_out.validate, {**fo, "subscribers": {}}, "subscribers")
    rejected(fan_out.validate, {**fo, "subscribers": {"orders": {}}}, "subscribers.orders")
    rejected(
        queue_worker.validate,
        {**queue_args(), "function": {**function("q"), "timeout": 901}},
        "function.timeout",
    )
    missing = queue_args()
    del missing["ledger"]
    rejected(queue_worker.validate, missing, "ledger")
    rejected(
        queue_worker.validate,
        queue_args(alarms={"topic_arn": "t", "evaluation_periods": 0}),
        "alarms.evaluation_periods",
    )
