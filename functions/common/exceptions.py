"""Errors shared by the handlers. Class names are the Lambda error types: keep them stable."""

from __future__ import annotations


class PoisonEventError(ValueError):
    """The event itself is bad (not JSON, no `id`, or marked poison): it can never be processed."""

    def __init__(self, reason: str, event_id: str | None = None) -> None:
        self.reason = reason
        self.event_id = event_id
        super().__init__(f"{reason} (event id {event_id})" if event_id else reason)


class MissingConfigError(RuntimeError):
    """A required environment variable is unset or malformed; names it."""

    def __init__(self, variable: str, reason: str = "is not set", value: str | None = None) -> None:
        self.variable = variable
        self.value = value
        shown = f"={value!r}" if value is not None else ""
        super().__init__(f"environment variable {variable}{shown} {reason}")
