"""Helpers of the tests/local tests (also handed out as fixtures by tests/local/conftest.py)."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

# AWS's fixed delays (1 min / 2 min async retries, throttle backoff) shrink 1000x in tests.
TEST_TIME_SCALE = 0.001

LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "lambda.amazonaws.com"},
        }
    ],
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def zip_source(source: str, module: str = "app") -> bytes:
    """A deployment zip holding one module, `app.py` by default."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{module}.py", source)
    return buffer.getvalue()


def wait_for(
    condition: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = "condition"
) -> Any:
    """Poll until `condition()` is truthy (returning its value), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def read_queue(sqs: Any, queue_url: str, *, expect: int, timeout: float = 30.0) -> list[dict]:
    """Receive (and delete) until `expect` messages arrived or `timeout` passed."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < expect and time.monotonic() < deadline:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        for message in answer.get("Messages", []):
            got.append(message)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return got


# The tests' roles may do anything unless a test says otherwise: the local cloud judges a
# function's own calls and Lambda's calls on its behalf (DLQ, destinations, mapping reads)
# against its role.
ALLOW_ALL: tuple[dict[str, Any], ...] = ({"Effect": "Allow", "Action": "*", "Resource": "*"},)


def create_lambda_role(iam: Any, statements: Sequence[dict[str, Any]] = ALLOW_ALL) -> str:
    """A role Lambda may assume, with `statements` as its one inline policy (none when
    empty); its ARN."""
    name = unique("lambda-role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"][
        "Arn"
    ]
    if statements:
        policy = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_role_policy(RoleName=name, PolicyName="test", PolicyDocument=json.dumps(policy))
    return str(arn)


# A handler that sends each event it gets, whole, to the queue SEEN_URL names.
RECORDER = """
import json, os
import boto3

_sqs = None


def handler(event, context):
    global _sqs
    if _sqs is None:
        _sqs = boto3.client("sqs")
    _sqs.send_message(QueueUrl=os.environ["SEEN_URL"], MessageBody=json.dumps(event))
"""
