"""The one local stack session: start the embedded local cloud, deploy the program on it
(the emulated deploy, gated by the policy pack as `localcloud up` is), hand out the chaos
Stack, and always destroy the stack and stop the cloud.

Nothing survives between runs of the local cloud, so each user deploys once per session:
the demo, the chaos suite's pytest plugin (`--stack local`, through app.pytest_plugin),
mutation testing (one `up` per wave of mutants on the same cloud) and the scenarios (an
`up` per variant of config overrides).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import localcloud
from chaos.stack import Stack
from components import outputs as keys
from localcloud.deploy import Engine, Result, Step, project_policy
from localcloud.deploy.program import PolicyCheck, project_name
from localcloud.process import spawn

__all__ = ["PROJECT_DIR", "LocalSession", "local_stack", "stack_of"]

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[1]

Progress = Callable[[Step], None]


def stack_of(name: str, outputs: Mapping[str, Any], endpoint: str, source: str = "") -> Stack:
    """The chaos suite's view of a stack deployed on the local cloud at `endpoint`."""
    outputs = dict(outputs)
    return Stack(
        name=name,
        outputs=outputs,
        endpoint=endpoint,
        region=str(outputs.get(keys.REGION) or "us-east-1"),
        source=source or f"emulated deploy on {endpoint}",
    )


class LocalSession:
    """One stack of the program on one running local cloud. `deploy` runs `up` (again, with
    other config overrides); `destroy` and `stop` are done once, whoever calls them first:
    the caller (to show progress) or the end of `local_stack`."""

    def __init__(
        self,
        cloud: Any,
        name: str,
        state_dir: Path | None,
        timings: dict[str, float],
        project_dir: Path = PROJECT_DIR,
    ) -> None:
        self.cloud = cloud
        self.name = name
        self.project_dir = Path(project_dir)
        self.state_dir = state_dir
        self.timings = timings
        self.overrides: dict[str, str] = {}
        self.stack: Stack | None = None
        self.result: Result | None = None  # of the last `up`
        self.deploy_seconds: list[float] = []
        self.policy = project_policy(self.project_dir)
        self._project = project_name(self.project_dir)
        self._deployed = self._destroyed = self._stopped = False

    @property
    def deployed(self) -> bool:
        """An `up` was started (a failed one leaves resources too)."""
        return self._deployed

    @property
    def destroyed(self) -> bool:
        return self._destroyed

    @property
    def endpoint(self) -> str:
        return str(self.cloud.endpoint)

    def engine(self, overrides: Mapping[str, str] | None = None, **options: Any) -> Engine:
        """An engine for this stack on this cloud (`options`: Engine's, e.g. transformations)."""
        return Engine(
            self.project_dir,
            self.name,
            self.endpoint,
            state_dir=self.state_dir,
            config_overrides=dict(self.overrides if overrides is None else overrides),
            policy=self.policy,
            **options,
        )

    def forget_stale(self, say: Callable[[str], Any]) -> None:
        """This cloud was just started, empty: whatever the state file lists lived in a cloud
        that is gone, so it cannot be updated or deleted from here; it is moved aside."""
        engine = self.engine()
        if engine.load_state().resources:
            moved = engine.forget()
            say(f"stale state of stack {self.name!r} from an earlier cloud moved to {moved}")

    def deploy(
        self,
        overrides: Mapping[str, str] | None = None,
        *,
        progress: Progress | None = None,
        waive: Collection[str] = (),
    ) -> Stack:
        """`up` with these config overrides (on top of Pulumi.<stack>.yaml); the Stack. The
        overrides it is deployed with already: nothing to do. `waive` names policies of the
        pack this deploy breaks knowingly (a scenario replaying the failure a policy forbids):
        their violations are logged and let through, any other still refuses the deploy."""
        wanted = {
            k if ":" in k else f"{self._project}:{k}": str(v) for k, v in (overrides or {}).items()
        }
        if self.stack is not None and wanted == self.overrides:
            return self.stack
        engine = self.engine(wanted, progress=progress)
        if waive and engine.policy is not None:
            engine.policy = _waiving(engine.policy, frozenset(waive))
        self._deployed = True  # a failed `up` leaves resources: they are destroyed too
        began = time.monotonic()
        result = engine.up()
        seconds = round(time.monotonic() - began, 2)
        self.deploy_seconds.append(seconds)
        self.timings["deploy_s"] = seconds
        self.overrides = wanted
        self.result = result
        self.stack = stack_of(self.name, result.outputs, self.endpoint)
        return self.stack

    def destroy(self, *, progress: Progress | None = None) -> None:
        """Remove every resource of the stack (once; nothing when it was never deployed)."""
        if self._destroyed or not self._deployed:
            return
        self._destroyed = True
        began = time.monotonic()
        try:
            self.engine(progress=progress).destroy()
        finally:
            self.timings["destroy_s"] = round(time.monotonic() - began, 2)

    def stop(self) -> None:
        """Stop the local cloud (once)."""
        if self._stopped:
            return
        self._stopped = True
        began = time.monotonic()
        try:
            self.cloud.stop()
        finally:
            self.timings["stop_s"] = round(time.monotonic() - began, 2)


def _waiving(policy: PolicyCheck, waived: frozenset[str]) -> PolicyCheck:
    """The pack's check without the waived policies' violations (each logged instead)."""

    def check(registrations: list[Any]) -> list[Any]:
        found = policy(registrations)
        for violation in found:
            if violation.policy in waived:
                logger.warning("deploying despite a waived policy: %s", violation)
        return [v for v in found if v.policy not in waived]

    return check


@contextlib.contextmanager
def local_stack(
    name: str = "local",
    *,
    state_dir: Path | None = None,
    time_scale: float | None = None,
    overrides: Mapping[str, str] | None = None,
    deploy: bool = True,
    destroy: bool = True,
    timings: dict[str, float] | None = None,
    say: Callable[[str], Any] = logger.info,
    project_dir: Path = PROJECT_DIR,
    own_process: bool = False,
) -> Iterator[LocalSession]:
    """Start a local cloud and yield a LocalSession, deployed unless `deploy=False` (then on
    its first `deploy`); at the end destroy the stack and stop the cloud, whatever happened.
    `destroy=False` only stops the cloud, for a throwaway state directory (the cloud keeps
    everything in memory). `state_dir` defaults to the engine's (.localcloud/); `project_dir`
    is the Pulumi program's folder (default: this project's). `own_process`: the cloud runs
    in a process of its own (`python -m localcloud serve`, its output in the state directory
    or a temporary one), sharing no moto backends with this one: what a test run wants; the
    demo and the scenarios reach into the cloud and keep it here."""
    timings = timings if timings is not None else {}
    began = time.monotonic()
    if own_process:
        logs = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="localcloud-"))
        cloud: Any = spawn(time_scale=time_scale, log_path=logs / "localcloud.log")
    else:
        cloud = localcloud.start(time_scale=time_scale)
    timings["start_s"] = round(time.monotonic() - began, 2)
    try:
        session = LocalSession(cloud, name, state_dir, timings, project_dir)
    except BaseException:
        cloud.stop()
        raise
    try:
        session.forget_stale(say)
        if deploy:
            session.deploy(overrides)
        yield session
    finally:
        try:
            if destroy and session.deployed and not session.destroyed:
                say("destroying the stack")
                session.destroy()
        except Exception:  # the cloud stops next anyway; say so, do not mask the result
            logger.exception("destroy of local stack %s failed", name)
        finally:
            session.stop()
