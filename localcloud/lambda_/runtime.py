"""The Lambda runtime: reads a function from moto, runs it in a warm or cold worker.

`cloud.lambdas.invoke(...)` is the one door every invoker uses (the HTTP
Invoke API, SNS, EventBridge, Step Functions, event source mappings).
"""

from __future__ import annotations

import functools
import json
import logging
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

from localcloud.cloudwatch import metrics
from localcloud.lambda_ import execution_role, forkserver, limits
from localcloud.lambda_.pool import WorkerPool
from localcloud.lambda_.types import (
    FunctionSpec,
    InvalidRequestContent,
    InvokeResult,
    ResourceNotFound,
    ServiceError,
    TooManyRequests,
)
from localcloud.lambda_.worker import (
    Worker,
    WorkerDied,
    WorkerTimedOut,
    host_environment,
    start_process,
    worker_environment,
)
from localcloud.moto_reach import lambda_ as lambda_reach
from localcloud.moto_reach import logs as logs_reach

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

logger = logging.getLogger(__name__)

ACCOUNT_CONCURRENCY = 1000  # Lambda's default regional quota
THROTTLE_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"


class LambdaRuntime:
    def __init__(self, cloud: LocalCloud) -> None:
        from localcloud.lambda_.async_invoke import AsyncInvoker
        from localcloud.lambda_.dead_letter import DeadLetterConfigs

        self.cloud = cloud
        self._lock = threading.Lock()  # guards _in_flight
        self._in_flight: dict[str, int] = defaultdict(int)
        self.pool = WorkerPool()
        self._code_root = Path(tempfile.mkdtemp(prefix="localcloud-lambda-"))
        self._code_lock = threading.Lock()
        self.dead_letter = DeadLetterConfigs(cloud)
        self.async_invoker = AsyncInvoker(self)
        self._policy_client: Any = None  # a Lambda client on this cloud, for GetPolicy
        self.forks: forkserver.ForkServer | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        from localcloud.lambda_.http_api import install_http_api

        install_http_api(self.cloud, self)
        execution_role.install(self.cloud, self)
        if limits.worker_fork():
            self.forks = forkserver.ForkServer(
                spawn_timeout=limits.init_timeout_seconds(), env=host_environment()
            )
            try:
                self.forks.start()
            except OSError as exc:
                logger.warning("no fork server (%s): workers start as processes", exc)
                self.forks = None
        self.async_invoker.start()
        self.pool.start()

    def stop(self) -> None:
        self.async_invoker.stop()
        self.pool.stop()
        if self.forks is not None:
            self.forks.stop()
        shutil.rmtree(self._code_root, ignore_errors=True)

    # ---- reading the function ----------------------------------------------------------
    def describe(
        self, name_or_arn: str, qualifier: str | None = None
    ) -> tuple[FunctionSpec, bytes]:
        with self.cloud.lock:
            fn = lambda_reach.lambda_function(
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
                event_invoke_config=tuple(sorted(lambda_reach.event_invoke_config(fn).items())),
                role=str(fn.role or ""),
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

    def invoke_as(
        self,
        service: str,
        function_name_or_arn: str,
        payload: bytes | str,
        *,
        source_arn: str | None,
        invocation_type: str = "Event",
        qualifier: str | None = None,
    ) -> InvokeResult:
        """Invoke on behalf of an AWS service (sns, events, apigateway .amazonaws.com): as on
        AWS, only when the function's resource policy grants it (AccessDenied otherwise)."""
        from localcloud.lambda_.permissions import check_service_invoke, policy_reader

        spec, _ = self.describe(function_name_or_arn, qualifier)  # 404 before 403, as on AWS
        if self._policy_client is None:
            self._policy_client = self.cloud.internal_client("lambda")
        check_service_invoke(
            policy_reader(self._policy_client, spec.name, qualifier),
            spec.arn,
            service,
            source_arn=source_arn,
            source_account=self.cloud.account_id,
        )
        return self.invoke(
            function_name_or_arn, payload, invocation_type=invocation_type, qualifier=qualifier
        )

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
        worker = self.pool.checkout(spec, lambda: self._start_worker(spec, code_bytes))
        try:
            answer, tail = worker.invoke(request_id, payload, spec.qualified_arn)
        except WorkerTimedOut:
            worker.kill()
            self.pool.forget(worker)
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
            self.pool.forget(worker)
            body = json.dumps(
                {
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited: {exc}",
                    "errorType": "Runtime.ExitError",
                }
            ).encode()
            return InvokeResult(200, body, "Unhandled", spec.version, request_id)
        self.pool.checkin(worker)
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
    def _start_worker(self, spec: FunctionSpec, code_bytes: bytes) -> Worker:
        code_dir = self._code_dir(spec, code_bytes)
        if not spec.role:
            # Lambda requires one (CreateFunction's Role); never run on unjudged credentials.
            raise ServiceError(f"{spec.name} has no execution role to run with")
        try:
            # As Lambda does, the worker holds its execution role's session (STS AssumeRole).
            credentials = self.cloud.iam.credentials_for(spec.role, spec.name)
            env = worker_environment(
                spec, self.cloud.endpoint, self.cloud.region, code_dir, credentials
            )
            worker = Worker(
                spec, code_dir, env, functools.partial(self._log, spec.name), self._spawn
            )
        except Exception as exc:
            raise ServiceError(f"could not start a worker for {spec.name}: {exc}") from exc
        return worker

    def _spawn(self, code_dir: Path, env: dict[str, str]) -> Any:
        """The worker's process: forked by the fork server, else started on its own."""
        forks = self.forks
        if forks is not None and not forks.broken:
            try:
                return forks.spawn(code_dir, env)
            except forkserver.ForkServerFailed as exc:
                logger.warning("%s: workers start as processes from now on", exc)
        return start_process(code_dir, env)

    def warm_workers(self, function_name: str) -> list[int]:
        """Process ids of the idle warm workers of a function (for tests and reports)."""
        return self.pool.warm_workers(function_name)

    def worker_count(self) -> int:
        return self.pool.worker_count()

    # ---- logs and metrics --------------------------------------------------------------
    def _log(self, function_name: str, line: str) -> None:
        try:
            with self.cloud.lock:
                metrics.ingest_log_line(function_name, line)
                logs_reach.put_log_lines(
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
