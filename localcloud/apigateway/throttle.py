"""Token buckets: API Gateway usage-plan throttling, and DynamoDB capacity (localcloud.dynamodb).

API Gateway documents its throttling as a token bucket (rate = steady tokens
per second, burst = bucket size). Hand-written rather than taken from a
rate-limit library because DynamoDB needs what those do not offer together:
fractional, variable-cost takes, a refill rate changed in place when a table's
throughput is updated, debt (a read charged after the fact), and an injectable
clock for exact tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens per second up to `capacity`; thread-safe."""

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        initial: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate < 0:
            raise ValueError(f"token bucket rate must be >= 0, got {rate}")
        if capacity < 0:
            raise ValueError(f"token bucket capacity must be >= 0, got {capacity}")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.clock = clock
        self._tokens = self.capacity if initial is None else min(float(initial), self.capacity)
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        elapsed = max(0.0, now - self._at)
        self._at = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens

    def try_take(self, amount: float = 1.0, *, need: float | None = None) -> bool:
        """Take `amount` tokens if the bucket holds `need` (default `amount`); else take none.

        A `need` below `amount` lets one request cost more than the bucket holds,
        leaving a debt, as DynamoDB admits an item bigger than its burst capacity.
        """
        need = amount if need is None else need
        with self._lock:
            self._refill()
            if self._tokens + 1e-9 >= need:
                self._tokens -= amount
                return True
            return False

    def charge(self, amount: float) -> None:
        """Take `amount` unconditionally; the balance may go negative (a debt refilled later)."""
        with self._lock:
            self._refill()
            self._tokens -= amount

    def reconfigure(self, rate: float, capacity: float) -> None:
        """Change rate and size in place, keeping the tokens held (clipped to the new size)."""
        with self._lock:
            self._refill()
            self.rate = float(rate)
            self.capacity = float(capacity)
            self._tokens = min(self._tokens, self.capacity)
