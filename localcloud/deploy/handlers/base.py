"""What every resource handler is: create / update / delete one resource type with boto3.

A handler declares which input keys it applies (`applies`), which it accepts
but does not apply (`ignores`, each listed in the README), and which force a
replacement (`replace_on`). Any other input key fails the run naming it, so a
setting the program relies on is never dropped silently.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from ..exceptions import DeployError

logger = logging.getLogger(__name__)

REGION = "us-east-1"
# Tags are accepted everywhere and not applied: nothing in the local cloud reads them.
COMMON_IGNORED = frozenset({"tags", "tagsAll", "region"})


class UnsupportedInput(DeployError):
    def __init__(self, typ: str, name: str, keys: list[str]) -> None:
        super().__init__(
            f"resource {name!r} ({typ}) sets {', '.join(sorted(keys))}, which the emulated "
            "deploy does not apply; extend its handler rather than dropping the setting"
        )


@dataclass
class Context:
    """What a handler may use: clients on the local cloud, and where it is."""

    endpoint: str
    client_factory: Callable[[str], Any]
    base_dir: Path = Path(".")  # the project directory: relative asset paths resolve here
    account_id: str = "123456789012"
    region: str = REGION
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.client_factory(service)
        return self._clients[service]


@dataclass
class Planned:
    """One resource as the handler sees it: logical name, physical name and inputs."""

    typ: str
    name: str  # logical (Pulumi) name
    inputs: dict[str, Any]
    physical_name: str | None = None  # the explicit or auto-generated name, when the type has one

    @property
    def physical(self) -> str:
        """The physical name, for types that have one (a handler bug otherwise)."""
        if self.physical_name is None:
            raise DeployError(f"{self.typ} {self.name!r}: no physical name")
        return self.physical_name


class Handler:
    typ: ClassVar[str]
    applies: ClassVar[frozenset[str]] = frozenset()
    ignores: ClassVar[frozenset[str]] = frozenset()
    replace_on: ClassVar[frozenset[str]] = frozenset()
    # Every input change replaces: for types the AWS API cannot modify in place.
    replace_on_any: ClassVar[bool] = False
    # The input holding the physical name, auto-generated from the logical name when absent
    # (as pulumi-aws does); None for types without a name.
    name_input: ClassVar[str | None] = None
    name_max: ClassVar[int] = 64
    # Error codes the create call answers when its physical name is taken. The engine then
    # calls `adopt` if the resource is provably this stack's own (a retried or interrupted
    # create of that very name); any other conflict fails the run as before.
    already_exists: ClassVar[frozenset[str]] = frozenset()

    def check(self, name: str, inputs: Mapping[str, Any]) -> None:
        unknown = set(inputs) - self.applies - self.ignores - COMMON_IGNORED
        if unknown:
            raise UnsupportedInput(self.typ, name, sorted(unknown))

    def physical_name(
        self, name: str, inputs: Mapping[str, Any], previous: str | None
    ) -> str | None:
        """The explicit name, else `previous` (kept across runs), else `<name>-<7 hex>`."""
        if self.name_input is None:
            return None
        explicit = inputs.get(self.name_input)
        if explicit:
            return str(explicit)
        if previous:
            return previous
        suffix = self.name_suffix(inputs)
        prefix = inputs.get("namePrefix")
        if prefix:
            base = f"{prefix}{secrets.token_hex(13)}"[: self.name_max - len(suffix)]
            return base + suffix
        tail = "-" + secrets.token_hex(4)[:7]
        return name[: self.name_max - len(tail) - len(suffix)] + tail + suffix

    def name_suffix(self, inputs: Mapping[str, Any]) -> str:
        """What an auto-generated name must end with (FIFO queues and topics: .fifo)."""
        return ""

    def exists(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> bool | None:
        """Whether the resource is in the cloud; None when this type has no cheap check."""
        return None

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def adopt(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]] | None:
        """Finish creating `res` from the existing resource of its physical name, as `create`
        would after its create call; None when this type cannot adopt."""
        return None

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        """Apply `changed` keys in place; return the new outputs. `old` = previous outputs."""
        raise NotImplementedError

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        raise NotImplementedError


def num(value: Any) -> Any:
    """The mock runtime hands every number over as float; AWS integer fields reject 4.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def ints(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: ints(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [ints(v) for v in obj]
    return num(obj)


def pascal(obj: Any, keep_maps: frozenset[str] = frozenset()) -> Any:
    """camelCase input keys -> the API's PascalCase, recursively; maps named in keep_maps
    (user keys such as tags or input paths) keep their keys."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            new_key = key[:1].upper() + key[1:]
            out[new_key] = ints(value) if key in keep_maps else pascal(value, keep_maps)
        return out
    if isinstance(obj, list):
        return [pascal(v, keep_maps) for v in obj]
    return num(obj)


def pick(inputs: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """{api_name: value} for each input key present (not None) in `mapping` {input: api_name}."""
    return {api: num(inputs[key]) for key, api in mapping.items() if inputs.get(key) is not None}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def probe(fn: Callable[[], Any]) -> bool:
    """True when the describe call succeeds, False when the resource is not found."""
    try:
        fn()
    except ClientError as exc:
        if (
            "NotFound" in error_code(exc)
            or "NonExistent" in error_code(exc)
            or error_code(exc) in ("NoSuchEntity", "QueueDoesNotExist")
        ):
            return False
        raise
    return True


def ignore_missing(fn: Callable[[], Any], *codes: str) -> None:
    """Run a delete, treating 'already gone' as done, so an interrupted destroy can resume."""
    gone = set(codes) | {
        "ResourceNotFoundException",
        "NotFoundException",
        "NoSuchEntity",
        "NotFound",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "ObjectNotFoundException",
        "StateMachineDoesNotExist",
    }
    try:
        fn()
    except ClientError as exc:
        if error_code(exc) not in gone:
            raise
        logger.info("already gone: %s", exc)
