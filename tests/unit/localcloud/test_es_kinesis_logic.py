"""Pure logic of the Kinesis mapping: blocking, bisect, retries, record age, partial responses."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from localcloud.lambda_.event_sources.base import Invocation
from localcloud.lambda_.event_sources.kinesis import (
    BatchSettings,
    Discard,
    StreamRecord,
    first_failed_index,
    kinesis_record,
    on_failure_record,
    process_batch,
)

STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/rides"
FN = "arn:aws:lambda:us-east-1:123456789012:function:proc"


def records(n: int, *, arrival: float = 1000.0) -> list[StreamRecord]:
    return [StreamRecord(str(i + 1), "pk", f"r{i + 1}".encode(), arrival + i) for i in range(n)]


class Harness:
    """Runs process_batch against a fake function; records what happened, in order."""

    def __init__(
        self,
        poison: set[str] = frozenset(),
        *,
        throttles: int = 0,  # type: ignore[assignment]
        partial: bool = False,
        now: float = 2000.0,
    ) -> None:
        self.poison = poison
        self.throttles = throttles
        self.partial = partial
        self.now = now
        self.invocations: list[list[str]] = []
        self.processed: list[str] = []
        self.discards: list[Discard] = []
        self.checkpoints: list[str] = []
        self.backoffs: list[int] = []

    def invoke(self, batch: list[StreamRecord]) -> Invocation:
        if self.throttles:
            self.throttles -= 1
            return Invocation("throttled", 429)
        seqs = [r.sequence_number for r in batch]
        self.invocations.append(seqs)
        bad = [s for s in seqs if s in self.poison]
        if self.partial:
            # A well-behaved handler: processes in order up to the first bad record.
            first_bad = seqs.index(bad[0]) if bad else len(seqs)
            self.processed.extend(seqs[:first_bad])
            failures = [{"itemIdentifier": s} for s in seqs[first_bad:]]
            return Invocation(
                "success", 200, payload=json.dumps({"batchItemFailures": failures}).encode()
            )
        if bad:
            return Invocation("function_error", 200, function_error="Unhandled", request_id="req")
        self.processed.extend(seqs)
        return Invocation("success", 200)

    def run(self, batch: list[StreamRecord], settings_: BatchSettings) -> bool:
        def backoff(n: int) -> bool:
            self.backoffs.append(n)
            return False

        return process_batch(
            batch,
            settings_,
            invoke=self.invoke,
            on_discard=self.discards.append,
            on_checkpoint=self.checkpoints.append,
            backoff=backoff,
            now=lambda: self.now,
        )


def test_success_checkpoints_the_last_record() -> None:
    h = Harness()
    assert h.run(records(5), BatchSettings())
    assert h.invocations == [["1", "2", "3", "4", "5"]]
    assert h.checkpoints == ["5"] and not h.discards


def test_failure_blocks_until_retries_run_out_then_discards_with_the_pointers() -> None:
    # GIVEN MaximumRetryAttempts 2 and a poison record, no bisect
    h = Harness({"3"})
    h.run(records(4), BatchSettings(maximum_retry_attempts=2))
    # THEN the whole batch is tried 1 + 2 times, then discarded as one
    assert h.invocations == [["1", "2", "3", "4"]] * 3
    (discard,) = h.discards
    assert discard.condition == "RetryAttemptsExhausted" and discard.invoke_count == 3
    assert [r.sequence_number for r in discard.records] == ["1", "2", "3", "4"]
    assert h.checkpoints == ["4"]


def test_bisect_isolates_the_poison_record_without_spending_retries() -> None:
    h = Harness({"3"})
    h.run(records(4), BatchSettings(bisect_on_error=True, maximum_retry_attempts=0))
    assert h.invocations == [["1", "2", "3", "4"], ["1", "2"], ["3", "4"], ["3"], ["4"]]
    (discard,) = h.discards
    assert [r.sequence_number for r in discard.records] == ["3"]
    assert discard.invoke_count == 3  # it was in three invocations
    assert h.processed == ["1", "2", "4"]
    assert h.checkpoints == ["2", "3", "4"]


def test_partial_response_checkpoints_before_the_lowest_failure() -> None:
    h = Harness({"3"}, partial=True)
    h.run(records(5), BatchSettings(report_batch_item_failures=True, maximum_retry_attempts=1))
    # 1-2 are checkpointed at once; 3-5 retried once, then discarded
    assert h.invocations == [["1", "2", "3", "4", "5"], ["3", "4", "5"]]
    assert h.checkpoints[0] == "2" and h.checkpoints[-1] == "5"
    (discard,) = h.discards
    assert [r.sequence_number for r in discard.records] == ["3", "4", "5"]


def test_throttles_do_not_count_as_attempts() -> None:
    h = Harness(throttles=3)
    h.run(records(2), BatchSettings(maximum_retry_attempts=0))
    assert h.backoffs == [1, 2, 3]
    assert h.processed == ["1", "2"] and not h.discards


def test_records_older_than_the_maximum_age_are_discarded_first() -> None:
    # GIVEN records that arrived at 1000..1003 and now = 1062 with a 60 s limit
    h = Harness(now=1062.5)
    h.run(records(4), BatchSettings(maximum_record_age=60))
    # THEN 1..3 (older than 60 s) are dropped before any invocation, 4 is processed
    (discard,) = h.discards
    assert discard.condition == "RecordAgeExceeded" and discard.invoke_count == 0
    assert [r.sequence_number for r in discard.records] == ["1", "2", "3"]
    assert h.invocations == [["4"]]


def test_stop_abandons_without_checkpointing_past_the_failure() -> None:
    result = process_batch(
        records(3),
        BatchSettings(),
        invoke=lambda b: Invocation("throttled", 429),
        on_discard=lambda d: None,
        on_checkpoint=lambda s: None,
        backoff=lambda n: True,
    )
    assert result is False


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=40),
    poison_at=st.sets(st.integers(min_value=1, max_value=40), max_size=3),
    retries=st.integers(min_value=0, max_value=3),
)
def test_bisect_property_every_record_once_poison_isolated(
    size: int, poison_at: set[int], retries: int
) -> None:
    poison = {str(p) for p in poison_at if p <= size}
    h = Harness(poison)
    assert h.run(records(size), BatchSettings(bisect_on_error=True, maximum_retry_attempts=retries))
    discarded = [r.sequence_number for d in h.discards for r in d.records]
    # every good record processed exactly once, every poison record discarded alone, once
    assert sorted(h.processed, key=int) == [
        str(i) for i in range(1, size + 1) if str(i) not in poison
    ]
    assert len(h.processed) == len(set(h.processed))
    assert sorted(discarded, key=int) == sorted(poison, key=int)
    assert all(len(d.records) == 1 for d in h.discards)
    # checkpoints only move forward, and end at the last record
    assert [int(c) for c in h.checkpoints] == sorted(int(c) for c in h.checkpoints)
    assert h.checkpoints[-1] == str(size)


def test_invalid_partial_response_fails_the_whole_batch() -> None:
    batch = records(3)
    bad = Invocation("success", 200, payload=b'{"batchItemFailures": [{"itemIdentifier": "99"}]}')
    assert first_failed_index(bad, batch, True) == 0
    assert first_failed_index(Invocation("success", 200, payload=b"{}"), batch, True) is None


def test_on_failure_record_has_the_documented_fields() -> None:
    last = Invocation("function_error", 200, function_error="Unhandled", request_id="req-1")
    discard = Discard(records(3), "RetryAttemptsExhausted", 4, last)
    doc = on_failure_record(
        discard,
        shard_id="shardId-000000000000",
        stream_arn=STREAM,
        function_arn=FN,
        now=1700000000.123,
    )
    assert doc["requestContext"] == {
        "requestId": "req-1",
        "functionArn": FN,
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 4,
    }
    assert doc["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert doc["version"] == "1.0" and doc["timestamp"] == "2023-11-14T22:13:20.123Z"
    info = doc["KinesisBatchInfo"]
    assert info["shardId"] == "shardId-000000000000" and info["streamArn"] == STREAM
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        "1",
        "3",
        3,
    )
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")


def test_kinesis_event_record_shape() -> None:
    rec = kinesis_record(
        records(1)[0],
        shard_id="shardId-000000000001",
        stream_arn=STREAM,
        role_arn="arn:aws:iam::123456789012:role/r",
    )
    assert rec["eventID"] == "shardId-000000000001:1" and rec["eventSource"] == "aws:kinesis"
    assert rec["eventName"] == "aws:kinesis:record" and rec["eventSourceARN"] == STREAM
    assert rec["kinesis"]["data"] == "cjE=" and rec["kinesis"]["kinesisSchemaVersion"] == "1.0"
    assert rec["kinesis"]["approximateArrivalTimestamp"] == 1000.0
