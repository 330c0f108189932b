"""The one time-scale setting: it compresses AWS's fixed internal delays, and nothing else.

AWS waits about a minute before the first async retry, two before the second,
backs off throttled events from 1 s to 5 min, and SNS / EventBridge back off
their deliveries. A local experiment cannot wait that long, so those delays are
multiplied by `time_scale`. The stack's own settings (function timeouts,
visibility timeouts, MaximumEventAgeInSeconds, retention, alarm periods) are
never scaled: they are what the experiment is testing.
"""

from __future__ import annotations

import os

from localcloud.errors import LocalCloudError

ENV_VAR = "LOCALCLOUD_TIME_SCALE"
DEFAULT_TIME_SCALE = 0.01

# What is compressed, in AWS's own figures; `/_localcloud/info` reports this list.
COMPRESSED_DELAYS: dict[str, str] = {
    "lambda_async_retry": "Lambda async retry after a function error: ~60 s, then ~120 s",
    "lambda_async_throttle_backoff": (
        "Lambda async retry after a throttle or system error: 1 s doubling to 5 min"
    ),
    "sns_delivery_backoff": (
        "SNS delivery retries to Lambda: 3 immediate, 2 at 1 s, 10 backoff 1-20 s, then every 20 s"
    ),
    "eventbridge_retry_backoff": "EventBridge target retries: exponential backoff with jitter",
}

NOT_COMPRESSED: tuple[str, ...] = (
    "function timeout",
    "SQS visibility timeout, delay, retention",
    "MaximumEventAgeInSeconds / MaximumRecordAgeInSeconds",
    "event source mapping batching window",
    "CloudWatch alarm period x evaluation periods",
)


class TimeScaleError(LocalCloudError, ValueError):
    """The time scale is not a number in (0, 1]."""


def resolve_time_scale(value: float | str | None = None) -> float:
    """The scale to use: the argument, else $LOCALCLOUD_TIME_SCALE, else the default."""
    source = "time_scale argument"
    if value is None:
        value = os.environ.get(ENV_VAR)
        source = f"${ENV_VAR}"
    if value is None or value == "":
        return DEFAULT_TIME_SCALE
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise TimeScaleError(f"{source}={value!r} is not a number") from None
    if not 0 < scale <= 1:
        raise TimeScaleError(f"{source}={value!r} must be in (0, 1]: it only shortens AWS delays")
    return scale


class Clock:
    """Scales AWS's fixed delays; `scaled(60)` is how long the local cloud waits for AWS's 60 s."""

    def __init__(self, time_scale: float) -> None:
        self.time_scale = time_scale

    def scaled(self, aws_seconds: float) -> float:
        return aws_seconds * self.time_scale
