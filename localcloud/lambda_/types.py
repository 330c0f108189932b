"""Wire shapes and values shared by the runtime, the HTTP API, async invoke and tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from localcloud.errors import AwsError

InvocationType = Literal["RequestResponse", "Event", "DryRun"]


@dataclass
class InvokeResult:
    """What Invoke answers: status 200 (sync), 202 (Event), 204 (DryRun)."""

    status_code: int
    payload: bytes
    function_error: str | None  # "Unhandled" when the function failed
    executed_version: str
    request_id: str
    log_tail: str = ""
    duration_ms: float = 0.0

    def json(self) -> Any:
        import json

        return json.loads(self.payload) if self.payload else None


@dataclass(frozen=True)
class FunctionSpec:
    """A function's configuration as the runtime needs it, read from moto at invoke time."""

    name: str
    arn: str  # unqualified
    version: str  # "$LATEST" or a number
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: tuple[tuple[str, str], ...]
    code_sha256: str
    reserved_concurrency: int | None
    event_invoke_config: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    role: str = ""  # the execution role's ARN: the function's calls, and Lambda's on its behalf

    @property
    def fingerprint(self) -> tuple[Any, ...]:
        """Warm workers serve only the configuration they were started with, as in AWS."""
        return (
            self.code_sha256,
            self.handler,
            self.timeout,
            self.memory_size,
            self.environment,
            self.version,
            self.role,  # a new role means new execution environments with its credentials
        )

    @property
    def qualified_arn(self) -> str:
        return self.arn if self.version == "$LATEST" else f"{self.arn}:{self.version}"


class RequestContext(TypedDict):
    requestId: str
    functionArn: str
    condition: Literal["Success", "RetriesExhausted", "EventAgeExceeded"]
    approximateInvokeCount: int


class ResponseContext(TypedDict, total=False):
    statusCode: int
    executedVersion: str
    functionError: str


class DestinationRecord(TypedDict):
    """The record Lambda sends to an async invocation's OnSuccess / OnFailure destination."""

    version: str
    timestamp: str
    requestContext: RequestContext
    requestPayload: Any
    responseContext: ResponseContext
    responsePayload: Any


class LambdaApiError(AwsError):
    """An error the Lambda API answers with an HTTP status and an AWS error code."""

    status = 500
    code = "ServiceException"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"Type": "User", "message": self.message, **self.extra}


class ResourceNotFound(LambdaApiError):
    status = 404
    code = "ResourceNotFoundException"


class InvalidRequestContent(LambdaApiError):
    status = 400
    code = "InvalidRequestContentException"


class InvalidParameterValue(LambdaApiError):
    """A configuration Lambda refuses (a role it cannot use, a target its role cannot reach)."""

    status = 400
    code = "InvalidParameterValueException"


class RequestEntityTooLarge(LambdaApiError):
    """An Invoke request body over the payload quota (AWS answers 413 with this code)."""

    status = 413
    code = "RequestEntityTooLargeException"


class TooManyRequests(LambdaApiError):
    status = 429
    code = "TooManyRequestsException"


class ServiceError(LambdaApiError):
    """The runtime itself failed (e.g. the worker could not start): a system error."""

    status = 500
    code = "ServiceException"
