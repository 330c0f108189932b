"""The Lambda runtime: reads a function from moto, runs it in a warm or cold worker.

`cloud.lambdas.invoke(...)` is the one door every invoker uses (the HTTP
Invoke API, SNS, EventBridge, Step Functions, event source mappings).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud import metrics, moto_reach
from localcloud.lambda_.types import (
    FunctionSpec,
    InvalidRequestContent,
    InvokeResult,
    ResourceNotFound,
    ServiceError,
    TooManyRequests,
)
from localcloud.lambda_.worker import Worker, WorkerDied, WorkerTimedOut, worker_environment

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

logger = logging.getLogger(__name__)

ACCOUNT_CONCURRENCY = 1000  # Lambda's default regional quota
# AWS reclaims idle execution environments after some minutes (undocumented); here an idle
# worker is a whole Python process, so a burst of concurrency must not leave dozens behind.
IDLE_WORKER_SECONDS = 120.0
REAP_INTERVAL_SECONDS = 5.0
# Each worker is a process (~40 MB): a local machine cannot hold AWS's 1000 environments, so
# beyond this many the least recently used idle worker is retired first (see _checkout).
MAX_WORKERS_ENV = "LOCALCLOUD_MAX_WORKERS"
DEFAULT_MAX_WORKERS = 32
MAX_CAPACITY_WAIT_SECONDS = 5.0


def max_workers() -> int:
    raw = os.environ.get(MAX_WORKERS_ENV, "")
    if not raw:
        return DEFAULT_MAX_WORKERS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"${MAX_WORKERS_ENV}={raw!r} is not an integer") from None
    if value < 1:
        raise ValueError(f"${MAX_WORKERS_ENV}={raw!r} must be at least 1")
    return value


THROTTLE_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"


class LambdaRuntime:
    def __init__(self, cloud: LocalCloud) -> None:
        from localcloud.lambda_.async_invoke import AsyncInvoker
        from localcloud.lambda_.dead_letter import DeadLetterConfigs

        self.cloud = cloud
        self._lock = threading.Lock()
        self._idle: dict[str, list[Worker]] = defaultdict(list)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._busy: set[Worker] = set()
        self._code_root = Path(tempfile.mkdtemp(prefix="localcloud-lambda-"))
        self._code_lock = threading.Lock()
        self.dead_letter = DeadLetterConfigs(cloud)
        self.async_invoker = AsyncInvoker(self)
        self.cold_starts = 0
        self._stopping = threading.Event()
        self._pool_changed = threading.Condition(self._lock)
        self._starting = 0
        self.max_workers = max_workers()
        self.idle_worker_seconds = IDLE_WORKER_SECONDS
        self.reap_interval_seconds = REAP_INTERVAL_SECONDS

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        from localcloud.lambda_.http_api import install_http_api

        install_http_api(self.cloud, self)
        self.async_invoker.start()
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
        self.async_invoker.stop()
        with self._lock:
            workers = [w for ws in self._idle.values() for w in ws] + list(self._busy)
            self._idle.clear()
        for worker in workers:
            worker.kill()
        shutil.rmtree(self._code_root, ignore_errors=True)

    # ---- reading the function ----------------------------------------------------------
    def describe(
        self, name_or_arn: str, qualifier: str | None = None
    ) -> tuple[FunctionSpec, bytes]:
        with self.cloud.lock:
            fn = moto_reach.lambda_function(
                self.cloud.account_id, self.cloud.region, name_or_arn, qualifier
            )
            if fn is None:
                raise ResourceNotFound(
                    f"Function not found: {self._arn_for(name_or_arn, qualifier)}"
                )
            arn = self._arn_for(fn.function_name, None)
            return FunctionSpec(
                name=fn.function_name,
                arn=arn,
                version=str(fn.version),
                handler=fn.handler or "",
                runtime=fn.run_time or "python3.11",
                timeout=int(fn.timeout or 3),
                memory_size=int(fn.memory_size or 128),
                environment=tuple(sorted((fn.environment_vars or {}).items())),
                code_sha256=fn.code_sha_256,
                reserved_concurrency=(
                    None if fn.reserved_concurrency in (None, "") else int(fn.reserved_concurrency)
                ),
                event_invoke_config=tuple(sorted(moto_reach.event_invoke_config(fn).items())),
            ), fn.code_bytes

    def _arn_for(self, name_or_arn: str, qualifier: str | None) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        arn = f"arn:aws:lambda:{self.cloud.region}:{self.cloud.account_id}:function:{name_or_arn}"
        return f"{arn}:{qualifier}" if qualifier else arn

    def _code_dir(self, spec: FunctionSpec, code_bytes: bytes) -> Path:
        target = self._code_root / spec.code_sha256.replace("/", "_").replace("+", "-")
        with self._code_lock:
            if not target.exists():
                staging = Path(tempfile.mkdtemp(dir=self._code_root))
                try:
                    import io

                    with zipfile.ZipFile(io.BytesIO(code_bytes)) as archive:
                        archive.extractall(staging)
                except zipfile.BadZipFile as exc:
                    raise ServiceError(f"the code of {spec.name} is not a zip file: {exc}") from exc
                staging.rename(target)
        return target

    # ---- invoke ------------------------------------------------------------------------
    def invoke(
        self,
        function_name_or_arn: str,
        payload: bytes | str,
        *,
        invocation_type: str = "RequestResponse",
        qualifier: str | None = None,
    ) -> InvokeResult:
        """Invoke as the Lambda Invoke API does; raises LambdaApiError subclasses (404/400/429)."""
        raw = payload.encode() if isinstance(payload, str) else bytes(payload or b"")
        text = raw.decode("utf-8", errors="replace") if raw else "{}"
        try:
            json.loads(text)
        except ValueError as exc:
            raise InvalidRequestContent(
                f"Could not parse request body into json: Could not parse payload into json: {exc}"
            ) from None
        spec, _ = self.describe(function_name_or_arn, qualifier)
        if invocation_type == "Event":
            request_id = self.async_invoker.enqueue(spec, text)
            return InvokeResult(202, b"", None, spec.version, request_id)
        if invocation_type == "DryRun":
            return InvokeResult(204, b"", None, spec.version, str(uuid.uuid4()))
        if invocation_type != "RequestResponse":
            raise InvalidRequestContent(f"Invalid invocation type: {invocation_type!r}")
        return self.run(function_name_or_arn, text, qualifier=qualifier)

    def run(
        self,
        function_name_or_arn: str,
        payload: str,
        *,
        qualifier: str | None = None,
        request_id: str | None = None,
    ) -> InvokeResult:
        """One synchronous execution; raises TooManyRequests when over reserved concurrency."""
        spec, code_bytes = self.describe(function_name_or_arn, qualifier)
        request_id = request_id or str(uuid.uuid4())
        dims = {"FunctionName": spec.name}
        with self._lock:
            in_flight = self._in_flight[spec.arn]
            limit = (
                ACCOUNT_CONCURRENCY
                if spec.reserved_concurrency is None
                else spec.reserved_concurrency
            )
            if in_flight >= limit:
                throttled = True
            else:
                throttled = False
                self._in_flight[spec.arn] = in_flight + 1
                concurrent = in_flight + 1
        if throttled:
            self._emit("Throttles", 1, dims)
            raise TooManyRequests("Rate Exceeded.", Reason=THROTTLE_REASON)
        began = time.perf_counter()
        try:
            self._emit("ConcurrentExecutions", concurrent, dims)
            self._emit("Invocations", 1, dims)
            result = self._execute(spec, code_bytes, payload, request_id)
        finally:
            with self._lock:
                self._in_flight[spec.arn] -= 1
        result.duration_ms = result.duration_ms or (time.perf_counter() - began) * 1000
        self._emit("Duration", result.duration_ms, dims, unit="Milliseconds")
        if result.function_error:
            self._emit("Errors", 1, dims)
        return result

    def _execute(
        self, spec: FunctionSpec, code_bytes: bytes, payload: str, request_id: str
    ) -> InvokeResult:
        worker = self._checkout(spec, code_bytes)
        try:
            answer, tail = worker.invoke(request_id, payload, spec.qualified_arn)
        except WorkerTimedOut:
            worker.kill()
            self._forget(worker)
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            message = f"{stamp} {request_id} Task timed out after {spec.timeout:.2f} seconds"
            self._log(spec.name, message)
            body = json.dumps({"errorMessage": message}).encode()
            return InvokeResult(
                200,
                body,
                "Unhandled",
                spec.version,
                request_id,
                message,
                duration_ms=spec.timeout * 1000.0,
            )
        except WorkerDied as exc:
            worker.kill()
            self._forget(worker)
            body = json.dumps(
                {
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited: {exc}",
                    "errorType": "Runtime.ExitError",
                }
            ).encode()
            return InvokeResult(200, body, "Unhandled", spec.version, request_id)
        self._checkin(worker)
        if "error" in answer:
            return InvokeResult(
                200,
                json.dumps(answer["error"]).encode(),
                "Unhandled",
                spec.version,
                request_id,
                tail,
                answer.get("duration_ms", 0.0),
            )
        return InvokeResult(
            200,
            answer["payload"].encode(),
            None,
            spec.version,
            request_id,
            tail,
            answer.get("duration_ms", 0.0),
        )

    # ---- the warm pool -----------------------------------------------------------------
    def _checkout(self, spec: FunctionSpec, code_bytes: bytes) -> Worker:
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
            code_dir = self._code_dir(spec, code_bytes)
            env = worker_environment(spec, self.cloud.endpoint, self.cloud.region, code_dir)
            worker = Worker(spec, code_dir, env, lambda line, name=spec.name: self._log(name, line))
        except Exception as exc:
            with self._pool_changed:
                self._starting -= 1
                self._pool_changed.notify_all()
            if isinstance(exc, ServiceError):
                raise
            raise ServiceError(f"could not start a worker for {spec.name}: {exc}") from exc
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

    def _checkin(self, worker: Worker) -> None:
        with self._pool_changed:
            self._busy.discard(worker)
            alive = worker.alive()
            if alive:
                worker.idle_since = time.monotonic()
                self._idle[worker.spec.qualified_arn].append(worker)
            self._pool_changed.notify_all()
        if not alive:
            worker.kill()

    def _forget(self, worker: Worker) -> None:
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

    # ---- logs and metrics --------------------------------------------------------------
    def _log(self, function_name: str, line: str) -> None:
        try:
            with self.cloud.lock:
                metrics.ingest_log_line(function_name, line)
                moto_reach.put_log_lines(
                    self.cloud.account_id,
                    self.cloud.region,
                    f"/aws/lambda/{function_name}",
                    "localcloud",
                    [(int(time.time() * 1000), line)],
                )
        except Exception:
            logger.exception("could not record a log line of %s", function_name)

    def _emit(self, name: str, value: float, dims: dict[str, str], unit: str = "Count") -> None:
        try:
            with self.cloud.lock:
                metrics.emit("AWS/Lambda", name, value, dims, unit=unit)
        except Exception:
            logger.exception("could not emit AWS/Lambda %s", name)

    def emit(self, name: str, value: float, function_name: str, unit: str = "Count") -> None:
        self._emit(name, value, {"FunctionName": function_name}, unit=unit)

    def now(self) -> float:
        return time.time()

    def describe_or_none(self, name_or_arn: str) -> tuple[FunctionSpec, Any] | None:
        try:
            return self.describe(name_or_arn)
        except ResourceNotFound:
            return None
