"""Run the Pulumi program in-process under the SDK's mock runtime.

Used by the unit tests (with RecordingMocks) and by the emulated deploy of the
local cloud (with its own Mocks subclass). There is no Pulumi CLI here, so this
module does what the CLI's language host would: load the project's config schema
and the stack's config, configure the runtime, run `__main__.py` inside a fresh
root stack, and resolve the stack outputs. Hand-written because the SDK offers
only `set_mocks` (which finishes its own empty root stack) and no config loader.
"""

from __future__ import annotations

import json
import logging
import re
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import Stack, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.mock_values import plausible_outputs

__all__ = [
    "PROJECT",
    "ProgramConfigError",
    "RecordingMocks",
    "Registration",
    "load_config",
    "run_in_stack",
    "run_program",
]

logger = logging.getLogger(__name__)

PROJECT = "failmodes"
DEFAULT_PROJECT_DIR = Path(__file__).resolve().parent.parent
_RUN_LOCK = threading.Lock()


class ProgramConfigError(ValueError):
    """The stack's config cannot be loaded: unknown stack file, undeclared key, wrong type."""


# Pulumi's rule for a stack name (letters, digits, '-', '_', '.'); no leading '.', so a name
# is never a path of its own ("..", ".hidden") under .localcloud/, .chaos/ or Pulumi.<s>.yaml.
STACK_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")
STACK_NAME_RULE = "letters, digits, '-', '_' and '.' (not first), at most 100 characters"


def check_stack_name(name: str) -> str:
    if not STACK_NAME_RE.match(name or ""):
        raise ProgramConfigError(f"invalid stack name {name!r}: allowed are {STACK_NAME_RULE}")
    return name


# A declared key's bounds are written in its Pulumi.yaml description, "(1-900)" or
# "(-1 infinite, or 0-10000)" or "(2-1000); 0 leaves it uncapped": Pulumi's config schema has
# no minimum/maximum keywords, so the description is the one place they are stated.
_RANGE_RE = re.compile(
    r"\((?P<pre>[^()]*?)(?P<low>-?\d+(?:\.\d+)?)-(?P<high>\d+(?:\.\d+)?)(?P<post>[^()]*)\)"
    r"(?P<after>[^.]*)"
)
_EXTRA_RE = re.compile(r"(-?\d+(?:\.\d+)?) (?:infinite|leaves|disables|means)")
_BOOLEANS = ("true", "false")


def _declared_bounds(spec: Mapping[str, Any]) -> tuple[float, float, tuple[float, ...]] | None:
    match = _RANGE_RE.search(str(spec.get("description", "")))
    if not match:
        return None
    extras = _EXTRA_RE.findall(match["pre"] + match["post"] + match["after"])
    return float(match["low"]), float(match["high"]), tuple(float(x) for x in extras)


def _known_regions() -> set[str]:
    import boto3

    session = boto3.session.Session()
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("lambda", partition_name=partition)
    }


def _check_value(key: str, spec: Mapping[str, Any], value: str, origin: str) -> None:
    """One declared key's final (string) value against its type and declared bounds."""
    kind = spec.get("type", "string")
    bounds = _declared_bounds(spec)

    def bad(allowed: str) -> ProgramConfigError:
        return ProgramConfigError(
            f"{origin}: config {key}={value!r} is invalid; allowed: {allowed} (Pulumi.yaml)"
        )

    if kind == "boolean":
        if value not in _BOOLEANS:
            raise bad("true or false")
        return
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", value.strip()):
            raise bad("an integer" + (f" {_describe(bounds)}" if bounds else ""))
        number = float(value)
    elif kind == "string" and bounds is not None:
        try:
            number = float(value)
        except ValueError:
            raise bad(f"a number {_describe(bounds)}") from None
    else:
        return
    if bounds is not None:
        low, high, extras = bounds
        if not (low <= number <= high or number in extras):
            raise bad(_describe(bounds))


def _describe(bounds: tuple[float, float, tuple[float, ...]]) -> str:
    low, high, extras = bounds
    text = f"{low:g}..{high:g}"
    return text + (f" or {', '.join(f'{x:g}' for x in extras)}" if extras else "")


def _check_provider_value(key: str, value: str, origin: str) -> None:
    if key == "aws:region" and value not in _known_regions():
        raise ProgramConfigError(
            f"{origin}: config aws:region={value!r} is not an AWS region; allowed: a region"
            " botocore knows, e.g. us-east-1, eu-west-1"
        )


@dataclass
class Registration:
    """One resource the program registered."""

    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    urn: str | None = None
    parent: str | None = None  # parent URN ("" never: None for the root stack's children)
    custom: bool = True

    @property
    def props(self) -> dict[str, Any]:
        """Inputs overlaid by outputs, as a policy pack sees a resource."""
        return {**self.outputs, **self.inputs}


class RecordingMocks(pulumi_mocks.Mocks):
    """Records every registration and answers with plausible AWS ids, ARNs and URLs."""

    def __init__(self, region: str = "us-east-1", account: str = "123456789012") -> None:
        self.region = region
        self.account = account
        self.registrations: list[Registration] = []
        self._by_key: dict[tuple[str, str], Registration] = {}
        self._lock = threading.Lock()

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        resource_id, outputs = plausible_outputs(
            args.typ, args.name, args.inputs, self.region, self.account
        )
        with self._lock:
            registration = Registration(
                type=args.typ,
                name=args.name,
                inputs=dict(args.inputs),
                outputs=outputs,
                id=resource_id,
                custom=bool(args.custom),
            )
            self.registrations.append(registration)
            self._by_key[(args.typ, args.name)] = registration
        return resource_id, {**args.inputs, **outputs}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account,
                "arn": f"arn:aws:iam::{self.account}:user/mock",
                "userId": "MOCK",
                "id": self.account,
            }, None
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, None
        raise NotImplementedError(f"RecordingMocks has no answer for invoke {args.token}")

    def note_placement(self, type_: str, name: str, urn: str, parent: str) -> None:
        with self._lock:
            registration = self._by_key.get((type_, name))
            if registration is not None:
                registration.urn = urn
                registration.parent = parent or None

    # Lookups for tests and the policy pack.
    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def get(self, type_: str, name: str) -> Registration:
        try:
            return self._by_key[(type_, name)]
        except KeyError:
            raise KeyError(f"no {type_} named {name!r} was registered") from None

    def children_of(self, urn: str) -> list[Registration]:
        return [r for r in self.registrations if r.parent == urn]

    def __iter__(self) -> Iterator[Registration]:
        return iter(list(self.registrations))


class _PlacementMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also telling the mocks each resource's URN and parent."""

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        note = getattr(self.mocks, "note_placement", None)
        if note is not None and request.type != "pulumi:pulumi:Stack":
            note(request.type, request.name, response.urn, request.parent)
        return response


def _stringify(value: Any) -> str:
    # The language host hands the program every config value as a string;
    # structured values as JSON (Config.get_object parses them back).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _check_type(key: str, declared: Mapping[str, Any], value: Any, origin: str) -> None:
    kind = declared.get("type", "string")
    ok = {
        "string": lambda v: isinstance(v, str | int | float) and not isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
    }.get(kind, lambda v: True)(value)
    if not ok:
        raise ProgramConfigError(
            f"{origin}: config {key!r}={value!r} is not of declared type {kind}"
        )


def load_config(
    stack: str, project_dir: Path | None = None, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Schema defaults from Pulumi.yaml, then Pulumi.<stack>.yaml, then overrides.

    Keys come back fully qualified ("failmodes:functionTimeout", "aws:region"), values as
    strings, as the real language host passes them. Keys may be given bare (project
    namespace) or qualified.
    """
    check_stack_name(stack)
    root = Path(project_dir or DEFAULT_PROJECT_DIR)
    project_file = root / "Pulumi.yaml"
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not project_file.is_file():
        raise ProgramConfigError(f"no project file {project_file}")
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
        raise ProgramConfigError(
            f"unknown stack {stack!r}: {stack_file} does not exist (stacks: {known})"
        )
    project = yaml.safe_load(project_file.read_text()) or {}
    name = project.get("name", PROJECT)
    schema: dict[str, Mapping[str, Any]] = {}
    for key, spec in (project.get("config") or {}).items():
        qualified = key if ":" in key else f"{name}:{key}"
        schema[qualified] = spec if isinstance(spec, Mapping) else {"default": spec}

    def qualify(key: str) -> str:
        return key if ":" in key else f"{name}:{key}"

    config: dict[str, str] = {}
    origins: dict[str, str] = {}
    for key, spec in schema.items():
        if "default" in spec:
            config[key] = _stringify(spec["default"])
            origins[key] = "Pulumi.yaml default"
    stack_config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    for raw_key, value in stack_config.items():
        key = qualify(raw_key)
        if key.startswith(f"{name}:"):
            if key not in schema:
                raise ProgramConfigError(
                    f"{stack_file.name}: config key {key!r} is not declared in Pulumi.yaml"
                )
            _check_type(key, schema[key], value, stack_file.name)
        config[key] = _stringify(value)
        origins[key] = stack_file.name
    for raw_key, value in (overrides or {}).items():
        key = qualify(raw_key)
        if key.startswith(f"{name}:") and key not in schema:
            allowed = ", ".join(sorted(k.split(":", 1)[1] for k in schema))
            raise ProgramConfigError(
                f"override: config key {key!r} is not declared in Pulumi.yaml; declared: {allowed}"
            )
        config[key] = _stringify(value)
        origins[key] = "override"
    # Every value checked here, before the program runs: a bad one must stop the deploy
    # before its first resource, not half way through it.
    for key, value in config.items():
        if key in schema:
            _check_value(key, schema[key], value, origins[key])
        else:
            _check_provider_value(key, value, origins.get(key, "config"))
    return config


def _configure_runtime(mocks: pulumi.runtime.Mocks, stack: str, preview: bool) -> None:
    pulumi_settings.reset_options(project=PROJECT, stack=stack, preview=preview)
    monitor = _PlacementMonitor(mocks)
    settings = pulumi_mocks.MockSettings(
        monitor=monitor,
        monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
        engine=pulumi_mocks.MockEngine(logging.getLogger("pulumi.engine")),
        project=PROJECT,
        stack=stack,
        dry_run=preview,
        organization="organization",
        callbacks=None,
    )
    pulumi_settings.configure(settings)


def run_in_stack(
    build: Callable[[], Any],
    mocks: pulumi.runtime.Mocks,
    *,
    stack: str = "test",
    preview: bool = False,
) -> Any:
    """Run `build()` (which creates resources) in a fresh root stack under `mocks`;
    return what it returned, with every Output in it resolved. For component tests."""
    with _RUN_LOCK:
        _configure_runtime(mocks, stack, preview)
        set_all_config({}, [])
        holder: dict[str, Any] = {}

        def body() -> None:
            root = Stack()
            try:
                holder["result"] = build()
            finally:
                root._finish()

        try:
            _sync_await(run_pulumi_func(body))
            return _sync_await(pulumi.Output.from_input(holder.get("result")).future())
        finally:
            pulumi_settings.ROOT.set(None)


def run_program(
    stack: str,
    mocks: pulumi.runtime.Mocks,
    *,
    project_dir: Path | None = None,
    config_overrides: Mapping[str, str] | None = None,
    preview: bool = False,
    transformations: Sequence[Callable[[Any], Any]] = (),
) -> dict[str, Any]:
    """Run `__main__.py` for `stack` under `mocks`; return the stack outputs as plain values.

    `transformations` are registered as stack transformations before `__main__.py` runs, as
    the emulated deploy does (`localcloud.deploy.program.run_program`), so a test sees the
    graph a transformed deploy would create.

    Safe to call many times in one process (one run at a time): every call resets the
    runtime settings, config and root stack.
    """
    root = Path(project_dir or DEFAULT_PROJECT_DIR).resolve()
    config = load_config(stack, root, config_overrides)
    with _RUN_LOCK:
        _configure_runtime(mocks, stack, preview)
        set_all_config(config, [])
        holder: dict[str, Stack] = {}

        def body() -> None:
            holder["stack"] = Stack()
            try:
                for transformation in transformations:
                    pulumi.runtime.register_stack_transformation(transformation)
                added = str(root) not in sys.path
                if added:
                    sys.path.insert(0, str(root))
                try:
                    runpy.run_path(str(root / "__main__.py"), run_name="__main__")
                finally:
                    if added:
                        sys.path.remove(str(root))
            finally:
                holder["stack"]._finish()

        try:
            _sync_await(run_pulumi_func(body))
            outputs = holder["stack"].outputs
            return _sync_await(pulumi.Output.from_input(outputs).future()) or {}
        finally:
            pulumi_settings.ROOT.set(None)
