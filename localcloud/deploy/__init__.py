"""Emulated deploy of the Pulumi program onto the local cloud (see README: what is emulated)."""

from __future__ import annotations

from .config import ProgramConfigError, check_stack_name, load_config
from .engine import Engine, Result, Step
from .exceptions import (
    DeployError,
    InterruptedDeploy,
    PolicyViolations,
    ProgramError,
    ResourceError,
    StaleState,
    UnsupportedInvoke,
    UnsupportedResourceType,
)
from .handlers import HANDLERS, UnsupportedInput
from .mocks import RecordingMocks, Registration
from .program import load_policy_pack, project_policy, run_in_stack, run_program
from .state import Record, StackState

__all__ = [
    "HANDLERS",
    "DeployError",
    "Engine",
    "InterruptedDeploy",
    "PolicyViolations",
    "ProgramConfigError",
    "ProgramError",
    "RecordingMocks",
    "Registration",
    "Record",
    "ResourceError",
    "Result",
    "StackState",
    "StaleState",
    "Step",
    "UnsupportedInput",
    "UnsupportedInvoke",
    "UnsupportedResourceType",
    "check_stack_name",
    "load_config",
    "load_policy_pack",
    "project_policy",
    "run_in_stack",
    "run_program",
]
