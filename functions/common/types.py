"""Wire shapes the handlers return or write, shared with the local cloud and the tests."""

from __future__ import annotations

from typing import Any, TypedDict


class BatchItemFailure(TypedDict):
    itemIdentifier: str  # SQS messageId, or Kinesis sequence number


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


class ApiResponse(TypedDict, total=False):
    statusCode: int
    headers: dict[str, str]
    body: str


class FailureRecord(TypedDict):
    """What the compensation step writes to FAILURE_QUEUE_URL."""

    id: str
    error: str  # Step Functions Error name, e.g. PermanentStepError, States.Timeout
    cause: str  # Step Functions Cause, as given (often a JSON string from Lambda)
    cause_detail: Any  # the Cause parsed as JSON when it is JSON, else None
    input: dict[str, Any]  # the state input without its error field
    recorded_at: str  # ISO 8601 UTC


class SourceReport(TypedDict):
    dlq_url: str
    moved: int
    failed: int
    skipped: int


class RedriveReport(TypedDict):
    """The DLQ redriver's answer: moved fresh, failed (left in the DLQ), skipped (already moved)."""

    moved: int
    failed: int
    skipped: int
    by_source: dict[str, SourceReport]  # source queue url -> its counts
