"""The local Lambda runtime: worker processes, sync and async invoke, destinations, DLQ."""

from __future__ import annotations

from localcloud.lambda_.runtime import LambdaRuntime
from localcloud.lambda_.types import (
    DestinationRecord,
    FunctionSpec,
    InvalidRequestContent,
    InvokeResult,
    LambdaApiError,
    ResourceNotFound,
    ServiceError,
    TooManyRequests,
)

__all__ = [
    "DestinationRecord",
    "FunctionSpec",
    "InvalidRequestContent",
    "InvokeResult",
    "LambdaApiError",
    "LambdaRuntime",
    "ResourceNotFound",
    "ServiceError",
    "TooManyRequests",
]
