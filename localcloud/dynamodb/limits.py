"""Per-table capacity limits: PROVISIONED token buckets with burst credit, and on-demand peaks.

PROVISIONED: one bucket for reads and one for writes, refilled at the
provisioned units per second and holding up to 300 s of unused capacity
("DynamoDB currently retains up to 5 minutes (300 seconds) of unused read and
write capacity"). A new table starts with one second of capacity: burst credit
is earned by not using capacity, and a new table has not had the chance (a table
first used later has earned the capacity it left unused since its creation).

PAY_PER_REQUEST: a new table serves up to 4,000 write / 12,000 read units per
second at once (AWS: "a previous peak" of half that). The limit is twice the
previous peak; a higher per-second peak raises the limit once it is 30 minutes
old ("throttling can occur if you exceed double your previous peak within 30
minutes"). Per-partition limits (1,000 WCU / 3,000 RCU) and GSIs are not modelled.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable

from localcloud.apigateway.throttle import TokenBucket

BURST_SECONDS = 300.0
ON_DEMAND_INITIAL = {"read": 12_000.0, "write": 4_000.0}
PEAK_MATURES_AFTER = 1_800.0


class OnDemandLimit:
    """Units per whole second, limited to twice the matured previous peak."""

    def __init__(self, initial: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.base_peak = initial / 2.0
        self._second = math.floor(clock())
        self._used = 0.0
        self._history: collections.deque[tuple[int, float]] = collections.deque()
        self._matured_peak = self.base_peak
        self._lock = threading.Lock()

    def _roll(self, now: float) -> None:
        second = math.floor(now)
        if second != self._second:
            if self._used > self.base_peak:
                self._history.append((self._second, self._used))
            self._second, self._used = second, 0.0
        while self._history and now - self._history[0][0] >= PEAK_MATURES_AFTER:
            _, used = self._history.popleft()
            self._matured_peak = max(self._matured_peak, used)

    @property
    def limit(self) -> float:
        with self._lock:
            self._roll(self.clock())
            return 2.0 * self._matured_peak

    def try_take(self, amount: float, *, need: float | None = None) -> bool:
        with self._lock:
            self._roll(self.clock())
            if self._used + (amount if need is None else need) > 2.0 * self._matured_peak:
                return False
            self._used += amount
            return True

    def charge(self, amount: float) -> None:
        with self._lock:
            self._roll(self.clock())
            self._used += amount


class TableLimits:
    """The read and write limits of one table, following its billing mode and throughput."""

    def __init__(
        self,
        mode: str,
        rcu: float,
        wcu: float,
        *,
        age: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.mode = ""
        # Credit earned since the table was created, when first seen later than that.
        self._earned = 1.0 + max(0.0, age)
        self.read: TokenBucket | OnDemandLimit
        self.write: TokenBucket | OnDemandLimit
        self.sync(mode, rcu, wcu)

    def sync(self, mode: str, rcu: float, wcu: float) -> None:
        """Apply the table's current settings (UpdateTable applies at once)."""
        if mode == "PAY_PER_REQUEST":
            if self.mode != mode:
                self.read = OnDemandLimit(ON_DEMAND_INITIAL["read"], clock=self.clock)
                self.write = OnDemandLimit(ON_DEMAND_INITIAL["write"], clock=self.clock)
        elif self.mode != mode:
            earned = self._earned if not self.mode else 1.0
            self.read = TokenBucket(
                rcu, rcu * BURST_SECONDS, initial=rcu * earned, clock=self.clock
            )
            self.write = TokenBucket(
                wcu, wcu * BURST_SECONDS, initial=wcu * earned, clock=self.clock
            )
        else:
            for bucket, units in ((self.read, rcu), (self.write, wcu)):
                assert isinstance(bucket, TokenBucket)
                if bucket.rate != units:
                    bucket.reconfigure(units, units * BURST_SECONDS)
        self.mode = mode

    def bucket(self, kind: str) -> TokenBucket | OnDemandLimit:
        if kind not in ("read", "write"):
            raise ValueError(f"capacity kind must be 'read' or 'write', got {kind!r}")
        return self.read if kind == "read" else self.write

    def try_take(self, kind: str, units: float) -> bool:
        limit = self.bucket(kind)
        if isinstance(limit, TokenBucket):
            # An item costing more than the whole burst still goes through on a full bucket.
            return limit.try_take(units, need=min(units, max(limit.capacity, 0.5)))
        return limit.try_take(units)

    def charge(self, kind: str, units: float) -> None:
        self.bucket(kind).charge(units)
