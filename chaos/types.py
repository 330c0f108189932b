"""Wire shapes shared by the chaos modules, the reports and the tests."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from components.outputs import Envelope


class SentEvent(TypedDict):
    """One event a traffic driver sent (or failed to send)."""

    id: str
    at: float  # epoch seconds when the send call returned
    entry: str  # sqs | sns | eventbridge | kinesis | api | invoke | stepfunctions
    poison: bool
    ok: bool
    detail: str  # message id, sequence number, HTTP status, or the error


class KinesisPointer(TypedDict):
    stream_arn: str
    shard_id: str
    start_sequence_number: str
    end_sequence_number: str
    batch_size: int


class DeadLetter(TypedDict, total=False):
    """One event found in a DLQ / destination queue, parsed from its envelope.

    A Kinesis OnFailure record points at a batch; it yields one DeadLetter per record.
    """

    event_id: str | None  # None when the body carried no recognisable id (reported as unexpected)
    envelope: Envelope
    queue_url: str
    message_id: str
    sent_at: float | None  # SQS SentTimestamp, epoch seconds
    payload: Any  # the original event, once unwrapped
    error_code: str | None
    error_message: str | None
    request_id: str | None
    condition: str | None  # RetriesExhausted | EventAgeExceeded (destination, Kinesis)
    approximate_invoke_count: int | None
    rule_arn: str | None
    target_arn: str | None
    retry_attempts: int | None
    pointer: KinesisPointer | None
    # SQS ApproximateReceiveCount of the DLQ message as received (the probe's own receive
    # included): a redrive moves the message with its count (moto keeps it; AWS's docs do not say)
    receive_count: int | None


class AlarmTransition(TypedDict):
    alarm: str
    at: float  # epoch seconds
    old: str
    new: str


ChangeKind = Literal["env", "concurrency", "mapping", "grant"]


class StackIdentity(TypedDict, total=False):
    """Which stack in which cloud a change was made on (stored in the journal, checked on
    rollback)."""

    name: str
    endpoint: str | None  # None: AWS itself
    account: str | None
    region: str


class JournalEntry(TypedDict, total=False):
    op: Literal["begin", "undone"]
    token: str
    at: float
    kind: ChangeKind
    target: str  # function name or mapping UUID
    prior: dict[str, Any]  # state before the change, enough to restore it
    change: dict[str, Any]  # what was applied (for the report)
    stack: StackIdentity  # on begin: where the change was made
    vanished: bool  # on undone: the target no longer existed, nothing to restore
