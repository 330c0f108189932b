"""Emulated deploy of the Pulumi program onto the local cloud (see README: what is emulated)."""
from __future__ import annotations

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
from .program import load_policy_pack, project_policy
from .state import Record, StackState

__all__ = [
    "HANDLERS",
    "DeployError",
    "Engine",
    "InterruptedDeploy",
    "PolicyViolations",
    "ProgramError",
    "Record",
    "ResourceError",
    "Result",
    "StackState",
    "StaleState",
    "Step",
    "UnsupportedInput",
    "UnsupportedInvoke",
    "UnsupportedResourceType",
    "load_policy_pack",
    "project_policy",
]
