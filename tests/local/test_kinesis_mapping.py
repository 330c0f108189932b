"""Kinesis mapping conformance: per-shard order, bisect, OnFailure pointers, IteratorAge."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

pytestmark = [pytest.mark.local, pytest.mark.usefixtures("delete_new_mappings")]


RECORDER = """
import base64, json, os, time
import boto3

_sqs = None


def handler(event, context):
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    if not event["Records"]:  # the tests' warm-up call
        return None
    items = []
    for record in event["Records"]:
        data = json.loads(base64.b64decode(record["kinesis"]["data"]))
        items.append({"id": data["id"], "shard": record["eventID"].split(":")[0],
                      "seq": record["kinesis"]["sequenceNumber"],
                      "poison": bool(data.get("poison"))})
    _sqs.send_message(QueueUrl=os.environ["SEEN_URL"], MessageBody=json.dumps(
        {"items": items, "source": event["Records"][0]["eventSource"]}))
    if any(i["poison"] for i in items):
        raise ValueError("poison record in batch")
"""


@pytest.fixture
def stream(aws, name_for, poll) -> Any:  # type: ignore[no-untyped-def]
    kinesis = aws("kinesis")

    def make(shards: int = 1) -> str:
        name = name_for("stream")
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        poll(
            lambda: (
                kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                    "StreamStatus"
                ]
                == "ACTIVE"
            ),
            timeout=10,
            what="stream active",
        )
        return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"
        ]

    return make


@pytest.fixture
def queue(aws, name_for) -> Any:  # type: ignore[no-untyped-def]
    sqs = aws("sqs")

    def make(prefix: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name_for(prefix))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    return make


def put(kinesis: Any, stream_arn: str, records: list[dict], key: Any = lambda r: r["id"]) -> None:
    kinesis.put_records(
        StreamARN=stream_arn,
        Records=[{"Data": json.dumps(r).encode(), "PartitionKey": str(key(r))} for r in records],
    )


def warm(aws: Any, fn: str) -> None:
    """A direct invoke first: a cold start under CI load must not time out the first batch."""
    answer = aws("lambda").invoke(FunctionName=fn, Payload=json.dumps({"Records": []}))
    assert "FunctionError" not in answer, answer["Payload"].read()


def collect(sqs: Any, url: str, drain: Any, *, until: Any, timeout: float) -> list[dict]:
    reports: list[dict] = []
    deadline = time.monotonic() + timeout
    while not until(reports) and time.monotonic() < deadline:
        reports.extend(json.loads(m["Body"]) for m in drain(sqs, url, expect=1, timeout=1.0))
    return reports


def processed(reports: list[dict]) -> set[int]:
    """Ids of records in invocations that succeeded (had no poison record)."""
    return {
        i["id"] for r in reports if not any(x["poison"] for x in r["items"]) for i in r["items"]
    }


def test_records_are_processed_in_order_per_shard(aws, stream, queue, make_function, drain, poll):
    # GIVEN a 2-shard stream and 60 records over 10 partition keys (k0..k9 hash to both shards)
    kinesis, lam, sqs = aws("kinesis"), aws("lambda"), aws("sqs")
    arn = stream(shards=2)
    seen_url, _ = queue("seen")
    fn = make_function(RECORDER, timeout=3, env={"SEEN_URL": seen_url})
    warm(aws, fn)
    for start in range(0, 60, 20):
        put(
            kinesis,
            arn,
            [{"id": i} for i in range(start, start + 20)],
            key=lambda r: f"k{r['id'] % 10}",
        )
    lam.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=arn, BatchSize=7, StartingPosition="TRIM_HORIZON"
    )
    reports = collect(
        sqs, seen_url, drain, timeout=30, until=lambda rs: sum(len(r["items"]) for r in rs) >= 60
    )
    # THEN every record was seen once, and sequence numbers only grow within each shard
    items = [i for r in reports for i in r["items"]]
    assert sorted(i["id"] for i in items) == list(range(60))
    assert {r["source"] for r in reports} == {"aws:kinesis"}
    shards = {i["shard"] for i in items}
    assert len(shards) == 2
    for shard in shards:
        seqs = [int(i["seq"]) for i in items if i["shard"] == shard]
        assert seqs == sorted(seqs), f"{shard} out of order"
        ids_by_key: dict[int, list[int]] = {}
        for i in items:
            if i["shard"] == shard:
                ids_by_key.setdefault(i["id"] % 10, []).append(i["id"])
        assert all(ids == sorted(ids) for ids in ids_by_key.values())
    # AND IteratorAge was published for the function (ms, FunctionName dimension)
    cw = aws("cloudwatch")
    stats = poll(
        lambda: cw.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="IteratorAge",
            Dimensions=[{"Name": "FunctionName", "Value": fn}],
            StartTime=time.time() - 600,
            EndTime=time.time() + 60,
            Period=60,
            Statistics=["Maximum", "SampleCount"],
        )["Datapoints"],
        timeout=5,
        what="IteratorAge datapoints",
    )
    assert sum(p["SampleCount"] for p in stats) >= 1


def test_bisect_isolates_the_poison_record_and_on_failure_points_back_to_it(
    aws, stream, queue, make_function, drain
):
    # GIVEN bisect on, no retries, an OnFailure queue, and 8 records with one poison among them
    kinesis, lam, sqs = aws("kinesis"), aws("lambda"), aws("sqs")
    arn = stream(shards=1)
    seen_url, _ = queue("seen")
    failure_url, failure_arn = queue("onfailure")
    fn = make_function(RECORDER, timeout=3, env={"SEEN_URL": seen_url})
    warm(aws, fn)
    records = [{"id": i, "poison": i == 5} for i in range(8)]
    put(kinesis, arn, records)
    lam.create_event_source_mapping(
        FunctionName=fn,
        EventSourceArn=arn,
        BatchSize=8,
        StartingPosition="TRIM_HORIZON",
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": failure_arn}},
    )
    # WHEN the mapping works through the batch
    (failure,) = drain(sqs, failure_url, expect=1, timeout=30)
    reports = collect(
        sqs, seen_url, drain, timeout=10, until=lambda rs: processed(rs) >= set(range(8)) - {5}
    )
    # THEN the OnFailure record names exactly the poison record, with AWS's fields
    doc = json.loads(failure["Body"])
    info = doc["KinesisBatchInfo"]
    assert doc["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert doc["requestContext"]["functionArn"].endswith(f":function:{fn}")
    assert doc["requestContext"]["approximateInvokeCount"] >= 1
    assert doc["responseContext"]["functionError"] == "Unhandled"
    assert doc["version"] == "1.0" and info["streamArn"] == arn and info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    # AND the pointers resolve back to the record (AT_SEQUENCE_NUMBER), data intact
    iterator = kinesis.get_shard_iterator(
        StreamName=arn.rsplit("/", 1)[1],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    (record,) = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"]
    assert json.loads(record["Data"]) == {"id": 5, "poison": True}
    # AND every other record was processed by a successful (poison-free) invocation
    assert processed(reports) == set(range(8)) - {5}


def test_latest_starting_position_skips_earlier_records(aws, stream, queue, make_function, drain):
    kinesis, lam, sqs = aws("kinesis"), aws("lambda"), aws("sqs")
    arn = stream(shards=1)
    seen_url, _ = queue("seen")
    fn = make_function(RECORDER, timeout=3, env={"SEEN_URL": seen_url})
    warm(aws, fn)
    put(kinesis, arn, [{"id": 1}])
    lam.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=arn, BatchSize=10, StartingPosition="LATEST"
    )
    put(kinesis, arn, [{"id": 2}])
    reports = collect(sqs, seen_url, drain, timeout=20, until=lambda rs: rs)
    assert [i["id"] for r in reports for i in r["items"]] == [2]
