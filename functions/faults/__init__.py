"""Fault-injection middleware for every handler; variable names and formats in settings.py.

`chaos_handler` (decorator.py) is the one decorator a user's own handler needs."""

from __future__ import annotations

from functions.faults.base import (
    event_id_of,
    fault_record,
    inject_faults,
    install_throttle_hook,
    record_faults,
)
from functions.faults.decorator import chaos_handler
from functions.faults.exceptions import (
    FaultConfigError,
    FaultError,
    InjectedFailure,
    InjectedTimeout,
)
from functions.faults.settings import (
    ALL_VARIABLES,
    ATTEMPTS_PREFIX,
    THROTTLE_ERRORS,
    attempts_partition,
    load,
)
from functions.faults.types import FaultConfig, Latency, ThrottleError

__all__ = [
    "ALL_VARIABLES",
    "ATTEMPTS_PREFIX",
    "THROTTLE_ERRORS",
    "FaultConfig",
    "FaultConfigError",
    "FaultError",
    "InjectedFailure",
    "InjectedTimeout",
    "Latency",
    "ThrottleError",
    "attempts_partition",
    "chaos_handler",
    "event_id_of",
    "fault_record",
    "inject_faults",
    "install_throttle_hook",
    "load",
    "record_faults",
]
