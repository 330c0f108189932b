"""The emulated deploy: the Pulumi program's registrations become boto3 calls.

`Engine.up()` runs the program under the SDK's mock runtime. Each registration
(`Mocks.new_resource`) is compared with the state file: unchanged -> nothing,
changed -> update in place or replace (delete, then create: there is no
create-before-replace), new -> create. Resources the program no longer
registers are deleted after it finishes. The resource's real id and outputs go
back to the program, so Outputs resolve to real ARNs and URLs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks

from . import invokes
from .archive import fingerprint, is_asset_or_archive
from .exceptions import DeployError, PolicyViolations, ResourceError, StaleState
from .handlers import HANDLERS, Context, Planned, handler_for
from .handlers.base import error_code
from .mocks import RecordingMocks
from .program import PolicyCheck, project_name, run_program
from .state import Record, StackState

logger = logging.getLogger(__name__)

# A legacy Pulumi stack transformation: ResourceTransformationArgs -> Result or None.
Transformation = Callable[[Any], Any]

# Called after each resource change is saved, with (key, action); tests raise from it to
# interrupt a run part-way, as a crash would.
Hook = Callable[[str, str], None]


@dataclass
class Step:
    """One line of a plan or a run: what happened (or would happen) to one resource."""

    action: str  # create | update | replace | delete | same
    key: str
    type: str
    name: str
    changed: list[str] = field(default_factory=list)

    def line(self) -> str:
        mark = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}
        detail = f" [{', '.join(self.changed)}]" if self.changed else ""
        return f"{mark[self.action]:>2} {self.action:<8} {self.type}  {self.name}{detail}"


@dataclass
class Result:
    steps: list[Step]
    outputs: dict[str, Any]
    seconds: float
    # What the policy gate found and let through (allow_policy_violations); empty otherwise.
    violations: list[Any] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.action] = counts.get(step.action, 0) + 1
        return counts

    @property
    def changes(self) -> int:
        return sum(1 for s in self.steps if s.action != "same")


class _RequestCapture(MockMonitor):
    """The SDK's mock monitor, keeping each registration request (URN, dependencies,
    resource options) where `new_resource`, called on the same thread, can read it."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.current = threading.local()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        self.current.request = request
        try:
            return super().RegisterResource(request)
        finally:
            self.current.request = None


def reveal(value: Any) -> Any:
    """Inputs with every secret (pulumi.Output.secret, a provider's secret input such as a
    SecretVersion's secretString) taken out of its envelope: the cloud call needs the value.
    The state file then holds it in clear, as the README says."""
    if rpc.is_rpc_secret(value):
        return reveal(value["value"])
    if isinstance(value, Mapping):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def normalize(value: Any, base_dir: Path) -> Any:
    """Inputs as stored and compared: archives become content hashes, numbers compare equal
    whether 4 or 4.0, and everything round-trips through JSON."""
    if is_asset_or_archive(value):
        return fingerprint(value, base_dir)
    if isinstance(value, Mapping):
        return {str(k): normalize(v, base_dir) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize(v, base_dir) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class Engine:
    def __init__(
        self,
        project_dir: Path,
        stack: str,
        endpoint: str,
        *,
        state_dir: Path | None = None,
        client_factory: Callable[[str], Any] | None = None,
        config_overrides: Mapping[str, Any] | None = None,
        hook: Hook | None = None,
        progress: Callable[[Step], None] | None = None,
        transformations: Sequence[Transformation] = (),
        policy: PolicyCheck | None = None,
        allow_policy_violations: bool = False,
    ) -> None:
        """`transformations` apply to every run of the program (up, preview and the policy
        gate's recording). `policy` (e.g. `load_policy_pack(project/"policy")`) is run over
        the recorded graph before anything is created, as `pulumi up --policy-pack` runs a
        pack's mandatory policies: a violation refuses the run (PolicyViolations) unless
        `allow_policy_violations`, when the run goes ahead and its Result lists them."""
        self.project_dir = Path(project_dir).resolve()
        self.stack = stack
        self.endpoint = endpoint
        self.state_dir = Path(state_dir) if state_dir else self.project_dir / ".localcloud"
        self.ctx = Context(
            endpoint=endpoint,
            client_factory=client_factory or _boto3_factory(endpoint),
            base_dir=self.project_dir,
        )
        self.config_overrides = dict(config_overrides or {})
        self.hook = hook
        self.progress = progress
        self.transformations = tuple(transformations)
        self.policy = policy
        self.allow_policy_violations = allow_policy_violations
        # {key: physical name} of creates an interrupted run left pending: this run reuses
        # the name, and may adopt a resource of that name as its own.
        self.interrupted: dict[str, str] = {}

    def load_state(self) -> StackState:
        return StackState.load(self.state_dir, self.stack)

    def check_cloud(self, state: StackState) -> None:
        """Refuse to work from a state file whose resources are not in this cloud: the local
        cloud keeps everything in memory, so a restart empties it while the file remains."""
        for record in sorted(state.resources.values(), key=lambda r: r.seq):
            if not record.custom or record.type not in HANDLERS:
                continue
            found = HANDLERS[record.type].exists(self.ctx, record.id, record.outputs)
            if found is None:
                continue
            if not found:
                raise StaleState(
                    f"{state.path} lists {len(state.resources)} resources, but "
                    f"{record.key} is not in the local cloud at {self.endpoint} (restarted?); "
                    f"run `python -m localcloud destroy --stack {self.stack}` to clear the "
                    "state (missing resources are skipped), then `up`"
                )
            return

    def policy_violations(self) -> list[Any]:
        """The policy pack's verdict on the program as this engine would deploy it: the graph
        recorded under mocks with plausible ARNs (so resources correlate before they exist),
        with the same config and transformations. Creates nothing."""
        if self.policy is None:
            return []
        # The recorder answers with AWS-shaped ids and ARNs, as the unit tests' policy run
        # does; an emulated deploy's preview would leave every not-yet-created ARN unknown.
        mocks = RecordingMocks()
        run_program(
            self.project_dir,
            self.stack,
            mocks,
            preview=True,
            config_overrides=self.config_overrides,
            transformations=self.transformations,
        )
        # Sorted: the SDK registers from a thread pool, so the graph's order varies by run.
        return sorted(self.policy(mocks.registrations), key=str)

    def forget(self) -> Path | None:
        """Move the state file aside (state.json.stale-<time>); returns where it went."""
        path = self.state_dir / self.stack / "state.json"
        if not path.exists():
            return None
        target = path.with_name(f"state.json.stale-{int(time.time())}")
        path.rename(target)
        return target

    # ---- commands -------------------------------------------------------------------
    def up(self) -> Result:
        return self._run(preview=False)

    def preview(self) -> Result:
        return self._run(preview=True)

    def destroy(self) -> Result:
        start = time.monotonic()
        state = self.load_state()
        self._report_pending(state)
        steps = [self._delete(state, record) for record in state.deletion_order()]
        state.outputs = {}
        state.save()
        return Result([s for s in steps if s], {}, time.monotonic() - start)

    # ---- the run --------------------------------------------------------------------
    def _run(self, *, preview: bool) -> Result:
        start = time.monotonic()
        violations = self.policy_violations()
        if violations and not self.allow_policy_violations:
            raise PolicyViolations(violations)
        for violation in violations:
            logger.warning("deploying despite a policy violation: %s", violation)
        state = self.load_state()
        self.check_cloud(state)
        if not preview:
            self._report_pending(state)
            state.project = project_name(self.project_dir)
            state.endpoint = self.endpoint
        mocks = _DeployMocks(self, state, preview)
        monitor = _RequestCapture(mocks)
        mocks.monitor = monitor
        try:
            outputs = run_program(
                self.project_dir,
                self.stack,
                mocks,
                preview=preview,
                config_overrides=self.config_overrides,
                monitor=monitor,
                transformations=self.transformations,
            )
        except BaseException:
            # The SDK reports whichever registration it awaits first; the cause is the first
            # failure, the others only say they stopped because of it.
            if mocks.failed is not None:
                raise mocks.failed from None
            raise
        gone = set(state.resources) - mocks.seen
        for record in state.deletion_order(gone):
            if preview:
                mocks.steps.append(Step("delete", record.key, record.type, record.name))
            else:
                mocks.steps.append(self._delete(state, record))
        if not preview:
            state.outputs = json.loads(json.dumps(outputs, default=str))
            state.save()
        return Result(mocks.steps, outputs, time.monotonic() - start, violations)

    def _delete(self, state: StackState, record: Record) -> Step:
        step = Step("delete", record.key, record.type, record.name)
        if record.custom and record.protect:
            raise DeployError(
                f"{record.key} is protected (protect=True); unprotect it in the "
                "program and run `up` before deleting it"
            )
        if (
            record.custom
            and not record.retain_on_delete
            and not record.type.startswith("pulumi:providers:")
        ):
            handler = handler_for(record.type, record.name)
            try:
                handler.delete(self.ctx, record.id, record.outputs)
            except Exception as exc:
                raise ResourceError(record.key, "delete", exc) from exc
        state.remove(record.key)
        self._after(step)
        return step

    def _after(self, step: Step) -> None:
        if self.progress:
            self.progress(step)
        if self.hook and step.action != "same":
            self.hook(step.key, step.action)

    def _report_pending(self, state: StackState) -> None:
        self.interrupted = {
            op["key"]: op["physical_name"]
            for op in state.pending
            if op.get("op") == "create" and op.get("physical_name")
        }
        for op in state.pending:
            logger.warning(
                "an earlier run was interrupted during %s of %s (%s): that resource "
                "may exist in the local cloud without being in the state file",
                op.get("op"),
                op.get("key"),
                op.get("physical_name"),
            )
        if state.pending:
            state.pending = []
            state.save()


class _DeployMocks(Mocks):
    def __init__(self, engine: Engine, state: StackState, preview: bool) -> None:
        self.engine = engine
        self.state = state
        self.preview = preview
        self.monitor: _RequestCapture | None = None
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.steps: list[Step] = []
        # After the first failure nothing more is created: the SDK keeps registering from
        # its thread pool, and the state file must end at the failure, as Pulumi's does.
        self.failed: BaseException | None = None

    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        with self.lock:
            return invokes.call(self.engine.ctx, args.token, args.args), None

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        # The SDK registers from a thread pool; one at a time keeps the state file ordered.
        with self.lock:
            if self.failed is not None:
                raise DeployError(
                    f"{args.typ} {args.name!r} not registered: the run stopped "
                    f"at an earlier error ({self.failed})"
                )
            try:
                return self._register(args)
            except BaseException as exc:
                self.failed = exc
                raise

    def _register(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        request = getattr(self.monitor.current, "request", None) if self.monitor else None
        if args.resource_id:
            raise DeployError(
                f"{args.typ} {args.name!r}: reading or importing an existing "
                "resource (.get / import) is not emulated"
            )
        key = (
            self.monitor.make_urn(request.parent, request.type, request.name)
            if request is not None and self.monitor is not None
            else f"{args.typ}::{args.name}"
        )
        if key in self.seen:
            raise DeployError(f"duplicate resource registration {key}")
        self.seen.add(key)
        deps = sorted(set(request.dependencies) if request is not None else set())
        options = _options(request)
        base = self.engine.project_dir
        inputs = reveal(dict(args.inputs))
        old = self.state.resources.get(key)
        if old is not None and old.type != args.typ:
            raise DeployError(f"{key}: type changed from {old.type} to {args.typ}")

        if not args.custom or args.typ.startswith("pulumi:providers:"):
            # Components and explicit providers create nothing; they are kept so the state
            # mirrors the program's tree.
            action = "same" if old is not None else "create"
            record = Record(
                key=key,
                type=args.typ,
                name=args.name,
                custom=bool(args.custom),
                id=args.name if args.custom else "",
                inputs=normalize(inputs, base),
                deps=deps,
            )
            self._save(record, Step(action, key, args.typ, args.name))
            return record.id or None, inputs

        handler = handler_for(args.typ, args.name)
        handler.check(args.name, inputs)
        normalized = normalize(inputs, base)
        for ignored in options["ignore_changes"]:
            head = ignored.split(".")[0].split("[")[0]
            if old is not None:
                if head in old.inputs:
                    normalized[head] = old.inputs[head]
                else:
                    normalized.pop(head, None)

        if old is None:
            return self._create(handler, key, args, inputs, normalized, deps, options, "create")
        changed = sorted(
            k for k in set(old.inputs) | set(normalized) if old.inputs.get(k) != normalized.get(k)
        )
        step = Step("same", key, args.typ, args.name, changed)
        if not changed:
            record = Record(**{**old.__dict__, "deps": deps, **_flags(options)})
            if record == old:  # nothing to write: keep its place in the creation order
                self.steps.append(step)
                self.engine._after(step)
            else:
                self._save(record, step)
            return record.id, {**inputs, **old.outputs}
        forced = set(handler.replace_on) | set(options["replace_on_changes"])
        if handler.replace_on_any or forced & set(changed) or "*" in forced:
            if self.preview:
                step.action = "replace"
                self.steps.append(step)
                return None, {}
            if old.protect:
                raise DeployError(
                    f"{key} is protected and its change of {changed} needs a replacement"
                )
            self.engine._delete(self.state, old)
            return self._create(
                handler, key, args, inputs, normalized, deps, options, "replace", changed
            )
        step.action = "update"
        if self.preview:
            self.steps.append(step)
            return old.id, {**inputs, **old.outputs}
        planned = Planned(
            args.typ, args.name, inputs, handler.physical_name(args.name, inputs, old.physical_name)
        )
        self.state.pending.append({"key": key, "op": "update", "physical_name": old.id})
        self.state.save()
        try:
            outputs = handler.update(
                self.engine.ctx,
                planned,
                old.id,
                old.outputs,
                set(changed) - set(options["ignore_changes"]),
            )
        except Exception as exc:
            raise ResourceError(key, "update", exc) from exc
        record = Record(
            **{
                **old.__dict__,
                "inputs": normalized,
                "outputs": outputs,
                "deps": deps,
                "physical_name": planned.physical_name,
                **_flags(options),
            }
        )
        self.state.pending.pop()
        self._save(record, step)
        return record.id, {**inputs, **outputs}

    def _create(
        self,
        handler: Any,
        key: str,
        args: MockResourceArgs,
        inputs: dict,
        normalized: dict,
        deps: list[str],
        options: dict,
        action: str,
        changed: list[str] | None = None,
    ) -> tuple[str | None, dict]:
        step = Step(action, key, args.typ, args.name, changed or [])
        if self.preview:
            self.steps.append(step)
            return None, {}
        interrupted = self.engine.interrupted.get(key)
        planned = Planned(
            args.typ, args.name, inputs, handler.physical_name(args.name, inputs, interrupted)
        )
        self.state.pending.append(
            {"key": key, "op": "create", "physical_name": planned.physical_name}
        )
        self.state.save()
        try:
            try:
                rid, outputs = handler.create(self.engine.ctx, planned)
            except ClientError as exc:
                adopted = self._adopt(handler, key, planned, exc, interrupted)
                if adopted is None:
                    raise
                rid, outputs = adopted
        except Exception as exc:
            raise ResourceError(key, "create", exc) from exc
        self.state.pending.pop()
        record = Record(
            key=key,
            type=args.typ,
            name=args.name,
            custom=True,
            id=rid,
            physical_name=planned.physical_name,
            inputs=normalized,
            outputs=json.loads(json.dumps(outputs, default=str)),
            deps=deps,
            **_flags(options),
        )
        self._save(record, step)
        return rid, {**inputs, **outputs}

    def _adopt(
        self, handler: Any, key: str, planned: Planned, exc: ClientError, interrupted: str | None
    ) -> tuple[str, dict[str, Any]] | None:
        """The existing resource, when the create failed only because it already exists and
        it is this stack's own: botocore retried the call (a read timeout after the cloud had
        created it), or an interrupted run's pending create named it. Names are per stack,
        so either is proof; any other conflict stays a failure."""
        if planned.physical_name is None or error_code(exc) not in handler.already_exists:
            return None
        retries = int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts") or 0)
        if retries == 0 and interrupted != planned.physical_name:
            return None
        why = (
            f"botocore retried the create {retries} time(s)"
            if retries
            else "an interrupted run's create of it was pending"
        )
        logger.warning("%s: %s already exists and %s; adopting it", key, planned.physical_name, why)
        return handler.adopt(self.engine.ctx, planned)

    def _save(self, record: Record, step: Step) -> None:
        self.steps.append(step)
        if self.preview:
            return
        record.seq = self.state.take_seq()
        self.state.put(record)
        self.engine._after(step)


def _options(request: Any) -> dict[str, Any]:
    if request is None:
        return {
            "ignore_changes": [],
            "replace_on_changes": [],
            "protect": False,
            "retain_on_delete": False,
        }
    return {
        "ignore_changes": list(request.ignoreChanges),
        "replace_on_changes": list(request.replaceOnChanges),
        "protect": bool(request.protect),
        "retain_on_delete": bool(request.retainOnDelete),
    }


def _flags(options: Mapping[str, Any]) -> dict[str, bool]:
    return {"protect": options["protect"], "retain_on_delete": options["retain_on_delete"]}


READ_TIMEOUT = 300  # seconds
_CLIENTS: dict[tuple[str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _boto3_factory(endpoint: str) -> Callable[[str], Any]:
    """Clients on `endpoint`, made once per process: a new boto3 session costs ~0.5 s of
    model loading per client, more than a whole no-op `up`. boto3 clients are thread-safe."""
    import boto3
    from botocore.config import Config

    def factory(service: str) -> Any:
        with _CLIENTS_LOCK:
            key = (endpoint, service)
            if key not in _CLIENTS:
                if not _CLIENTS:
                    _CLIENTS[("", "session")] = boto3.session.Session(
                        aws_access_key_id="test",
                        aws_secret_access_key="test",
                        region_name="us-east-1",
                    )
                session = _CLIENTS[("", "session")]
                # A long read timeout: a loaded local cloud can take over botocore's 60 s
                # default, and a create retried after timing out finds what the first
                # attempt made (the engine adopts it; see _DeployMocks._adopt).
                _CLIENTS[key] = session.client(
                    service,
                    endpoint_url=endpoint,
                    config=Config(
                        retries={"mode": "standard", "max_attempts": 3},
                        connect_timeout=10,
                        read_timeout=READ_TIMEOUT,
                    ),
                )
            return _CLIENTS[key]

    return factory
