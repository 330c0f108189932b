"""SQS -> Lambda end-to-end throughput on the local cloud, with nothing lost.

    .venv/bin/python -m pytest benchmarks/test_sqs_lambda_throughput.py --benchmark-only -s

N messages are sent to a queue whose mapping (batch 10) invokes a function that
forwards every record's body to an output queue; the figure is N / (time from the
first send until every id is back in the output queue), and the run fails if any
id is missing or came back more often than SQS's at-least-once allows to be unseen.

Two rounds of N, one after the other: "cold" is the mapping's first N messages, so it
includes its pollers' first invokes (each a new execution environment that imports boto3:
about 0.3 s of CPU each, five at once on two cores); "warm" is the next N, on the warm
environments, the throughput a running stack sees (the figure issue 16 sets a target for).
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator

import pytest

import localcloud
from tests.local.helpers import create_lambda_role

MESSAGES = 1000
BATCH = 10
DEADLINE_SECONDS = 300

FORWARDER = """
import os, boto3
sqs = None
def handler(event, context):
    global sqs
    sqs = sqs or boto3.client("sqs")
    entries = [{"Id": str(i), "MessageBody": r["body"]} for i, r in enumerate(event["Records"])]
    sqs.send_message_batch(QueueUrl=os.environ["OUT_URL"], Entries=entries)
    return {}
"""


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cloud() -> Iterator[localcloud.LocalCloud]:
    with localcloud.start() as running:
        yield running


def test_sqs_to_lambda_throughput(benchmark, cloud, bench_results) -> None:
    sqs, lam, iam = cloud.client("sqs"), cloud.client("lambda"), cloud.client("iam")
    tag = uuid.uuid4().hex[:8]
    source = sqs.create_queue(QueueName=f"bench-in-{tag}", Attributes={"VisibilityTimeout": "60"})[
        "QueueUrl"
    ]
    out = sqs.create_queue(QueueName=f"bench-out-{tag}")["QueueUrl"]
    source_arn, out_arn = (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for url in (source, out)
    )
    # The execution role: the mapping's reads of the source, the forwarder's sends to out.
    role = create_lambda_role(
        iam,
        [
            {
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": source_arn,
            },
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": out_arn},
        ],
    )
    lam.create_function(
        FunctionName=f"bench-fwd-{tag}",
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip(FORWARDER)},
        Timeout=10,
        Environment={"Variables": {"OUT_URL": out}},
    )
    lam.create_event_source_mapping(
        EventSourceArn=source_arn, FunctionName=f"bench-fwd-{tag}", BatchSize=BATCH
    )

    def run(ids: list[str]) -> dict[str, float]:
        began = time.monotonic()
        for i in range(0, MESSAGES, 10):
            sqs.send_message_batch(
                QueueUrl=source,
                Entries=[
                    {"Id": str(n), "MessageBody": json.dumps({"id": event_id})}
                    for n, event_id in enumerate(ids[i : i + 10])
                ],
            )
        sent_in = time.monotonic() - began
        seen: dict[str, int] = {}
        deadline = began + DEADLINE_SECONDS
        while len(seen) < MESSAGES and time.monotonic() < deadline:
            answer = sqs.receive_message(QueueUrl=out, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = answer.get("Messages", [])
            for message in messages:
                event_id = json.loads(message["Body"])["id"]
                seen[event_id] = seen.get(event_id, 0) + 1
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=out,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(messages)
                    ],
                )
        elapsed = time.monotonic() - began
        return {
            "elapsed": elapsed,
            "sent_in": sent_in,
            "seen": len(seen),
            "lost": len(set(ids) - set(seen)),
            "duplicates": sum(c - 1 for c in seen.values()),
        }

    rounds: dict[str, dict[str, float]] = {}
    rounds["cold"] = run([str(uuid.uuid4()) for _ in range(MESSAGES)])
    rounds["warm"] = benchmark.pedantic(
        run, args=([str(uuid.uuid4()) for _ in range(MESSAGES)],), rounds=1, iterations=1
    )
    record: dict[str, object] = {"messages": MESSAGES, "batch_size": BATCH}
    for name, figures in rounds.items():
        assert figures["lost"] == 0, f"{name}: {figures['lost']} of {MESSAGES} never came back"
        rate = MESSAGES / figures["elapsed"]
        print(
            f"\nSQS -> Lambda ({name}): {MESSAGES} messages end to end in "
            f"{figures['elapsed']:.2f} s = {rate:.0f} msg/s (sending took "
            f"{figures['sent_in']:.2f} s), lost 0, duplicates {figures['duplicates']}"
        )
        record[name] = {
            "seconds": round(figures["elapsed"], 2),
            "messages_per_second": round(rate, 1),
            "sending_seconds": round(figures["sent_in"], 2),
            "lost": figures["lost"],
            "duplicates": figures["duplicates"],
        }
    record["messages_per_second"] = record["warm"]["messages_per_second"]  # type: ignore[index]
    bench_results("sqs_lambda_throughput", record)
