"""One error hierarchy for the chaos package; botocore errors wrapped with the resource's name."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)


class ChaosError(Exception):
    """Base of every error the chaos package raises on purpose."""


class StackError(ChaosError):
    """The stack cannot be used: unknown, outputs missing, or unreachable."""


class UnknownStackError(StackError):
    pass


class MissingOutputError(StackError):
    pass


class NotChaosEnabledError(StackError):
    pass


class UnreachableError(StackError):
    """Credentials or endpoint cannot reach the stack's cloud."""


class FaultValueError(ChaosError, ValueError):
    """A fault value that the middleware would reject; named before anything is changed."""


class AwsCallError(ChaosError):
    """A botocore error, with the resource that was being touched."""

    def __init__(self, resource: str, action: str, code: str, message: str) -> None:
        super().__init__(f"{action} on {resource} failed: {code}: {message}")
        self.resource = resource
        self.action = action
        self.code = code


class NotYetError(ChaosError):
    """A polled condition does not hold yet (retried until a deadline, never slept on blindly)."""


class PollTimeoutError(ChaosError):
    def __init__(self, what: str, timeout: float, last: object) -> None:
        super().__init__(f"{what}: not reached within {timeout:.1f}s; last observed: {last}")
        self.what = what
        self.timeout = timeout
        self.last = last


class GuardAlarmError(ChaosError):
    """A guard alarm fired: the experiment stops, as an AWS FIS stop condition would."""

    def __init__(self, alarms: list[str]) -> None:
        super().__init__(f"guard alarm(s) in ALARM, experiment stopped: {', '.join(alarms)}")
        self.alarms = alarms


class JournalError(ChaosError):
    pass


class JournalClosedError(JournalError):
    """The run is stopping (a signal): no new change may start."""


class IdentityMismatchError(StackError):
    """The journal, outputs or credentials name a different stack, account or region."""


class LeaseHeldError(ChaosError):
    """Another chaos run holds this stack's lease."""


class ForeignFaultError(ChaosError):
    """The stack carries faults that no journal entry accounts for."""


class GuardMissingError(ChaosError):
    """A guard alarm named on the command line does not exist."""


class ExpectationFailedError(ChaosError, AssertionError):
    """An expectation's verdict failed; AssertionError so pytest reports it as a test failure."""


@contextlib.contextmanager
def aws_call(resource: str, action: str) -> Iterator[None]:
    """Wrap botocore failures so the message says which resource and which call."""
    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise AwsCallError(
            resource, action, err.get("Code", "?"), err.get("Message", str(exc))
        ) from exc
    except (EndpointConnectionError, NoCredentialsError) as exc:
        raise UnreachableError(f"{action} on {resource}: cannot reach AWS: {exc}") from exc
    except BotoCoreError as exc:
        raise AwsCallError(resource, action, type(exc).__name__, str(exc)) from exc
