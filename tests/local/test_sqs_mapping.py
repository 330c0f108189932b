"""SQS event source mapping conformance: set up with boto3 only, assert AWS's documented outcome.

Handlers report what they saw to a "seen" queue (one message per invocation),
so the test observes the function from outside, as a user would.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

pytestmark = [pytest.mark.local, pytest.mark.usefixtures("delete_new_mappings")]


RECORDER = """
import json, os, time
import boto3

_sqs = None


def _client():
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    return _sqs


def _seen(payload):
    _client().send_message(QueueUrl=os.environ["SEEN_URL"], MessageBody=json.dumps(payload))


def handler(event, context):
    started = time.time()
    records = event["Records"]
    if not records:  # the tests' warm-up call
        _client()
        return {}
    failures = []
    ids = []
    for record in records:
        body = json.loads(record["body"])
        ids.append(body["id"])
        if body.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
    time.sleep(float(os.environ.get("SLEEP", "0")))
    _seen({"ids": ids, "start": started, "end": time.time(),
           "counts": [r["attributes"]["ApproximateReceiveCount"] for r in records],
           "groups": [r["attributes"].get("MessageGroupId") for r in records],
           "failed": [f["itemIdentifier"] for f in failures],
           "shape": sorted(records[0].keys()), "source": records[0]["eventSource"]})
    if os.environ.get("RAISE_ON_FAIL") and failures:
        raise RuntimeError("poison in batch")
    return {"batchItemFailures": failures}
"""


@pytest.fixture
def queues(aws, name_for) -> Any:  # type: ignore[no-untyped-def]
    """`queues(visibility=, max_receive=, fifo=)` -> url/arn of source, dlq, seen queues."""
    sqs = aws("sqs")

    def arn_of(url: str) -> str:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def make(*, visibility: int = 2, max_receive: int = 2, fifo: bool = False) -> dict[str, str]:
        suffix = ".fifo" if fifo else ""
        fifo_attrs = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if fifo else {}
        dlq = sqs.create_queue(QueueName=name_for("dlq") + suffix, Attributes=fifo_attrs)[
            "QueueUrl"
        ]
        redrive = {"deadLetterTargetArn": arn_of(dlq), "maxReceiveCount": max_receive}
        source = sqs.create_queue(
            QueueName=name_for("src") + suffix,
            Attributes={
                "VisibilityTimeout": str(visibility),
                "RedrivePolicy": json.dumps(redrive),
                **fifo_attrs,
            },
        )["QueueUrl"]
        seen = sqs.create_queue(QueueName=name_for("seen"))["QueueUrl"]
        return {"url": source, "arn": arn_of(source), "dlq": dlq, "seen": seen}

    return make


def seen_reports(sqs: Any, url: str, drain: Any, *, ids: int, timeout: float) -> list[dict]:
    """Drain invocation reports until `ids` record ids were reported (or timeout)."""
    reports: list[dict] = []
    deadline = time.monotonic() + timeout
    while sum(len(r["ids"]) for r in reports) < ids and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = got.get("Messages") or []
        if messages:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
        reports.extend(json.loads(m["Body"]) for m in messages)
    return reports


def warm(aws: Any, fn: str) -> None:
    """One direct invoke first, so a cold start (boto3 import under CI load) cannot time out
    the mapping's first batch: these tests are about the mapping, not cold starts."""
    answer = aws("lambda").invoke(FunctionName=fn, Payload=json.dumps({"Records": []}))
    assert "FunctionError" not in answer, answer["Payload"].read()


def send_all(sqs: Any, url: str, bodies: list[dict], **extra: Any) -> None:
    for start in range(0, len(bodies), 10):
        entries = [
            {
                "Id": str(i),
                "MessageBody": json.dumps(body),
                **extra.get("entry", lambda b: {})(body),
            }
            for i, body in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def test_poison_message_reaches_the_dlq_after_max_receive_count(aws, queues, make_function, drain):
    # GIVEN a queue (visibility 2 s, maxReceiveCount 2) mapped to a function that fails on poison
    sqs, lam = aws("sqs"), aws("lambda")
    q = queues(visibility=2, max_receive=2)
    fn = make_function(RECORDER, timeout=2, env={"SEEN_URL": q["seen"], "RAISE_ON_FAIL": "1"})
    warm(aws, fn)
    body = json.dumps({"id": "poison-1", "fail": True})
    sqs.send_message(QueueUrl=q["url"], MessageBody=body)
    lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=q["arn"], BatchSize=10)
    # WHEN the mapping keeps failing
    (dead,) = drain(sqs, q["dlq"], expect=1, timeout=20)
    # THEN the DLQ holds the original body, after exactly maxReceiveCount deliveries
    assert dead["Body"] == body
    reports = drain(sqs, q["seen"], expect=2, timeout=2)
    assert sorted(json.loads(r["Body"])["counts"][0] for r in reports) == ["1", "2"]
    assert drain(sqs, q["url"], expect=1, timeout=0.5) == []


def test_partial_batch_failure_returns_only_the_failed_item(aws, queues, make_function, drain):
    # GIVEN three messages in one batch, one of which the function reports as failed
    sqs, lam = aws("sqs"), aws("lambda")
    q = queues(visibility=2, max_receive=2)
    fn = make_function(RECORDER, timeout=2, env={"SEEN_URL": q["seen"]})
    warm(aws, fn)
    send_all(sqs, q["url"], [{"id": "ok-1"}, {"id": "bad", "fail": True}, {"id": "ok-2"}])
    lam.create_event_source_mapping(
        FunctionName=fn,
        EventSourceArn=q["arn"],
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    # WHEN the mapping runs until the failed item is dead-lettered
    (dead,) = drain(sqs, q["dlq"], expect=1, timeout=20)
    reports = seen_reports(sqs, q["seen"], drain, ids=4, timeout=5)
    # THEN the first batch held all three, and only "bad" came back (receive count 2)
    assert sorted(reports[0]["ids"]) == ["bad", "ok-1", "ok-2"]
    assert reports[0]["shape"] == sorted(
        [
            "messageId",
            "receiptHandle",
            "body",
            "attributes",
            "messageAttributes",
            "md5OfBody",
            "eventSource",
            "eventSourceARN",
            "awsRegion",
        ]
    )
    seen_ids = [i for r in reports for i in r["ids"]]
    assert seen_ids.count("ok-1") == 1 and seen_ids.count("ok-2") == 1
    assert seen_ids.count("bad") == 2
    assert json.loads(dead["Body"])["id"] == "bad"


def test_maximum_concurrency_caps_concurrent_invocations(aws, queues, make_function, drain):
    # GIVEN MaximumConcurrency 2, batch size 1 and a function that takes 0.3 s
    sqs, lam = aws("sqs"), aws("lambda")
    q = queues(visibility=30)  # long enough that no message is redelivered under CI load
    fn = make_function(RECORDER, timeout=5, env={"SEEN_URL": q["seen"], "SLEEP": "0.3"})
    send_all(sqs, q["url"], [{"id": f"c-{i}"} for i in range(12)])
    lam.create_event_source_mapping(
        FunctionName=fn,
        EventSourceArn=q["arn"],
        BatchSize=1,
        ScalingConfig={"MaximumConcurrency": 2},
    )
    reports = seen_reports(sqs, q["seen"], drain, ids=12, timeout=30)
    # THEN at no instant did more than 2 invocations overlap, and 2 did (the cap is used)
    edges = sorted(
        [(r["start"], 1) for r in reports] + [(r["end"], -1) for r in reports],
        key=lambda e: (e[0], e[1]),
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert sorted(i for r in reports for i in r["ids"]) == sorted(f"c-{i}" for i in range(12))
    assert peak == 2


def test_fifo_order_holds_per_message_group(aws, queues, make_function, drain):
    # GIVEN a FIFO queue with two groups of 8 ordered messages
    sqs, lam = aws("sqs"), aws("lambda")
    q = queues(visibility=30, fifo=True)
    fn = make_function(RECORDER, timeout=5, env={"SEEN_URL": q["seen"], "SLEEP": "0.05"})
    bodies = [{"id": f"{g}-{n}", "group": g} for n in range(8) for g in ("A", "B")]
    send_all(sqs, q["url"], bodies, entry=lambda b: {"MessageGroupId": b["group"]})
    lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=q["arn"], BatchSize=2)
    reports = seen_reports(sqs, q["seen"], drain, ids=16, timeout=30)
    # THEN each group's messages were processed in send order, each once
    reports.sort(key=lambda r: r["start"])
    for group in ("A", "B"):
        order = [int(i.split("-")[1]) for r in reports for i in r["ids"] if i.startswith(group)]
        assert order == list(range(8)), f"group {group} processed as {order}"
    assert all(g in ("A", "B") for r in reports for g in r["groups"])


def test_throttled_messages_return_after_visibility_and_are_processed_once_unthrottled(
    aws, queues, make_function, drain, poll
):
    # GIVEN a function with reserved concurrency 0 (every invoke throttled)
    sqs, lam = aws("sqs"), aws("lambda")
    q = queues(visibility=2, max_receive=50)
    fn = make_function(RECORDER, timeout=2, env={"SEEN_URL": q["seen"]})
    warm(aws, fn)
    lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=0)
    sqs.send_message(QueueUrl=q["url"], MessageBody=json.dumps({"id": "held"}))
    lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=q["arn"], BatchSize=1)
    # WHEN it stays throttled: the message returns after each visibility timeout, and is retried
    cw = aws("cloudwatch")

    def throttles() -> float:
        stats = cw.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Throttles",
            Dimensions=[{"Name": "FunctionName", "Value": fn}],
            StartTime=time.time() - 600,
            EndTime=time.time() + 60,
            Period=60,
            Statistics=["Sum"],
        )
        return sum(p["Sum"] for p in stats["Datapoints"])

    poll(lambda: throttles() >= 2, timeout=15, what="two throttled deliveries")
    assert drain(sqs, q["seen"], expect=1, timeout=0.2) == []
    # THEN once the reservation is removed, it is processed exactly once
    lam.delete_function_concurrency(FunctionName=fn)
    reports = seen_reports(sqs, q["seen"], drain, ids=1, timeout=15)
    assert [i for r in reports for i in r["ids"]] == ["held"]
    assert int(reports[0]["counts"][0]) >= 2


def test_disabled_mapping_stops_and_resumes(aws, queues, make_function, drain):
    sqs, lam = aws("sqs"), aws("lambda")
    q = queues(visibility=2)
    fn = make_function(RECORDER, timeout=2, env={"SEEN_URL": q["seen"]})
    warm(aws, fn)
    uuid = lam.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=q["arn"], BatchSize=10, Enabled=False
    )["UUID"]
    sqs.send_message(QueueUrl=q["url"], MessageBody=json.dumps({"id": "waits"}))
    assert drain(sqs, q["seen"], expect=1, timeout=1.5) == []
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    reports = seen_reports(sqs, q["seen"], drain, ids=1, timeout=10)
    assert [i for r in reports for i in r["ids"]] == ["waits"]
    assert reports[0]["source"] == "aws:sqs"


def test_end_to_end_throughput_nothing_lost(aws, queues, make_function, drain, capsys):
    # GIVEN 500 messages sent as fast as one producer can
    sqs, lam = aws("sqs"), aws("lambda")
    q = queues(visibility=30)  # a redelivery would be a duplicate: none may happen
    fn = make_function(RECORDER, timeout=10, env={"SEEN_URL": q["seen"]})
    lam.create_event_source_mapping(FunctionName=fn, EventSourceArn=q["arn"], BatchSize=10)
    total = 500
    began = time.monotonic()
    send_all(sqs, q["url"], [{"id": f"t-{i}"} for i in range(total)])
    # WHEN the mapping drains the queue
    reports = seen_reports(sqs, q["seen"], drain, ids=total, timeout=60)
    elapsed = time.monotonic() - began
    # THEN every id was processed exactly once
    ids = [i for r in reports for i in r["ids"]]
    assert len(ids) == total and set(ids) == {f"t-{i}" for i in range(total)}
    with capsys.disabled():
        print(
            f"\nSQS -> Lambda: {total} messages in {elapsed:.2f} s "
            f"({total / elapsed:.0f} msg/s, {len(reports)} invocations, 0 lost, 0 duplicated)"
        )


def test_mapping_refused_when_visibility_is_shorter_than_the_function_timeout(
    aws, queues, make_function
):
    from botocore.exceptions import ClientError

    q = queues(visibility=2)
    fn = make_function(RECORDER, timeout=5, env={"SEEN_URL": q["seen"]})
    with pytest.raises(ClientError) as info:
        aws("lambda").create_event_source_mapping(FunctionName=fn, EventSourceArn=q["arn"])
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "visibility timeout: 2 seconds is less than Function timeout: 5" in str(info.value)
    assert aws("lambda").list_event_source_mappings(FunctionName=fn)["EventSourceMappings"] == []
