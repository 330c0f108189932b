"""Args validation: every component checks its Args at construction and raises ArgsValidationError.

The error names the component, the field, the bad value and what is allowed, so a
typo in Pulumi.<stack>.yaml fails `pulumi preview` with a sentence, not a provider
error ten minutes into `pulumi up`. Values that are still unresolved Outputs cannot be
checked here (they are only known at deploy time) and are let through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.errors import ComponentError

__all__ = [
    "ArgsValidationError",
    "Setting",
    "Settings",
    "alarm_period",
    "choice",
    "int_range",
    "number_range",
    "require",
]


class ArgsValidationError(ComponentError, ValueError):
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
    """10, 20, 30 (high resolution) or a positive multiple of 60 seconds, as CloudWatch accepts."""
    if not _known(value):
        return value
    allowed = "10, 20, 30 or a positive multiple of 60 seconds"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgsValidationError(component, field, value, allowed)
    if value in (10, 20, 30) or (value > 0 and value % 60 == 0):
        return value
    raise ArgsValidationError(component, field, value, allowed)


Rule = Callable[[str, str, Any], Any]


@dataclass(frozen=True)
class Setting:
    """One optional Args field: its default and what is allowed, stated once.

    `default=None`: the field has no default; left out, the component derives a value
    (e.g. visibility from the function timeout) or AWS's own behaviour applies. Bounds are
    inclusive; float bounds mean any number is allowed, int bounds an integer; `extra` are
    values allowed outside them (-1 meaning infinite). `rule` replaces bounds where AWS's
    rule is not a range (an alarm period). A Setting without bounds, choices or rule
    accepts any value.
    """

    default: Any = None
    low: int | float | None = None
    high: int | float | None = None
    extra: tuple[int, ...] = ()
    choices: tuple[Any, ...] = ()
    rule: Rule | None = None

    def check(self, component: str, field: str, value: Any) -> Any:
        if self.rule is not None:
            return self.rule(component, field, value)
        if self.choices:
            return choice(component, field, value, self.choices)
        if self.low is None or self.high is None:
            return value
        if isinstance(self.low, float) or isinstance(self.high, float):
            return number_range(component, field, value, self.low, self.high)
        return int_range(component, field, value, self.low, self.high, extra=self.extra)

    def describe(self) -> str:
        parts = [] if self.default is None else [f"default {self.default!r}"]
        if self.choices:
            parts.append("one of " + ", ".join(map(repr, self.choices)))
        elif self.rule is not None and self.rule.__doc__:
            parts.append(self.rule.__doc__.strip().rstrip("."))
        elif self.low is not None and self.high is not None:
            extras = f" or {', '.join(map(str, self.extra))}" if self.extra else ""
            parts.append(f"{self.low!r}..{self.high!r}{extras}")
        return "; ".join(parts) or "no default"


class Settings(Mapping[str, Setting]):
    """The Settings of one Args TypedDict: validate(), __init__ and the docs all read them.

    Appends a "Defaults and bounds" section to the TypedDict's docstring, so help() on
    the Args shows the values the code uses.
    """

    def __init__(self, args_type: type, **fields: Setting) -> None:
        self.args_type = args_type
        self._fields = fields
        lines = [f"    {name}: {setting.describe()}" for name, setting in fields.items()]
        args_type.__doc__ = (
            (args_type.__doc__ or "") + "\n\nDefaults and bounds:\n" + "\n".join(lines)
        )

    def __getitem__(self, field: str) -> Setting:
        return self._fields[field]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def value(self, args: Mapping[str, Any], field: str) -> Any:
        """The field's value in `args`, or its default."""
        return args.get(field, self._fields[field].default)

    def check(self, component: str, args: Mapping[str, Any], prefix: str = "") -> None:
        """Check every field that is set or has a default; `prefix` names a nested Args."""
        for field, setting in self._fields.items():
            if field in args or setting.default is not None:
                setting.check(component, prefix + field, self.value(args, field))
