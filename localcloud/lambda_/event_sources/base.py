"""What the SQS and Kinesis pollers share: the mapping spec, invoke outcomes, clients, time.

A poller sees a mapping as `MappingSpec` (parsed once from moto's stored
configuration) and the Lambda runtime as an `invoke` callable with the
signature of `cloud.lambdas.invoke`; both are plain values so the pure logic
is testable with fakes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .exceptions import MappingConfigError

if TYPE_CHECKING:
    from localcloud.transport import InProcessTransport

logger = logging.getLogger(__name__)

DEFAULT_TIME_SCALE = 0.01
REGION = "us-east-1"

ClientFactory = Callable[[str], Any]


class InvokeResultLike(Protocol):
    status_code: int
    payload: bytes
    function_error: str | None
    executed_version: str
    request_id: str


InvokeFn = Callable[..., InvokeResultLike]

Authorize = Callable[[str, str, str], bool]
"""(function ARN, IAM action, resource ARN) -> does the function's execution role allow the
call? Lambda's pollers read with that role (localcloud.lambda_.execution_role)."""

Report = Callable[[str], None]
"""Records the mapping's LastProcessingResult ("OK", "PROBLEM: ...")."""


def allow_all(function_arn: str, action: str, resource: str) -> bool:
    """The authorizer of a cloud without roles (the unit tests' fakes)."""
    return True


def ignore(result: str) -> None:
    return None


DENIAL_HOLDS = 0.5  # seconds; a denied poll is retried after 1 s


class AccessDenied(Exception):
    """The execution role does not allow one of the poller's calls."""

    def __init__(self, action: str, resource: str) -> None:
        self.action = action
        self.resource = resource
        super().__init__(f"the execution role does not allow {action} on {resource}")

    @property
    def problem(self) -> str:
        return f"PROBLEM: {self}"


class RoleGate:
    """A poller's view of its role: raises AccessDenied for a call the role does not allow,
    reports the mapping's LastProcessingResult, and logs each change of it once (a denied
    poll is retried every second: one line per poll would drown the log). A denial is
    reported once it has held for DENIAL_HOLDS seconds: a destroy deletes the role's policy
    right after the mapping, before the mapping's pollers have stopped, and their last polls
    are no problem of a live mapping."""

    def __init__(
        self,
        spec: MappingSpec,
        authorize: Authorize,
        report: Report,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._spec = spec
        self._authorize = authorize
        self._report = report
        self._stopping = stopping
        self._last: str | None = None
        self._denied: str | None = None  # the denial seen, not yet reported
        self._denied_since = 0.0
        self._lock = threading.Lock()

    def require(self, action: str, resource: str | None = None) -> None:
        resource = resource or self._spec.event_source_arn
        if self._authorize(self._spec.function_arn, action, resource):
            if self._denied is not None and self._denied == AccessDenied(action, resource).problem:
                self._denied = None  # allowed again before it was reported
            return
        denied = AccessDenied(action, resource)
        now = time.monotonic()
        with self._lock:
            if self._denied != denied.problem:
                self._denied, self._denied_since = denied.problem, now
            held = now - self._denied_since >= DENIAL_HOLDS
        if held:
            self.result(denied.problem)
        raise denied

    def result(self, text: str) -> None:
        with self._lock:
            changed, self._last = text != self._last, text
        if not changed or self._stopping():
            return
        self._report(text)
        if text.startswith("PROBLEM"):
            logger.error("mapping %s: %s", self._spec.uuid, text)
        else:
            logger.info("mapping %s: %s", self._spec.uuid, text)


Outcome = Literal["success", "function_error", "throttled", "failed"]


@dataclass(frozen=True)
class Invocation:
    """One synchronous invoke, classified the way a poller must react to it."""

    outcome: Outcome
    status_code: int
    payload: bytes = b""
    function_error: str | None = None
    executed_version: str = "$LATEST"
    request_id: str = ""
    error: str | None = None  # why a throttled/failed invoke did not run


def _looks_throttled(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return "TooManyRequests" in text or "Throttl" in text or "ReservedFunctionConcurrent" in text


def invoke_sync(invoke: InvokeFn, function_arn: str, payload: bytes) -> Invocation:
    """Invoke as a mapping does (RequestResponse) and classify the result.

    Throttles (429) and service failures are not function errors: Lambda's
    pollers retry them without counting an attempt against the batch.
    """
    try:
        result = invoke(function_arn, payload, invocation_type="RequestResponse")
    except Exception as exc:  # the runtime raises for unknown functions and throttles
        outcome: Outcome = "throttled" if _looks_throttled(exc) else "failed"
        status = 429 if outcome == "throttled" else 500
        logger.info("invoke %s %s: %s", function_arn, outcome, exc)
        return Invocation(outcome, status, error=f"{type(exc).__name__}: {exc}")
    status = int(result.status_code)
    common = {
        "payload": result.payload or b"",
        "function_error": result.function_error,
        "executed_version": result.executed_version or "$LATEST",
        "request_id": result.request_id or "",
    }
    if status == 429:
        return Invocation("throttled", status, error="TooManyRequestsException", **common)
    if status >= 500 or status < 200:
        return Invocation("failed", status, error=f"HTTP {status}", **common)
    if result.function_error:
        return Invocation("function_error", status, **common)
    return Invocation("success", status, **common)


def time_scale_of(cloud: object | None) -> float:
    """The cloud's compression of AWS's fixed delays (see localcloud/_localcloud/info)."""
    scale = getattr(getattr(cloud, "clock", None), "time_scale", None)
    if scale is None:
        scale = float(os.environ.get("LOCALCLOUD_TIME_SCALE", DEFAULT_TIME_SCALE))
    return float(scale)


def throttle_backoff(attempt: int, time_scale: float) -> float:
    """Lambda's poller backoff after a throttle: 1 s doubling to 5 min, then scaled."""
    return min(300.0, 2.0 ** max(attempt - 1, 0)) * time_scale


def arn_resource(arn: str) -> str:
    """The last part of an ARN: queue name, or 'stream/<name>' -> '<name>'."""
    resource = arn.split(":", 5)[5]
    return resource.split("/", 1)[1] if "/" in resource else resource


def arn_account(arn: str) -> str:
    return arn.split(":")[4]


def arn_region(arn: str) -> str:
    return arn.split(":")[3] or REGION


def source_kind(event_source_arn: str) -> str:
    return event_source_arn.split(":")[2]


@dataclass(frozen=True)
class MappingSpec:
    """The settings of one event source mapping that a poller honours."""

    uuid: str
    function_arn: str
    event_source_arn: str
    enabled: bool
    batch_size: int
    batching_window: float
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    starting_position: str | None
    starting_position_timestamp: float | None
    bisect_on_error: bool
    maximum_retry_attempts: int  # -1: infinite
    maximum_record_age: int  # -1: infinite
    on_failure_arn: str | None

    @property
    def kind(self) -> str:
        return source_kind(self.event_source_arn)

    @classmethod
    def from_configuration(cls, config: Mapping[str, Any]) -> MappingSpec:
        """Parse GetEventSourceMapping's shape; raise MappingConfigError naming a bad field."""
        uuid = str(config.get("UUID", "?"))
        for required in ("FunctionArn", "EventSourceArn"):
            if not config.get(required):
                raise MappingConfigError(uuid, required, config.get(required), "is required")
        state = config.get("State", "Enabled")
        batch_size = _int(uuid, config, "BatchSize", 10, 1, 10_000)
        window = _int(uuid, config, "MaximumBatchingWindowInSeconds", 0, 0, 300)
        scaling = config.get("ScalingConfig") or {}
        max_concurrency = scaling.get("MaximumConcurrency")
        if max_concurrency is not None:
            max_concurrency = _int(uuid, scaling, "MaximumConcurrency", 2, 2, 1000)
        retries = _int(uuid, config, "MaximumRetryAttempts", -1, -1, 10_000)
        age = _int(uuid, config, "MaximumRecordAgeInSeconds", -1, -1, 604_800)
        if 0 <= age < 60:
            raise MappingConfigError(
                uuid, "MaximumRecordAgeInSeconds", age, "must be -1 or 60..604800"
            )
        stamp = config.get("StartingPositionTimestamp")
        on_failure = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        return cls(
            uuid=uuid,
            function_arn=str(config["FunctionArn"]),
            event_source_arn=str(config["EventSourceArn"]),
            enabled=state in ("Enabled", "Enabling", "Updating", "Creating"),
            batch_size=batch_size,
            batching_window=float(window),
            report_batch_item_failures="ReportBatchItemFailures"
            in (config.get("FunctionResponseTypes") or []),
            maximum_concurrency=max_concurrency,
            starting_position=config.get("StartingPosition"),
            starting_position_timestamp=_epoch(stamp) if stamp is not None else None,
            bisect_on_error=bool(config.get("BisectBatchOnFunctionError")),
            maximum_retry_attempts=retries,
            maximum_record_age=age,
            on_failure_arn=on_failure or None,
        )


def _int(
    uuid: str, config: Mapping[str, Any], field: str, default: int, low: int, high: int
) -> int:
    raw = config.get(field)
    if raw is None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise MappingConfigError(uuid, field, raw, "is not an integer") from None
    if not low <= value <= high:
        raise MappingConfigError(uuid, field, value, f"must be in {low}..{high}")
    return value


def _epoch(stamp: Any) -> float:
    if hasattr(stamp, "timestamp"):
        return float(stamp.timestamp())
    return float(stamp)


class Stoppable:
    """A stop flag whose wait returns early when stopped (no fixed sleeps in pollers)."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def pause(self, seconds: float) -> bool:
        """Wait up to `seconds`; True when a stop was requested meanwhile."""
        return self._stop.wait(max(0.0, seconds))


def endpoint_client_factory(
    endpoint: str,
    *,
    pool_size: int = 64,
    attempts: int = 3,
    transport: InProcessTransport | None = None,
) -> ClientFactory:
    """boto3 clients on the local endpoint: reads and deletes take moto's serialized path.

    `attempts=1` turns the SDK's own retries off, for callers that model a
    service's retry policy themselves (EventBridge targets). `transport`: the cloud's
    in-process transport (localcloud.transport), when the caller runs inside the cloud.
    """
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    lock = threading.Lock()
    cache: dict[str, Any] = {}
    config = Config(
        max_pool_connections=pool_size,
        retries={"total_max_attempts": attempts, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )

    def make(service: str) -> Any:
        # Session.client is not thread-safe; the clients themselves are, so share one each.
        with lock:
            if service not in cache:
                cache[service] = session.client(
                    service,
                    endpoint_url=endpoint,
                    region_name=REGION,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    config=config,
                )
                if transport is not None:
                    transport.attach(cache[service])
            return cache[service]

    return make
