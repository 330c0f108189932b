"""Warm workers: reused per function configuration, capped, reclaimed when idle."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from localcloud.lambda_ import limits
from localcloud.lambda_.types import FunctionSpec
from localcloud.lambda_.worker import Worker

logger = logging.getLogger(__name__)

# AWS reclaims idle execution environments after some minutes (undocumented); here an idle
# worker is a whole Python process, so a burst of concurrency must not leave dozens behind.
IDLE_WORKER_SECONDS = 120.0
REAP_INTERVAL_SECONDS = 5.0
# Each worker is a process (~40 MB): a local machine cannot hold AWS's 1000 environments, so
# beyond a cap (limits.max_workers) the least recently used idle worker is retired first.
MAX_CAPACITY_WAIT_SECONDS = 5.0


class WorkerPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool_changed = threading.Condition(self._lock)
        self._idle: dict[str, list[Worker]] = defaultdict(list)
        self._busy: set[Worker] = set()
        self._starting = 0
        self._stopping = threading.Event()
        self.cold_starts = 0
        self.max_workers = limits.max_workers()
        self.idle_worker_seconds = IDLE_WORKER_SECONDS
        self.reap_interval_seconds = REAP_INTERVAL_SECONDS

    def start(self) -> None:
        threading.Thread(target=self._reap_idle, name="lambda-reaper", daemon=True).start()

    def _reap_idle(self) -> None:
        while not self._stopping.wait(self.reap_interval_seconds):
            cutoff = time.monotonic() - self.idle_worker_seconds
            with self._pool_changed:
                expired = [w for ws in self._idle.values() for w in ws if w.idle_since < cutoff]
                for workers in self._idle.values():
                    workers[:] = [w for w in workers if w.idle_since >= cutoff]
                self._pool_changed.notify_all()
            for worker in expired:
                worker.kill()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            workers = [w for ws in self._idle.values() for w in ws] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.kill()

    def checkout(self, spec: FunctionSpec, start_worker: Callable[[], Worker]) -> Worker:
        """A warm worker of this configuration, else a new one, within the local worker cap.

        At the cap, the least recently used idle worker (of any function) makes room; if every
        worker is busy, the call waits briefly for one, then starts over the cap anyway, so a
        function that synchronously calls another can never deadlock on capacity.
        """
        deadline = time.monotonic() + min(spec.timeout / 2, MAX_CAPACITY_WAIT_SECONDS)
        stale: list[Worker] = []
        chosen: Worker | None = None
        with self._pool_changed:
            while True:
                chosen = self._take_idle(spec, stale)
                if chosen is not None:
                    self._busy.add(chosen)
                    break
                if self._live_count() < self.max_workers or time.monotonic() >= deadline:
                    self._starting += 1
                    break
                victim = self._least_recently_used_idle()
                if victim is not None:
                    stale.append(victim)
                    self._starting += 1
                    break
                self._pool_changed.wait(timeout=max(0.0, deadline - time.monotonic()))
        for worker in stale:
            worker.kill()
        if chosen is not None:
            return chosen
        try:
            worker = start_worker()
        except BaseException:
            with self._pool_changed:
                self._starting -= 1
                self._pool_changed.notify_all()
            raise
        self.cold_starts += 1
        with self._pool_changed:
            self._starting -= 1
            self._busy.add(worker)
        return worker

    def _take_idle(self, spec: FunctionSpec, stale: list[Worker]) -> Worker | None:
        """Pop a matching idle worker; idle ones of an older configuration go to `stale`
        (a changed configuration retires the old environments, as AWS does)."""
        idle = self._idle[spec.qualified_arn]
        keep: list[Worker] = []
        chosen: Worker | None = None
        while idle:
            worker = idle.pop()
            if worker.fingerprint != spec.fingerprint or not worker.alive():
                stale.append(worker)
            elif chosen is None:
                chosen = worker
            else:
                keep.append(worker)
        idle.extend(reversed(keep))
        return chosen

    def worker_count(self) -> int:
        """Worker processes alive now (idle, busy or starting)."""
        with self._lock:
            return self._live_count()

    def _live_count(self) -> int:
        return len(self._busy) + sum(len(ws) for ws in self._idle.values()) + self._starting

    def _least_recently_used_idle(self) -> Worker | None:
        candidates = [(w.idle_since, arn, w) for arn, ws in self._idle.items() for w in ws]
        if not candidates:
            return None
        _, arn, worker = min(candidates, key=lambda item: item[0])
        self._idle[arn].remove(worker)
        return worker

    def checkin(self, worker: Worker) -> None:
        with self._pool_changed:
            self._busy.discard(worker)
            alive = worker.alive()
            if alive:
                worker.idle_since = time.monotonic()
                self._idle[worker.spec.qualified_arn].append(worker)
            self._pool_changed.notify_all()
        if not alive:
            worker.kill()

    def forget(self, worker: Worker) -> None:
        with self._pool_changed:
            self._busy.discard(worker)
            self._pool_changed.notify_all()

    def warm_workers(self, function_name: str) -> list[int]:
        """Process ids of the idle warm workers of a function (for tests and reports)."""
        with self._lock:
            return [
                w.pid
                for arn, ws in self._idle.items()
                if arn.split(":")[6] == function_name
                for w in ws
                if w.alive()
            ]
