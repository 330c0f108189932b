"""Fault actions with paired, idempotent undos, journalled before each change.

Actions: the fault-injection env flags of a function (names in functions/faults/settings.py),
reserved concurrency (Lambda-level throttling), and disabling an event source mapping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from chaos import grants
from chaos.errors import (
    AwsCallError,
    ChaosError,
    FaultValueError,
    IdentityMismatchError,
    aws_call,
)
from chaos.journal import Journal, describe_identity, same_identity
from chaos.stack import Stack
from chaos.types import JournalEntry
from functions.faults import settings

logger = logging.getLogger(__name__)

FAULT_KEYS: dict[str, str] = {
    "failure_rate": settings.FAILURE_RATE,
    "latency": settings.LATENCY,
    "timeout": settings.TIMEOUT,
    "throttle": settings.THROTTLE,
    "match": settings.MATCH,
    "seed": settings.SEED,
    "fail_attempts": settings.FAIL_ATTEMPTS,
    "fail_phase": settings.FAIL_PHASE,
    "record_attempts": settings.RECORD_ATTEMPTS,
}
WAIT_TIMEOUT = 300.0
# What Lambda answers for a function or mapping that is gone, and SQS for a queue that is
# gone (a revoked queue grant): nothing is left to restore.
GONE_CODES = frozenset(
    {"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
)


def validate_env(env: Mapping[str, str | None]) -> None:
    """Reject fault values the middleware would reject, before the function is touched.

    `env` is the function's would-be environment; the middleware's own parser
    (functions/faults/settings.parse) judges it, so each format has one definition. The master
    switch is forced on for the check: an "off" switch would skip parsing the other values.
    """
    values = {name: env.get(name) for name in settings.ALL_VARIABLES}
    if all(v is None for v in values.values()):
        return
    try:
        settings.parse_switch(settings.MASTER, values[settings.MASTER])
        settings.parse({**values, settings.MASTER: "on"})
    except Exception as exc:  # FaultConfigError names the variable and the bad value
        raise FaultValueError(f"fault setting rejected: {exc}") from exc


def _wait_function_updated(stack: Stack, function: str) -> None:
    """Traffic must not start before the new configuration is live (LastUpdateStatus)."""
    with aws_call(function, "lambda:wait function_updated"):
        stack.client("lambda").get_waiter("function_updated").wait(
            FunctionName=function, WaiterConfig={"Delay": 1, "MaxAttempts": int(WAIT_TIMEOUT)}
        )


def _current_env(stack: Stack, function: str) -> dict[str, str]:
    with aws_call(function, "lambda:GetFunctionConfiguration"):
        conf = stack.client("lambda").get_function_configuration(FunctionName=function)
    return dict((conf.get("Environment") or {}).get("Variables") or {})


def _apply_env(stack: Stack, function: str, values: Mapping[str, str | None]) -> bool:
    """Merge into the current env (None removes); no call when nothing would change."""
    env = _current_env(stack, function)
    merged = dict(env)
    for name, value in values.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = str(value)
    if merged == env:
        return False
    with aws_call(function, "lambda:UpdateFunctionConfiguration"):
        stack.client("lambda").update_function_configuration(
            FunctionName=function, Environment={"Variables": merged}
        )
    _wait_function_updated(stack, function)
    return True


def _current_concurrency(stack: Stack, function: str) -> int | None:
    with aws_call(function, "lambda:GetFunctionConcurrency"):
        resp = stack.client("lambda").get_function_concurrency(FunctionName=function)
    value = resp.get("ReservedConcurrentExecutions")
    return None if value is None else int(value)


def _apply_concurrency(stack: Stack, function: str, value: int | None) -> bool:
    if _current_concurrency(stack, function) == value:
        return False
    lam = stack.client("lambda")
    if value is None:
        with aws_call(function, "lambda:DeleteFunctionConcurrency"):
            lam.delete_function_concurrency(FunctionName=function)
    else:
        with aws_call(function, "lambda:PutFunctionConcurrency"):
            lam.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=value)
    return True


def _mapping_state(stack: Stack, uuid: str) -> str:
    with aws_call(f"event source mapping {uuid}", "lambda:GetEventSourceMapping"):
        return str(stack.client("lambda").get_event_source_mapping(UUID=uuid)["State"])


def _apply_mapping(stack: Stack, uuid: str, enabled: bool) -> bool:
    want = "Enabled" if enabled else "Disabled"
    if _mapping_state(stack, uuid) == want:
        return False
    with aws_call(f"event source mapping {uuid}", "lambda:UpdateEventSourceMapping"):
        stack.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=enabled)
    # AWS passes through Enabling/Disabling for seconds; poll the state, never sleep blind.
    deadline = time.monotonic() + WAIT_TIMEOUT
    while (state := _mapping_state(stack, uuid)) != want:
        if time.monotonic() > deadline:
            raise ChaosError(f"event source mapping {uuid} still {state} after {WAIT_TIMEOUT:.0f}s")
        time.sleep(0.5)
    return True


_RESTORERS: dict[str, Callable[[Stack, JournalEntry], bool]] = {
    "env": lambda s, e: _apply_env(s, e["target"], e["prior"]["env"]),
    "concurrency": lambda s, e: _apply_concurrency(s, e["target"], e["prior"]["reserved"]),
    "mapping": lambda s, e: _apply_mapping(s, e["target"], e["prior"]["enabled"]),
    "grant": lambda s, e: grants.restore(s, e["target"], e["prior"]),
}


def restore(stack: Stack, entry: JournalEntry) -> bool:
    """Put one target back to its journalled prior state. Safe to run twice: a no-op then."""
    return _RESTORERS[entry["kind"]](stack, entry)


class Faults:
    """Fault actions on one stack; every change journalled first and undoable by token."""

    def __init__(self, stack: Stack, journal: Journal | None = None) -> None:
        self.stack = stack
        self.journal = journal or Journal(stack.name)
        # Held from a change's journal entry until it is applied, so a stop (signal) that
        # rolls back never races a change half made by another thread.
        self._changing = threading.RLock()
        self.lease: Any = None  # a chaos.lease.Lease when prepare() took one

    def _begin(self, kind: str, target: str, prior: dict[str, Any], change: dict[str, Any]) -> str:
        if self.journal.identity is None:
            self.journal.identity = self.stack.identity()
        return self.journal.begin(kind, target, prior, change)  # type: ignore[arg-type]

    def set_env(self, function: str, values: Mapping[str, str | None]) -> str:
        current = _current_env(self.stack, function)
        validate_env({**current, **values})
        prior = {name: current.get(name) for name in values}
        with self._changing:
            token = self._begin("env", function, {"env": prior}, {"env": dict(values)})
            _apply_env(self.stack, function, values)
        logger.info("env of %s set: %s", function, dict(values))
        return token

    def inject(self, function: str, **faults: Any) -> str:
        """Turn the middleware on with these faults (failure_rate=1.0, latency="fixed:2s", ...)."""
        unknown = set(faults) - set(FAULT_KEYS)
        if unknown:
            raise FaultValueError(
                f"unknown fault(s) {sorted(unknown)}; known: {sorted(FAULT_KEYS)}"
            )
        values: dict[str, str | None] = {settings.MASTER: "on"}
        for key, value in faults.items():
            if isinstance(value, bool):
                value = "on" if value else "off"
            values[FAULT_KEYS[key]] = None if value is None else str(value)
        return self.set_env(function, values)

    def clear(self, function: str) -> str:
        return self.set_env(function, {name: None for name in settings.ALL_VARIABLES})

    def set_reserved_concurrency(self, function: str, value: int | None) -> str:
        if value is not None and (not isinstance(value, int) or value < 0):
            raise FaultValueError(
                f"reserved concurrency for {function} must be an int >= 0, got {value!r}"
            )
        prior = _current_concurrency(self.stack, function)
        with self._changing:
            token = self._begin("concurrency", function, {"reserved": prior}, {"reserved": value})
            _apply_concurrency(self.stack, function, value)
        logger.info("reserved concurrency of %s: %s -> %s", function, prior, value)
        return token

    def set_mapping_enabled(self, uuid: str, enabled: bool) -> str:
        prior = _mapping_state(self.stack, uuid) in ("Enabled", "Enabling", "Updating")
        with self._changing:
            token = self._begin("mapping", uuid, {"enabled": prior}, {"enabled": enabled})
            _apply_mapping(self.stack, uuid, enabled)
        return token

    def revoke_grant(self, on: grants.GrantOn, target: str, principal: str) -> str:
        """Take a service principal's grant away from a function or a queue (the hop from
        SNS / EventBridge / API Gateway then fails as AWS fails it)."""
        prior = grants.current(self.stack, on, target, principal)
        with self._changing:
            token = self._begin("grant", target, prior, {"revoke": principal, "on": on})
            removed = grants.revoke(self.stack, on, target, principal)
        if not removed:
            logger.warning("%s %s has no grant to %s: nothing revoked", on, target, principal)
        return token

    def undo(self, token: str) -> None:
        for entry in self.journal.pending():
            if entry["token"] == token:
                _restore_or_vanished(self.stack, self.journal, entry)
                return
        # Already undone (or never made): undo is idempotent by design.

    def rollback(self) -> list[JournalEntry]:
        """Undo every pending change newest first; returns what was restored."""
        return rollback(self.stack, self.journal)

    def stop(self, reason: str) -> list[JournalEntry]:
        """End the run's changes at once: refuse new ones, wait for one in flight, roll back."""
        self.journal.close(reason)
        with self._changing:
            return rollback(self.stack, self.journal)


def _restore_or_vanished(stack: Stack, journal: Journal, entry: JournalEntry) -> bool:
    """Restore one entry and close it; True when its target no longer exists (closed too)."""
    try:
        restore(stack, entry)
    except AwsCallError as exc:
        if exc.code not in GONE_CODES:
            raise
        logger.warning(
            "%s %s no longer exists: counted as rolled back", entry["kind"], entry["target"]
        )
        journal.undone(entry["token"], vanished=True)
        return True
    journal.undone(entry["token"])
    return False


def check_journal_identity(stack: Stack, journal: Journal) -> None:
    """Refuse to restore entries made on another stack, endpoint, account or region."""
    here = stack.identity()
    for entry in journal.pending():
        made_on = entry.get("stack")
        if made_on and not same_identity(made_on, here):
            raise IdentityMismatchError(
                f"{journal.path}: its changes were made on {describe_identity(made_on)}, not"
                f" on {describe_identity(here)}; refusing to restore them here (point"
                f" --endpoint at the stack they were made on, or `python -m chaos rollback"
                f" --stack {stack.name} --discard` if that stack is gone)"
            )


def rollback(stack: Stack, journal: Journal) -> list[JournalEntry]:
    """Undo every pending change newest first. Returns the entries closed; those whose target
    no longer exists carry vanished=True (nothing to restore, counted as rolled back)."""
    check_journal_identity(stack, journal)
    restored: list[JournalEntry] = []
    errors: list[str] = []
    for entry in reversed(journal.pending()):
        try:
            vanished = _restore_or_vanished(stack, journal, entry)
        except ChaosError as exc:
            # Keep going: one stuck target must not leave the others faulted.
            errors.append(f"{entry['kind']} {entry['target']}: {exc}")
            continue
        restored.append({**entry, "vanished": True} if vanished else entry)
    if errors:
        raise ChaosError("rollback incomplete (journal kept): " + "; ".join(errors))
    journal.archive_if_settled()
    return restored
