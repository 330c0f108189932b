"""Fault-injection environment variables: the names and formats, defined once.

The middleware in functions/faults reads these on every invocation; chaos/
imports this module to set them. Formats (parsed in this module, which raises
FaultConfigError naming the variable and the bad value):

FAILMODES_FAULTS            master switch: "on" | "off" (default off; anything else is an error)
FAILMODES_FAILURE_RATE      float in [0, 1]: share of invocations (or batch records) that raise InjectedFailure
FAILMODES_LATENCY           "fixed:<dur>" | "uniform:<dur>-<dur>" | "dist:p50=<dur>,p99=<dur>" (log-normal)
                            <dur> is a number with unit ms or s, e.g. 250ms, 1.5s
FAILMODES_TIMEOUT           "on" | "off": sleep past the function's remaining time (the runtime times out)
FAILMODES_THROTTLE          "<service>:<rate>[,<service>:<rate>...]", e.g. "dynamodb:0.5": the function's own
                            SDK calls to that service fail at that rate with the service's real throttling
                            error code (dynamodb: ProvisionedThroughputExceededException, ...)
FAILMODES_MATCH             JMESPath expression; when set, only events (or batch records) for which it is
                            truthy are hit, e.g. "contains(body, 'chaos-target')"
FAILMODES_SEED              integer: seeds the random draws, for repeatable runs
"""
from __future__ import annotations

MASTER = "FAILMODES_FAULTS"
FAILURE_RATE = "FAILMODES_FAILURE_RATE"
LATENCY = "FAILMODES_LATENCY"
TIMEOUT = "FAILMODES_TIMEOUT"
THROTTLE = "FAILMODES_THROTTLE"
MATCH = "FAILMODES_MATCH"
SEED = "FAILMODES_SEED"

ALL_VARIABLES: tuple[str, ...] = (MASTER, FAILURE_RATE, LATENCY, TIMEOUT, THROTTLE, MATCH, SEED)
