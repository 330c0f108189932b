"""Args validation: every component checks its Args at construction and raises ArgsValidationError.

The error names the component, the field, the bad value and what is allowed, so a
typo in Pulumi.<stack>.yaml fails `pulumi preview` with a sentence, not a provider
error ten minutes into `pulumi up`. Values that are still unresolved Outputs cannot be
checked here (they are only known at deploy time) and are let through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi

__all__ = [
    "ArgsValidationError",
    "alarm_period",
    "choice",
    "int_range",
    "number_range",
    "require",
]


class ArgsValidationError(ValueError):
    """A component Arg is outside what AWS (or the pattern) accepts."""

    def __init__(self, component: str, field: str, value: Any, allowed: str) -> None:
        self.component = component
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{component}: {field}={value!r} is invalid; allowed: {allowed}")


def _known(value: Any) -> bool:
    return not isinstance(value, pulumi.Output)


def require(component: str, args: Mapping[str, Any], field: str) -> Any:
    if field not in args or args[field] is None:
        raise ArgsValidationError(component, field, None, "a value is required")
    return args[field]


def int_range(
    component: str, field: str, value: Any, low: int, high: int, *, extra: Iterable[int] = ()
) -> Any:
    """Check an integer is in [low, high] (or one of `extra`, e.g. -1 meaning infinite)."""
    if not _known(value):
        return value
    extras = tuple(extra)
    allowed = f"an integer {low}..{high}" + (f" or {', '.join(map(str, extras))}" if extras else "")
    # bool is an int subclass; True as a retry count is a config mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgsValidationError(component, field, value, allowed)
    if value in extras or low <= value <= high:
        return value
    raise ArgsValidationError(component, field, value, allowed)


def number_range(component: str, field: str, value: Any, low: float, high: float) -> Any:
    if not _known(value):
        return value
    allowed = f"a number {low}..{high}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArgsValidationError(component, field, value, allowed)
    if not low <= value <= high:
        raise ArgsValidationError(component, field, value, allowed)
    return value


def choice(component: str, field: str, value: Any, allowed: Iterable[Any]) -> Any:
    options = tuple(allowed)
    if _known(value) and value not in options:
        raise ArgsValidationError(
            component, field, value, "one of " + ", ".join(map(repr, options))
        )
    return value


def alarm_period(component: str, field: str, value: Any) -> Any:
    """CloudWatch accepts 10, 20, 30 (high resolution) or a multiple of 60 seconds."""
    if not _known(value):
        return value
    allowed = "10, 20, 30 or a positive multiple of 60 seconds"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgsValidationError(component, field, value, allowed)
    if value in (10, 20, 30) or (value > 0 and value % 60 == 0):
        return value
    raise ArgsValidationError(component, field, value, allowed)
