"""One chaos run per stack at a time: a lease item in the stack's own ledger table.

The lease is a conditional PutItem (attribute_not_exists OR expired), so it holds across
processes and CI runners that share nothing but the stack. Its holder renews the expiry
while the run lasts; a holder killed with -9 stops renewing and the lease lapses after
`ttl` seconds, so a dead run never locks the stack for good. Released at the end.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chaos.errors import ChaosError, LeaseHeldError, aws_call
from chaos.stack import Stack
from components import outputs as keys

logger = logging.getLogger(__name__)

# The ledger's key schema (components/shared.py): hash "pattern", range "event_id". No
# pattern is called "lease", so the item never mixes with a pattern's side effects.
LEASE_KEY: dict[str, str] = {"pattern": "lease", "event_id": "chaos-run"}
DEFAULT_TTL = 120.0  # seconds a dead holder keeps the stack locked
RENEW_FRACTION = 3  # renew every ttl / 3: two renewals may fail before the lease lapses


def new_owner_id() -> str:
    """Who holds the lease, readable in the refusal: host, pid, CI run when there is one."""
    ci = os.environ.get("GITHUB_RUN_ID") or os.environ.get("CI_JOB_ID")
    parts = [socket.gethostname(), f"pid {os.getpid()}"]
    if ci:
        parts.append(f"ci run {ci}")
    return " ".join(parts) + f" [{uuid.uuid4().hex[:8]}]"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Lease:
    def __init__(
        self,
        stack: Stack,
        *,
        owner: str | None = None,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stack = stack
        self.table = str(stack.get(keys.LEDGER_TABLE))
        self.owner = owner or new_owner_id()
        self.ttl = ttl
        self.clock = clock
        self.expires_at = 0.0
        self.lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _ddb(self) -> Any:
        return self.stack.client("dynamodb")

    def _key(self) -> dict[str, Any]:
        return {k: {"S": v} for k, v in LEASE_KEY.items()}

    def acquire(self) -> None:
        """Take the lease or raise LeaseHeldError naming the holder and when it lapses."""
        now = self.clock()
        expires = now + self.ttl
        item = {
            **self._key(),
            "owner": {"S": self.owner},
            "expires_at": {"N": repr(expires)},
            "acquired_at": {"N": repr(now)},
        }
        try:
            self._ddb().put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(event_id) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": repr(now)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                with aws_call(f"lease in {self.table}", "dynamodb:PutItem"):
                    raise
            raise self._held_error() from None
        self.expires_at = expires
        self._start_renewer()
        logger.info(
            "lease on stack %s taken by %s until %s", self.stack.name, self.owner, _iso(expires)
        )

    def _held_error(self) -> LeaseHeldError:
        with aws_call(f"lease in {self.table}", "dynamodb:GetItem"):
            got = self._ddb().get_item(TableName=self.table, Key=self._key(), ConsistentRead=True)
        item = got.get("Item") or {}
        holder = item.get("owner", {}).get("S", "an unknown holder")
        expires = float(item.get("expires_at", {}).get("N", "0"))
        left = max(0.0, expires - self.clock())
        return LeaseHeldError(
            f"stack {self.stack.name!r} is in use by another chaos run: lease held by {holder}"
            f" until {_iso(expires)} ({left:.0f} s from now; it lapses then if that run is"
            " dead). Wait for it to end, or stop it"
        )

    def renew(self) -> bool:
        """Push the expiry out; False (and `lost` set) when another owner took the lease."""
        expires = self.clock() + self.ttl
        try:
            self._ddb().update_item(
                TableName=self.table,
                Key=self._key(),
                UpdateExpression="SET expires_at = :exp",
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":exp": {"N": repr(expires)}, ":me": {"S": self.owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                self.lost = f"lease on {self.stack.name} taken over by another run"
                logger.error("%s", self.lost)
                return False
            logger.warning("lease renewal on %s failed (retried): %s", self.stack.name, exc)
            return True
        self.expires_at = expires
        return True

    def _start_renewer(self) -> None:
        def loop() -> None:
            # Event.wait is the renewal clock and the stop signal at once.
            while not self._stop.wait(self.ttl / RENEW_FRACTION):
                if not self.renew():
                    return

        self._renewer = threading.Thread(target=loop, name="chaos-lease", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        """Give the lease up (only ours: a lease taken over after a lapse is left alone)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        try:
            self._ddb().delete_item(
                TableName=self.table,
                Key=self._key(),
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": self.owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise ChaosError(
                    f"could not release the lease on {self.stack.name}: {exc}"
                ) from exc
        logger.info("lease on stack %s released by %s", self.stack.name, self.owner)

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
