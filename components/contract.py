"""The program's failure contract, assembled from every pattern component it creates.

Each pattern component declares itself here when it is built: its component type (the key
of its experiment templates and routes builder), its instance name, its outputs and the
ledger partition its side effects land in. `export_all()`, the last line of a program,
exports each instance's outputs under its instance key, the `instances` index the chaos
suite enumerates, and the `routes` of every instance. No program keeps a list of its
instances by hand: one more `QueueWorker("payments", args)` line is one more instance.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
from pulumi.runtime import settings

from components import outputs as keys
from components.errors import ComponentError
from components.limits import COMPONENT_TYPE_PREFIX
from components.routes import build_routes

_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")


class ContractError(ComponentError, ValueError):
    """Two instances on one key, or an instance name that cannot be an output key."""


@dataclass(frozen=True)
class Instance:
    key: str  # its stack output key (and routes key): the name with '-' as '_'
    type: str  # component type: a key of components.outputs.PATTERNS
    name: str  # the Pulumi resource name the program gave it
    component: PatternComponent  # its outputs, ledger partition, ledger kind, event


def instance_key(name: str) -> str:
    """The stack output key of an instance named `name` ("queue-worker" -> "queue_worker")."""
    key = name.replace("-", "_").lower()
    if not _KEY_RE.fullmatch(key) or key in keys.RESERVED:
        raise ContractError(
            f"instance name {name!r} cannot be a stack output key: allowed letters, digits, "
            f"'-' and '_', starting with a letter, at most 63, and none of "
            f"{', '.join(sorted(keys.RESERVED))}"
        )
    return key


class InstanceArgs(TypedDict):
    """What every pattern component's Args may say of the instance to the chaos suite."""

    chaos_event: NotRequired[dict[str, Any]]
    """A valid event of this instance's business: chaos traffic sends it with its own `id`
    and markers merged in (default: the id and markers alone)."""
    ledger_records: NotRequired[str]
    """What its handlers record in the ledger: "side_effects" (each side effect, idempotent:
    this project's handlers) or "handled" (each event handled: a handler wearing
    @chaos_handler, whose business code the ledger cannot see)."""


class PatternComponent(pulumi.ComponentResource):
    """A pattern component: a ComponentResource `failmodes:index:<kind>` that reads what
    the contract needs of the instance from its Args (InstanceArgs, and `ledger_pattern`),
    and declares itself (`declare`) once its outputs are built."""

    ledger_pattern: str
    chaos_event: dict[str, Any] | None
    ledger_records: str
    outputs: Any

    def __init__(
        self, kind: str, name: str, args: Any, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}{kind}", name, None, opts)
        self.ledger_pattern = ledger_pattern(args, name)
        self.chaos_event = chaos_event(kind, args)
        self.ledger_records = ledger_records(kind, args)


def ledger_pattern(args: Any, name: str) -> str:
    """The instance's ledger partition: the Args' `ledger_pattern`, else its instance key."""
    given = args.get("ledger_pattern") if hasattr(args, "get") else None
    return str(given) if given else instance_key(name)


def chaos_event(component: str, args: Any) -> dict[str, Any] | None:
    """The Args' `chaos_event`: a JSON object of the instance's business, without `id`."""
    event = args.get("chaos_event") if hasattr(args, "get") else None
    if event is None:
        return None
    if not isinstance(event, dict) or "id" in event:
        raise ContractError(
            f"{component}: chaos_event={event!r} is invalid; allowed: a JSON object without "
            "'id' (chaos traffic sets each event's id)"
        )
    try:
        json.dumps(event)
    except (TypeError, ValueError):
        raise ContractError(
            f"{component}: chaos_event is not JSON; allowed: a JSON object without 'id'"
        ) from None
    return dict(event)


# What an instance's handlers record in the ledger (Args `ledger_records`): each side effect
# (this project's handlers, idempotent), or each event handled (@chaos_handler on a user's
# handler). Only the first can show a repeated side effect.
LEDGER_RECORDS = ("side_effects", "handled")


def ledger_records(component: str, args: Any) -> str:
    value = args.get("ledger_records", LEDGER_RECORDS[0]) if hasattr(args, "get") else None
    if value not in LEDGER_RECORDS:
        raise ContractError(
            f"{component}: ledger_records={value!r} is invalid; allowed: "
            f"{', '.join(LEDGER_RECORDS)}"
        )
    return str(value)


# The instances declared in each program run, by the run's root (stack) resource: one run per
# `pulumi up`, several in one process under the Pulumi mocks (tests, the emulated deploy).
_RUNS: dict[int, tuple[Any, dict[str, Instance]]] = {}


def _run_instances() -> dict[str, Instance]:
    root = settings.get_root_resource()
    return _RUNS.setdefault(id(root), (root, {}))[1]


def declare(
    component: PatternComponent, type_: str, name: str, opts: pulumi.ResourceOptions | None = None
) -> Instance | None:
    """Called by a pattern component once its `outputs` and `ledger_pattern` are set. A
    pattern component built inside another (a FanOut's subscriber QueueWorkers) is part of
    its parent's contract, not an instance of its own: None."""
    if opts is not None and isinstance(opts.parent, PatternComponent):
        return None
    if type_ not in keys.PATTERNS:
        raise ContractError(
            f"unknown component type {type_!r}; allowed: {', '.join(keys.PATTERNS)}"
        )
    instance = Instance(instance_key(name), type_, name, component)
    found = _run_instances()
    if instance.key in found:
        raise ContractError(
            f"instances {found[instance.key].name!r} and {name!r} share the output key "
            f"{instance.key!r}: give one another name"
        )
    found[instance.key] = instance
    return instance


def components(type_: str) -> list[Any]:
    """The components of one type declared so far in this program run, in order."""
    return [i.component for i in _run_instances().values() if i.type == type_]


def export_all() -> dict[str, Instance]:
    """Export every declared instance: its outputs, the `instances` index and the routes."""
    root = settings.get_root_resource()
    found = dict(_RUNS.pop(id(root), (root, {}))[1])
    for key, instance in found.items():
        pulumi.export(key, instance.component.outputs)
    pulumi.export(
        keys.INSTANCES,
        {
            key: {
                "type": i.type,
                "name": i.name,
                "ledger_pattern": i.component.ledger_pattern,
                "ledger_records": i.component.ledger_records,
                **({"event": i.component.chaos_event} if i.component.chaos_event else {}),
            }
            for key, i in found.items()
        },
    )
    ledgers = {key: i.component.ledger_pattern for key, i in found.items()}
    # Routes name queues and partitions, never a secret: built without the secret fields,
    # they stay a plain output.
    public = {key: _public(i.component.outputs) for key, i in found.items()}
    types = {key: i.type for key, i in found.items()}
    pulumi.export(
        keys.ROUTES,
        pulumi.Output.all(**public).apply(lambda resolved: build_routes(resolved, ledgers, types)),
    )
    return found


def _public(outputs: Any) -> Any:
    """An instance's outputs without its secret fields (components.outputs.SECRET_FIELDS): a
    component with a secret field keeps its outputs a dict, so the rest stays plain."""
    if isinstance(outputs, dict):
        return {k: v for k, v in outputs.items() if k not in keys.SECRET_FIELDS}
    return outputs
