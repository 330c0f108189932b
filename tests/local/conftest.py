"""One local cloud for the whole tests/local session, and boto3 clients on it.

Tests set things up through boto3 only, as a user's program would, and name
their resources uniquely (`unique("fn")`) so they never collide.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import localcloud

# AWS's fixed delays (1 min / 2 min async retries, throttle backoff) shrink 1000x in tests.
TEST_TIME_SCALE = 0.001


@pytest.fixture(scope="session")
def cloud() -> Iterator[localcloud.LocalCloud]:
    with localcloud.start(time_scale=TEST_TIME_SCALE) as running:
        yield running


@pytest.fixture
def aws(cloud: localcloud.LocalCloud) -> Callable[..., Any]:
    """`aws("sqs")` -> a boto3 client on the session's local cloud."""
    return cloud.client


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


@pytest.fixture(scope="session")
def lambda_role(cloud: localcloud.LocalCloud) -> str:
    iam = cloud.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "lambda.amazonaws.com"},
            }
        ],
    }
    return iam.create_role(
        RoleName=unique("lambda-role"), AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]


@pytest.fixture
def make_function(cloud: localcloud.LocalCloud, lambda_role: str) -> Callable[..., str]:
    """Create a python3.11 function from inline source; returns its name."""
    lam = cloud.client("lambda")

    def make(
        source: str,
        *,
        handler: str = "app.handler",
        timeout: int = 3,
        env: dict[str, str] | None = None,
        **extra: Any,
    ) -> str:
        name = unique("fn")
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=lambda_role,
            Handler=handler,
            Code={"ZipFile": zip_source(source)},
            Timeout=timeout,
            Environment={"Variables": env or {}},
            **extra,
        )
        return name

    return make


def read_queue(sqs: Any, queue_url: str, *, expect: int, timeout: float = 10.0) -> list[dict]:
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


# The helpers as fixtures, so test modules need no import from conftest.
@pytest.fixture
def name_for() -> Callable[[str], str]:
    return unique


@pytest.fixture
def poll() -> Callable[..., Any]:
    return wait_for


@pytest.fixture
def drain() -> Callable[..., list[dict]]:
    return read_queue


@pytest.fixture
def zipped() -> Callable[..., bytes]:
    return zip_source
