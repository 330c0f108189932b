"""Typed reads of handler environment variables, with errors naming the variable.

Without a default a variable is required: its component always sets it (the value is
declared once, in components/), so a missing one raises MissingConfigError instead of
falling back to a second copy of the default.
"""

from __future__ import annotations

import math
import os

from functions.common.exceptions import MissingConfigError


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise MissingConfigError(name)
        return default
    return value


def env_float(
    name: str, default: float | None = None, *, minimum: float = 0.0, maximum: float = math.inf
) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise MissingConfigError(name)
        return default
    try:
        value = float(raw)
    except ValueError:
        raise MissingConfigError(name, "is not a number", raw) from None
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise MissingConfigError(name, f"is outside [{minimum}, {maximum}]", raw)
    return value


def env_int(name: str, default: int | None = None, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise MissingConfigError(name)
        return default
    try:
        value = int(raw)
    except ValueError:
        raise MissingConfigError(name, "is not an integer", raw) from None
    if value < minimum:
        raise MissingConfigError(name, f"is below {minimum}", raw)
    return value
