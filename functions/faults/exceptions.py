"""Errors raised by the fault-injection middleware.

Their class names are what Lambda reports as the error type (and what Step
Functions Catch/Retry match on), so they are part of the contract: do not rename.
"""

from __future__ import annotations


class FaultError(Exception):
    """Base class of every error the middleware raises."""


class FaultConfigError(FaultError, ValueError):
    """A fault variable holds a value the middleware cannot parse.

    Fails the invocation loudly rather than running with a guessed config.
    """

    def __init__(self, variable: str, value: str | None, reason: str) -> None:
        self.variable = variable
        self.value = value
        self.reason = reason
        super().__init__(f"{variable}={value!r}: {reason}")


class InjectedFailure(FaultError, RuntimeError):
    """Raised on purpose (FAILMODES_FAILURE_RATE) for an invocation or a batch record."""


class InjectedTimeout(FaultError, TimeoutError):
    """Raised after sleeping past the function's deadline, for runtimes that do not kill us.

    On Lambda the runtime ends the invocation first ("Task timed out"); this
    error only surfaces where nothing enforces the deadline (unit tests), so a
    timeout fault can never pass as a success.
    """
