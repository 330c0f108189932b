"""Fault-injection middleware for every handler; variable names and formats in settings.py."""

from __future__ import annotations

from functions.faults.base import fault_record, inject_faults, install_throttle_hook
from functions.faults.exceptions import (
    FaultConfigError,
    FaultError,
    InjectedFailure,
    InjectedTimeout,
)
from functions.faults.settings import ALL_VARIABLES, THROTTLE_ERRORS, load
from functions.faults.types import FaultConfig, Latency, ThrottleError

__all__ = [
    "ALL_VARIABLES",
    "THROTTLE_ERRORS",
    "FaultConfig",
    "FaultConfigError",
    "FaultError",
    "InjectedFailure",
    "InjectedTimeout",
    "Latency",
    "ThrottleError",
    "fault_record",
    "inject_faults",
    "install_throttle_hook",
    "load",
]
