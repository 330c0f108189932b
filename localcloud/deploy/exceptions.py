"""The emulated deploy's errors: one hierarchy, each naming the resource or file at fault."""
from __future__ import annotations


class DeployError(Exception):
    """Base of every emulated-deploy error."""


class ProgramError(DeployError):
    """The Pulumi program or its project/stack files cannot be run."""


class UnsupportedResourceType(DeployError):
    """The program registers a resource type the emulated deploy has no handler for."""

    def __init__(self, typ: str, name: str) -> None:
        super().__init__(
            f"resource {name!r} has type {typ!r}, which the emulated deploy cannot create; "
            "add a handler in localcloud/deploy/handlers/ (nothing is skipped silently)"
        )
        self.typ = typ
        self.name = name


class UnsupportedInvoke(DeployError):
    """The program calls a provider function the emulated deploy does not answer."""


class ResourceError(DeployError):
    """A cloud call for one resource failed."""

    def __init__(self, key: str, action: str, cause: BaseException) -> None:
        super().__init__(f"{action} {key}: {cause}")
        self.key = key
        self.action = action


class StaleState(DeployError):
    """The state file describes resources the local cloud does not have (it was restarted:
    its resources live in memory)."""


class InterruptedDeploy(DeployError):
    """Raised by the test hook to stop an `up` part-way, as a crash or Ctrl-C would."""
