"""Asynchronous invocation: Lambda's internal event queue, retries, max event age, and where
an event ends (OnSuccess / OnFailure destination, function DLQ, or dropped).

AWS behaviour modelled (Lambda developer guide, "Error handling and automatic
retries", "Capturing records of asynchronous invocations"):
- a function error is retried MaximumRetryAttempts times (default 2), about
  1 min before the first retry and 2 min before the second (compressed by the
  time scale);
- throttles and system errors are retried with backoff from 1 s to 5 min
  (compressed) until the event is MaximumEventAgeInSeconds old (default 6 h,
  NOT compressed);
- the same request id is used for every attempt.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from localcloud.lambda_ import limits
from localcloud.lambda_.destinations import Destinations
from localcloud.lambda_.types import (
    FunctionSpec,
    InvokeResult,
    LambdaApiError,
    ResourceNotFound,
    TooManyRequests,
)

if TYPE_CHECKING:
    from localcloud.lambda_.runtime import LambdaRuntime

logger = logging.getLogger(__name__)

DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_EVENT_AGE = 21600
RETRY_DELAYS = (60.0, 120.0)  # before retry 1 and retry 2, in AWS seconds
THROTTLE_BACKOFF_MIN, THROTTLE_BACKOFF_MAX = 1.0, 300.0


@dataclass
class AsyncEvent:
    request_id: str
    function_arn: str
    function_name: str
    payload: str
    received_at: float
    invoke_count: int = 0  # attempts made, throttled ones included
    function_errors: int = 0
    backoff: float = 0.0
    last_result: InvokeResult | None = None
    last_error: LambdaApiError | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class AsyncInvoker:
    def __init__(self, runtime: LambdaRuntime) -> None:
        self.runtime = runtime
        self.clock = runtime.cloud.clock
        self.destinations = Destinations(runtime)
        self._heap: list[tuple[float, int, AsyncEvent]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        # At most this many attempts run at once (a host limit, see limits.py); the rest wait.
        self._pool = ThreadPoolExecutor(
            limits.async_concurrency(), thread_name_prefix="lambda-async"
        )
        self._thread = threading.Thread(
            target=self._schedule, name="lambda-async-scheduler", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def pending(self) -> int:
        """Events accepted and not yet finished (for tests waiting until the queue drains)."""
        with self._cond:
            return self._pending

    def enqueue(self, spec: FunctionSpec, payload: str) -> str:
        event = AsyncEvent(str(uuid.uuid4()), spec.qualified_arn, spec.name, payload, time.time())
        self.runtime.emit("AsyncEventsReceived", 1, spec.name)
        with self._cond:
            self._pending += 1
        self._push(event, 0.0)
        return event.request_id

    def _push(self, event: AsyncEvent, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), event))
            self._cond.notify()

    def _schedule(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (
                    not self._heap or self._heap[0][0] > time.monotonic()
                ):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopping:
                    return
                _, _, event = heapq.heappop(self._heap)
            assert self._pool is not None
            self._pool.submit(self._attempt_safely, event)

    def _attempt_safely(self, event: AsyncEvent) -> None:
        try:
            finished = self._attempt(event)
        except Exception:
            logger.exception(
                "async invoke of %s failed inside the local cloud", event.function_name
            )
            finished = True
        if finished:
            with self._cond:
                self._pending -= 1

    def _attempt(self, event: AsyncEvent) -> bool:
        """One attempt; returns True when the event is finished (delivered or disposed of)."""
        try:
            spec, _ = self.runtime.describe(event.function_arn)
        except ResourceNotFound:
            logger.warning(
                "async event %s dropped: %s was deleted", event.request_id, event.function_name
            )
            self.runtime.emit("AsyncEventsDropped", 1, event.function_name)
            return True
        config = dict(spec.event_invoke_config)
        max_retries = int(config.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES))
        max_age = float(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE))
        age = time.time() - event.received_at
        if age >= max_age:
            self._finish(event, spec, config, "EventAgeExceeded")
            return True
        self.runtime.emit("AsyncEventAge", age * 1000, spec.name, unit="Milliseconds")
        event.invoke_count += 1
        try:
            result = self.runtime.run(
                event.function_arn, event.payload, request_id=event.request_id
            )
        except (TooManyRequests, LambdaApiError) as exc:
            # Throttles and system errors: back off 1 s doubling to 5 min, until max event age.
            event.last_error = exc
            event.backoff = min(THROTTLE_BACKOFF_MAX, max(THROTTLE_BACKOFF_MIN, event.backoff * 2))
            self._push(event, self.clock.scaled(event.backoff))
            return False
        event.last_result = result
        if result.function_error is None:
            self._finish(event, spec, config, "Success")
            return True
        event.function_errors += 1
        if event.function_errors > max_retries:
            self._finish(event, spec, config, "RetriesExhausted")
            return True
        delay = RETRY_DELAYS[min(event.function_errors, len(RETRY_DELAYS)) - 1]
        self._push(event, self.clock.scaled(delay))
        return False

    def _finish(
        self, event: AsyncEvent, spec: FunctionSpec, config: dict[str, Any], condition: str
    ) -> None:
        destinations = config.get("DestinationConfig") or {}
        if condition == "Success":
            target = (destinations.get("OnSuccess") or {}).get("Destination")
            if target:
                self.destinations.send_record(target, event, spec, condition)
            return
        target = (destinations.get("OnFailure") or {}).get("Destination")
        dlq = self.runtime.dead_letter.target_arn(spec.name)
        if target:
            self.destinations.send_record(target, event, spec, condition)
        if dlq:
            self.destinations.send_dead_letter(dlq, event, spec)
        if not target and not dlq:
            logger.info("async event %s of %s dropped (%s)", event.request_id, spec.name, condition)
            self.runtime.emit("AsyncEventsDropped", 1, spec.name)
