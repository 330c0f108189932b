"""Mocks that record what a Pulumi program registers, answering with plausible AWS values.

Used by the emulated deploy (the policy pack's verdict before anything is created), by
the mutation operators' graph and by the unit tests of the program and its components.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from .mock_values import plausible_outputs

__all__ = ["PlacementMonitor", "RecordingMocks", "Registration"]


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
        # The stack's outputs as the SDK serializes them for the engine (program.run_program):
        # a secret (pulumi.Output.secret) is still in its envelope, where it is.
        self.stack_outputs: dict[str, Any] = {}

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

    def note_stack_outputs(self, outputs: dict[str, Any]) -> None:
        with self._lock:
            self.stack_outputs = outputs

    def secret_outputs(self) -> list[str]:
        """Dotted paths of the stack outputs the program exported as secrets."""
        found: list[str] = []

        def walk(value: Any, path: str) -> None:
            if rpc.is_rpc_secret(value):
                found.append(path)
            elif isinstance(value, dict):
                for key, item in value.items():
                    walk(item, f"{path}.{key}" if path else key)

        walk(self.stack_outputs, "")
        return sorted(found)

    # Lookups for tests and the policy pack.
    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def get(self, type_: str, name: str) -> Registration:
        try:
            return self._by_key[(type_, name)]
        except KeyError:
            raise KeyError(f"no {type_} named {name!r} was registered") from None

    def __iter__(self) -> Iterator[Registration]:
        return iter(list(self.registrations))


class PlacementMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also telling the mocks each resource's URN and parent."""

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        note = getattr(self.mocks, "note_placement", None)
        if note is not None and request.type != "pulumi:pulumi:Stack":
            note(request.type, request.name, response.urn, request.parent)
        return response
