"""Attempt faults on a real SQS -> Lambda mapping: the N-1 / N boundary of maxReceiveCount.

The deployed code is the project's queue_worker zip (functions/ as a stack ships it); the
fault middleware numbers an SQS record's attempts by ApproximateReceiveCount, so
FAILMODES_FAIL_ATTEMPTS = maxReceiveCount - 1 must end processed and = maxReceiveCount must
end in the DLQ, and the attempts:<LEDGER_PATTERN> partition must show every attempt.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from functions.faults import settings

pytestmark = [pytest.mark.local, pytest.mark.usefixtures("delete_new_mappings")]

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
MAX_RECEIVE = 3
# Visibility >= the function timeout, as AWS requires of a mapping; short, so each failed
# receive comes back quickly, and long enough for a cold start under a loaded host.
TIMEOUT_S = 4


def queue_worker_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(FUNCTIONS_DIR / "__init__.py", "functions/__init__.py")
        for package in ("faults", "common", "queue_worker"):
            for path in sorted((FUNCTIONS_DIR / package).glob("*.py")):
                archive.write(path, f"functions/{package}/{path.name}")
    return buffer.getvalue()


@pytest.fixture
def ledger(aws, name_for) -> str:
    table = name_for("ledger")
    aws("dynamodb").create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pattern", "KeyType": "HASH"},
            {"AttributeName": "event_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pattern", "AttributeType": "S"},
            {"AttributeName": "event_id", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def count(aws: Any, table: str, pattern: str, event_id: str) -> int:
    item = (
        aws("dynamodb")
        .get_item(
            TableName=table,
            Key={"pattern": {"S": pattern}, "event_id": {"S": event_id}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return int(item["count"]["N"]) if item else 0


def worker(aws: Any, name_for: Any, lambda_role: str, ledger: str, fail_attempts: int) -> dict:
    """A queue (redrive to a DLQ at MAX_RECEIVE) mapped to queue_worker with attempt faults."""
    sqs, lam = aws("sqs"), aws("lambda")
    dlq = sqs.create_queue(QueueName=name_for("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE}
    url = sqs.create_queue(
        QueueName=name_for("src"),
        Attributes={"VisibilityTimeout": str(TIMEOUT_S), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = name_for("pattern")
    fn = name_for("worker")
    lam.create_function(
        FunctionName=fn,
        Runtime="python3.11",
        Role=lambda_role,
        Handler="functions.queue_worker.handler.handler",
        Code={"ZipFile": queue_worker_zip()},
        Timeout=TIMEOUT_S,
        Environment={
            "Variables": {
                "LEDGER_TABLE": ledger,
                "LEDGER_PATTERN": pattern,
                "POWERTOOLS_SERVICE_NAME": "queue_worker",
                settings.MASTER: "on",
                settings.FAIL_ATTEMPTS: str(fail_attempts),
                settings.RECORD_ATTEMPTS: "on",
            }
        },
    )
    # Warm it first (the import of Powertools is the slow part), so no cold start can time
    # out a receive the test counts: the call itself fails (an empty batch), the import stays.
    lam.invoke(FunctionName=fn, Payload=json.dumps({"Records": []}))
    event_id = str(uuid.uuid4())
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": event_id}))
    lam.create_event_source_mapping(
        FunctionName=fn,
        EventSourceArn=arn,
        BatchSize=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    return {"url": url, "dlq": dlq, "pattern": pattern, "id": event_id}


def test_fail_attempts_at_max_receive_minus_one_is_processed_and_at_max_is_dead_lettered(
    aws, name_for, lambda_role, ledger, poll, drain
) -> None:
    # GIVEN two queues with maxReceiveCount 3, their workers failing the first 2 and 3 attempts
    sqs = aws("sqs")
    survives = worker(aws, name_for, lambda_role, ledger, fail_attempts=MAX_RECEIVE - 1)
    dies = worker(aws, name_for, lambda_role, ledger, fail_attempts=MAX_RECEIVE)
    budget = TIMEOUT_S * (MAX_RECEIVE + 2) + 10
    # WHEN the mappings run THEN N-1 failures end processed, on the last allowed receive
    poll(
        lambda: count(aws, ledger, survives["pattern"], survives["id"]),
        timeout=budget,
        interval=0.5,
        what="the N-1 event processed",
    )
    # AND N failures end in the DLQ, body unchanged
    (dead,) = drain(sqs, dies["dlq"], expect=1, timeout=budget)
    assert json.loads(dead["Body"]) == {"id": dies["id"]}
    # AND the attempts partition shows exactly maxReceiveCount attempts for each
    for run in (survives, dies):
        partition = settings.attempts_partition(run["pattern"])
        assert count(aws, ledger, partition, run["id"]) == MAX_RECEIVE, run
    # AND the processed one was processed once and never dead-lettered; the dead one never ran
    assert count(aws, ledger, survives["pattern"], survives["id"]) == 1
    assert count(aws, ledger, dies["pattern"], dies["id"]) == 0
    assert drain(sqs, survives["dlq"], expect=1, timeout=1) == []
    for run in (survives, dies):
        left = sqs.get_queue_attributes(
            QueueUrl=run["url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert left == {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }, run
