"""Parsed fault configuration: immutable values built once per distinct environment."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

# z-score of the 99th percentile of the standard normal: p99 = exp(mu + Z99 * sigma).
Z99 = 2.3263478740408408

LatencyKind = Literal["fixed", "uniform", "dist"]
FailPhase = Literal["before", "after"]


@dataclass(frozen=True, slots=True)
class Latency:
    """An added delay in seconds: fixed, uniform(low, high), or log-normal by p50/p99."""

    kind: LatencyKind
    low: float  # fixed: the delay; uniform: min; dist: p50
    high: float  # fixed: same as low; uniform: max; dist: p99

    def draw(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.low
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        # Log-normal with median p50 and 99th percentile p99 (p99 >= p50 > 0 checked at parse).
        mu = math.log(self.low)
        sigma = math.log(self.high / self.low) / Z99
        return rng.lognormvariate(mu, sigma)


class ThrottleError(NamedTuple):
    """What a service answers when it throttles: the code, HTTP status and wire protocol."""

    code: str
    status: int
    protocol: Literal["json", "rest-json", "query"]
    json_type_prefix: str = ""  # awsJson `__type` namespace, e.g. com.amazonaws.dynamodb.v20120810


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Everything the environment asks for; `enabled` False means do nothing at all."""

    enabled: bool
    failure_rate: float = 0.0
    latency: Latency | None = None
    timeout: bool = False
    throttle: dict[str, float] = field(default_factory=dict)  # boto3 service name -> rate
    match: Any = None  # compiled jmespath expression, or None (every event is hit)
    match_source: str | None = None
    seed: int | None = None
    fail_attempts: int = 0  # attempts 1..fail_attempts of a matched event fail; 0 is off
    fail_phase: FailPhase = "before"  # raise before the handler runs, or after it returned
    record_attempts: bool = False  # count every attempt of every event in the ledger

    @property
    def counts_attempts(self) -> bool:
        """Whether attempts are counted at all: asked for, or needed for attempt numbers."""
        return self.record_attempts or self.fail_attempts > 0
