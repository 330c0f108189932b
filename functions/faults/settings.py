"""Fault-injection environment variables: the names and formats, defined once.

The middleware in functions/faults reads these on every invocation; chaos/
imports this module to set them. A bad value raises FaultConfigError naming the
variable and the value, which fails the invocation.

FAILMODES_FAULTS        master switch: "on" | "off"; unset or "" means off; anything else is
                        an error. When off, no other variable is read or validated.
FAILMODES_FAILURE_RATE  float in [0, 1] (default 0): share of invocations (for batch handlers:
                        of batch records) that raise InjectedFailure before the handler runs.
FAILMODES_LATENCY       "fixed:<dur>" | "uniform:<dur>-<dur>" | "dist:p50=<dur>,p99=<dur>"
                        (log-normal with that median and 99th percentile, 0 < p50 <= p99)
                        | "off" | unset. <dur> is a non-negative number with unit ms or s,
                        e.g. 250ms, 1.5s. Added once per invocation (once per batch).
FAILMODES_TIMEOUT       "on" | "off" (default off): sleep past the context's
                        get_remaining_time_in_millis(), so the runtime times the call out.
FAILMODES_THROTTLE      "<service>:<rate>[,<service>:<rate>...]", e.g. "dynamodb:0.5,sqs:1":
                        the function's own SDK calls to that service fail at that rate with
                        the service's real throttling error (THROTTLE_ERRORS below). Services
                        are boto3 client names; "eventbridge", "sfn", "states" are aliases.
                        The injected response goes through botocore's retry handler exactly
                        like a real throttle, so it is retried (legacy mode: 5 attempts,
                        DynamoDB 10; standard mode: 3, DynamoDB 4; or AWS_MAX_ATTEMPTS), and
                        each retry draws again at the same rate. Nothing reaches the service.
FAILMODES_MATCH         JMESPath expression; when set, only events (for batch handlers:
                        records) for which it is truthy are hit. It sees the raw event or
                        record plus a key `payload` with the decoded JSON payload (SQS body,
                        SNS Message, Kinesis data, EventBridge detail, API body), e.g.
                        "payload.target == 'yes'" or "contains(body, 'chaos-target')".
FAILMODES_SEED          integer: seeds the random draws, for repeatable runs (each process
                        replays the same sequence; throttling draws from its own stream, so
                        SDK calls do not shift the failure draws).
FAILMODES_FAIL_ATTEMPTS integer N >= 0 (default 0, off), digits only: each matched event (for
                        batch handlers: each matched record) that carries an `id` raises
                        InjectedFailure on its attempts 1..N and runs normally from attempt
                        N+1 on. The attempt number is, for an SQS record, its
                        attributes.ApproximateReceiveCount (the count SQS itself compares
                        with maxReceiveCount); for every other source (async invoke, SNS,
                        EventBridge, Kinesis records, Step Functions task input, API) the
                        count the attempts ledger returns (see RECORD_ATTEMPTS), so N > 0
                        records the attempts of every matched event with an id, whatever
                        RECORD_ATTEMPTS says. Checked before FAILURE_RATE: an attempt it fails
                        draws no random number; once an event is past N the rate applies to
                        it as to any other.
FAILMODES_FAIL_PHASE    "before" | "after" (default before): when an injected failure (from
                        FAIL_ATTEMPTS or FAILURE_RATE) is raised. "after" runs the handler (for
                        batch handlers: the record handler, which must wear @record_faults)
                        first and raises once it returned, so its side effects (the ledger
                        write) happened: the event is redelivered as if the function crashed
                        after its write. A handler that raised on its own is not touched.
FAILMODES_RECORD_ATTEMPTS "on" | "off" (default off): every attempt of every event (for batch
                        handlers: every record) that carries an `id` is counted in the ledger
                        table (env LEDGER_TABLE): partition "attempts:<LEDGER_PATTERN>"
                        (attempts_partition(), prefix ATTEMPTS_PREFIX), key event_id = the id,
                        `count` bumped with an atomic ADD. FAILMODES_MATCH does not limit it,
                        and it happens before any fault (latency, timeout, failure), so failed
                        attempts count. Only attempts that reach the function's code count (a
                        throttled invoke never does). Needs FAILMODES_FAULTS=on, like the rest.

The event `id` is the `id` field of the decoded payload: SQS body, SNS Message, EventBridge
detail (also when the EventBridge event is itself an SQS body, as for delivery), Kinesis data,
API body, or the direct invoke / Step Functions input (unwrapped from {"Payload": ...}). An event
without one is neither counted nor attempt-faulted (logged at debug).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping

from functions.faults.exceptions import FaultConfigError
from functions.faults.types import FailPhase, FaultConfig, Latency, ThrottleError

MASTER = "FAILMODES_FAULTS"
FAILURE_RATE = "FAILMODES_FAILURE_RATE"
LATENCY = "FAILMODES_LATENCY"
TIMEOUT = "FAILMODES_TIMEOUT"
THROTTLE = "FAILMODES_THROTTLE"
MATCH = "FAILMODES_MATCH"
SEED = "FAILMODES_SEED"
FAIL_ATTEMPTS = "FAILMODES_FAIL_ATTEMPTS"
FAIL_PHASE = "FAILMODES_FAIL_PHASE"
RECORD_ATTEMPTS = "FAILMODES_RECORD_ATTEMPTS"

ALL_VARIABLES: tuple[str, ...] = (
    MASTER,
    FAILURE_RATE,
    LATENCY,
    TIMEOUT,
    THROTTLE,
    MATCH,
    SEED,
    FAIL_ATTEMPTS,
    FAIL_PHASE,
    RECORD_ATTEMPTS,
)

# The ledger partition of the attempts counter is this prefix + the function's LEDGER_PATTERN.
ATTEMPTS_PREFIX = "attempts:"
FAIL_PHASES: tuple[FailPhase, ...] = ("before", "after")


def attempts_partition(ledger_pattern: str) -> str:
    """The ledger partition holding the attempt counts of a function with this LEDGER_PATTERN."""
    return f"{ATTEMPTS_PREFIX}{ledger_pattern}"


# Each service's own throttling error, checked against botocore's service models and the AWS
# API references: the status codes are what the services send, and the ones botocore's legacy
# retry policies key on (SQS RequestThrottled is retried only with HTTP 403).
THROTTLE_ERRORS: dict[str, ThrottleError] = {
    "dynamodb": ThrottleError(
        "ProvisionedThroughputExceededException", 400, "json", "com.amazonaws.dynamodb.v20120810"
    ),
    "kinesis": ThrottleError(
        "ProvisionedThroughputExceededException", 400, "json", "com.amazonaws.kinesis.v20131202"
    ),
    "sqs": ThrottleError("RequestThrottled", 403, "json", "com.amazonaws.sqs"),
    "sns": ThrottleError("Throttling", 400, "query"),
    "events": ThrottleError("ThrottlingException", 400, "json", "com.amazonaws.eventbridge"),
    "lambda": ThrottleError("TooManyRequestsException", 429, "rest-json"),
    "stepfunctions": ThrottleError(
        "ThrottlingException", 400, "json", "com.amazonaws.stepfunctions"
    ),
}
SERVICE_ALIASES: dict[str, str] = {
    "eventbridge": "events",
    "sfn": "stepfunctions",
    "states": "stepfunctions",
}

_SWITCH = {"on": True, "off": False}
_COUNT = re.compile(r"^[0-9]+$")
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s)\s*$")


def parse_switch(variable: str, raw: str | None) -> bool:
    if raw is None or raw == "":
        return False
    value = _SWITCH.get(raw.strip().lower())
    if value is None:
        raise FaultConfigError(variable, raw, 'expected "on" or "off"')
    return value


def parse_rate(variable: str, raw: str | None) -> float:
    """A probability in [0, 1]; unset or empty is 0."""
    if raw is None or raw.strip() == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise FaultConfigError(variable, raw, "expected a number between 0 and 1") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise FaultConfigError(variable, raw, "expected a number between 0 and 1")
    return value


def parse_duration(variable: str, raw: str) -> float:
    """'<number>ms' or '<number>s' -> seconds."""
    m = _DURATION.match(raw)
    if m is None:
        raise FaultConfigError(variable, raw, "expected a duration like 250ms or 1.5s")
    value = float(m.group(1))
    if not math.isfinite(value):
        raise FaultConfigError(variable, raw, "duration must be finite")
    return value / 1000.0 if m.group(2) == "ms" else value


def parse_latency(raw: str | None, variable: str = LATENCY) -> Latency | None:
    if raw is None or raw.strip() in ("", "off"):
        return None
    try:
        return _parse_latency(raw, variable)
    except FaultConfigError as exc:
        if exc.value == raw:
            raise
        # Name the whole variable value, not just the fragment that failed.
        raise FaultConfigError(variable, raw, exc.reason) from None


def _parse_latency(raw: str, variable: str) -> Latency:
    kind, sep, spec = raw.strip().partition(":")
    if not sep:
        raise FaultConfigError(variable, raw, 'expected "fixed:", "uniform:" or "dist:" prefix')
    kind = kind.strip().lower()
    if kind == "fixed":
        d = parse_duration(variable, spec)
        return Latency("fixed", d, d)
    if kind == "uniform":
        # Split on the dash between two durations; a leading '-' would be a negative number.
        m = re.match(r"^(.+?(?:ms|s))\s*-\s*(.+)$", spec.strip())
        if m is None:
            raise FaultConfigError(variable, raw, 'expected "uniform:<min>-<max>", e.g. 10ms-2s')
        low, high = parse_duration(variable, m.group(1)), parse_duration(variable, m.group(2))
        if low > high:
            raise FaultConfigError(variable, raw, "uniform min is greater than max")
        return Latency("uniform", low, high)
    if kind == "dist":
        parts: dict[str, float] = {}
        for item in spec.split(","):
            key, eq, value = item.partition("=")
            key = key.strip().lower()
            if not eq or key not in ("p50", "p99") or key in parts:
                raise FaultConfigError(variable, raw, 'expected "dist:p50=<dur>,p99=<dur>"')
            parts[key] = parse_duration(variable, value)
        if set(parts) != {"p50", "p99"}:
            raise FaultConfigError(variable, raw, 'expected "dist:p50=<dur>,p99=<dur>"')
        if not 0.0 < parts["p50"] <= parts["p99"]:
            raise FaultConfigError(variable, raw, "needs 0 < p50 <= p99")
        return Latency("dist", parts["p50"], parts["p99"])
    raise FaultConfigError(variable, raw, f"unknown latency kind {kind!r} (fixed, uniform, dist)")


def parse_throttle(raw: str | None, variable: str = THROTTLE) -> dict[str, float]:
    if raw is None or raw.strip() in ("", "off"):
        return {}
    rates: dict[str, float] = {}
    for item in raw.split(","):
        service, sep, rate = item.partition(":")
        service = service.strip().lower()
        service = SERVICE_ALIASES.get(service, service)
        if not sep or service not in THROTTLE_ERRORS:
            known = ", ".join(sorted(THROTTLE_ERRORS))
            raise FaultConfigError(
                variable, raw, f"expected <service>:<rate> with service in {known}"
            )
        if service in rates:
            raise FaultConfigError(variable, raw, f"service {service!r} given twice")
        try:
            rates[service] = parse_rate(variable, rate)
        except FaultConfigError as exc:
            raise FaultConfigError(variable, raw, f"rate for {service}: {exc.reason}") from None
    return rates


def parse_match(raw: str | None, variable: str = MATCH):  # -> jmespath ParsedResult | None
    if raw is None or raw.strip() == "":
        return None
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(raw)
    except JMESPathError as exc:
        raise FaultConfigError(variable, raw, f"not a JMESPath expression ({exc})") from None


def parse_count(variable: str, raw: str | None) -> int:
    """A whole number >= 0 written in digits; unset or empty is 0."""
    if raw is None or raw.strip() == "":
        return 0
    text = raw.strip()
    if _COUNT.match(text) is None:
        raise FaultConfigError(variable, raw, "expected a whole number >= 0, e.g. 2")
    try:
        return int(text)
    except ValueError:  # more digits than int() accepts from text
        raise FaultConfigError(variable, raw, "expected a whole number >= 0, e.g. 2") from None


def parse_phase(raw: str | None, variable: str = FAIL_PHASE) -> FailPhase:
    if raw is None or raw.strip() == "":
        return "before"
    value = raw.strip().lower()
    for phase in FAIL_PHASES:
        if value == phase:
            return phase
    raise FaultConfigError(variable, raw, 'expected "before" or "after"')


def parse_seed(raw: str | None, variable: str = SEED) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw.strip())
    except ValueError:
        raise FaultConfigError(variable, raw, "expected an integer") from None


def parse(values: Mapping[str, str | None]) -> FaultConfig:
    """Build a FaultConfig from raw variable values (missing keys mean unset)."""
    if not parse_switch(MASTER, values.get(MASTER)):
        return FaultConfig(enabled=False)
    return FaultConfig(
        enabled=True,
        failure_rate=parse_rate(FAILURE_RATE, values.get(FAILURE_RATE)),
        latency=parse_latency(values.get(LATENCY)),
        timeout=parse_switch(TIMEOUT, values.get(TIMEOUT)),
        throttle=parse_throttle(values.get(THROTTLE)),
        match=parse_match(values.get(MATCH)),
        match_source=values.get(MATCH) or None,
        seed=parse_seed(values.get(SEED)),
        fail_attempts=parse_count(FAIL_ATTEMPTS, values.get(FAIL_ATTEMPTS)),
        fail_phase=parse_phase(values.get(FAIL_PHASE)),
        record_attempts=parse_switch(RECORD_ATTEMPTS, values.get(RECORD_ATTEMPTS)),
    )


_cache_key: tuple[str | None, ...] | None = None
_cache_value: FaultConfig | None = None


def load(environ: Mapping[str, str] | None = None) -> FaultConfig:
    """The current config, parsed again only when a raw variable changed.

    A bad value is not cached, so every invocation fails until it is fixed.
    """
    global _cache_key, _cache_value
    env = os.environ if environ is None else environ
    key = tuple(map(env.get, ALL_VARIABLES))
    if key == _cache_key and _cache_value is not None:
        return _cache_value
    config = parse(dict(zip(ALL_VARIABLES, key, strict=True)))
    _cache_key, _cache_value = key, config
    return config
