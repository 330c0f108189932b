"""The emulated deploy's errors: one hierarchy, each naming the resource or file at fault."""

from __future__ import annotations

from localcloud.errors import LocalCloudError


class DeployError(LocalCloudError):
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
        # Kept here: the engine re-raises the first failure `from None`, which clears
        # __cause__, and callers classify by the cloud's error code.
        self.cause = cause


class PolicyViolations(DeployError):
    """The policy pack's mandatory checks refused the program; nothing was created.

    `violations` are the pack's own objects; each prints as `[rule] resource: message`."""

    def __init__(self, violations: list) -> None:
        rules = sorted({str(getattr(v, "policy", "?")) for v in violations})
        super().__init__(
            f"{len(violations)} policy violation(s) ({', '.join(rules)}); nothing was created"
        )
        self.violations = list(violations)


class StaleState(DeployError):
    """The state file describes resources the local cloud does not have (it was restarted:
    its resources live in memory)."""


class InterruptedDeploy(DeployError):
    """Raised by the test hook to stop an `up` part-way, as a crash or Ctrl-C would."""
