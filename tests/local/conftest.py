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
from pathlib import Path
from typing import Any

import pytest

import localcloud

# AWS's fixed delays (1 min / 2 min async retries, throttle backoff) shrink 1000x in tests.
TEST_TIME_SCALE = 0.001


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """`test_tail_*` tests wait on a stack's own long setting (MaximumEventAgeInSeconds is at
    least 60 s on AWS, and is never compressed): their scenario starts with the session (see
    `_start_long_scenarios_early`) and they run last, so the wait overlaps everything else."""
    # Last of tests/local, not of the whole session: tests/unit's mock_aws resets moto's
    # process-wide backends on exit, which would delete the tail scenarios' resources.
    here = Path(__file__).parent
    tail = [item for item in items if item.name.startswith("test_tail_")]
    rest = [item for item in items if not item.name.startswith("test_tail_")]
    local = [i for i, item in enumerate(rest) if here in Path(str(item.path)).parents]
    cut = local[-1] + 1 if local else len(rest)
    items[:] = rest[:cut] + tail + rest[cut:]


LONG_SCENARIOS = ("event_age_scenario",)


@pytest.fixture(scope="session", autouse=True)
def _start_long_scenarios_early(request: pytest.FixtureRequest) -> None:
    wanted = {
        name
        for item in request.session.items
        for name in getattr(item, "fixturenames", ())
        if name in LONG_SCENARIOS
    }
    for name in sorted(wanted):
        request.getfixturevalue(name)


_RUNNING: list[localcloud.LocalCloud] = []


@pytest.fixture(scope="session")
def cloud() -> Iterator[localcloud.LocalCloud]:
    with localcloud.start(time_scale=TEST_TIME_SCALE) as running:
        _RUNNING.append(running)
        yield running


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the session cloud when tests/local ends, not when the session does: its pollers
    and alarm evaluator act on moto's process-wide backends, which the mock_aws tests after
    it share (a guard alarm set there was re-evaluated by this cloud's evaluator)."""
    here = Path(__file__).parent
    if _RUNNING and (nextitem is None or here not in Path(str(nextitem.path)).parents):
        for running in _RUNNING:
            running.stop()  # safe twice: the session fixture's exit stops it again
        _RUNNING.clear()


@pytest.fixture
def aws(cloud: localcloud.LocalCloud) -> Callable[..., Any]:
    """`aws("sqs")` -> a boto3 client on the session's local cloud."""
    return cloud.client


@pytest.fixture
def delete_new_mappings(aws: Callable[..., Any]) -> Iterator[None]:
    """Mappings made by a test stop with it, so idle pollers don't load the shared cloud."""
    lam = aws("lambda")
    before = {m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]}
    yield
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        if mapping["UUID"] not in before:
            lam.delete_event_source_mapping(UUID=mapping["UUID"])


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


@pytest.fixture
def allow_service(cloud: localcloud.LocalCloud) -> Callable[..., None]:
    """Grant a service principal lambda:InvokeFunction on a function from one source ARN, as
    a deploy does (aws.lambda_.Permission): the local cloud, as AWS, refuses SNS, EventBridge
    and API Gateway invokes without it."""
    lam = cloud.client("lambda")

    def allow(function: str, principal: str, source_arn: str) -> None:
        lam.add_permission(
            FunctionName=function,
            StatementId=unique("allow"),
            Action="lambda:InvokeFunction",
            Principal=principal,
            SourceArn=source_arn,
        )

    return allow


@pytest.fixture
def allow_queue(cloud: localcloud.LocalCloud) -> Callable[..., None]:
    """Let a service principal send to a queue from one source ARN (ArnLike), as the
    components' queue policies do: SNS and EventBridge need it for targets and DLQs."""
    sqs = cloud.client("sqs")

    def allow(queue_url: str, principal: str, source_arn: str) -> None:
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": principal},
            "Action": "sqs:SendMessage",
            "Resource": "*",
            "Condition": {"ArnLike": {"aws:SourceArn": source_arn}},
        }
        sqs.set_queue_attributes(
            QueueUrl=queue_url,
            Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})},
        )

    return allow


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


# The helpers as fixtures, so test modules need no import from conftest.
@pytest.fixture(scope="session")
def name_for() -> Callable[[str], str]:
    return unique


@pytest.fixture(scope="session")
def poll() -> Callable[..., Any]:
    return wait_for


@pytest.fixture(scope="session")
def drain() -> Callable[..., list[dict]]:
    return read_queue


@pytest.fixture(scope="session")
def zipped() -> Callable[..., bytes]:
    return zip_source


EVENT_AGE_SCENARIO_MAX_AGE = 60  # AWS's minimum MaximumEventAgeInSeconds

AGE_HANDLER = """
def handler(event, context):
    return "never runs: reserved concurrency is 0"
"""


@pytest.fixture(scope="session")
def event_age_scenario(cloud, lambda_role, name_for, zipped) -> dict[str, Any]:
    """Started with the session (see `_start_long_scenarios_early`): an async event to a function
    with reserved concurrency 0 and MaximumEventAgeInSeconds 60; test_async_event_age checks it."""
    sqs, lam = cloud.client("sqs"), cloud.client("lambda")
    queues = {}
    for role in ("destination", "dlq"):
        url = sqs.create_queue(QueueName=name_for(f"age-{role}"))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        queues[role] = (url, arn["Attributes"]["QueueArn"])
    name = name_for("fn-age")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=lambda_role,
        Handler="app.handler",
        Code={"ZipFile": zipped(AGE_HANDLER)},
        DeadLetterConfig={"TargetArn": queues["dlq"][1]},
    )
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumEventAgeInSeconds=EVENT_AGE_SCENARIO_MAX_AGE,
        DestinationConfig={"OnFailure": {"Destination": queues["destination"][1]}},
    )
    answer = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "aged"}')
    return {
        "name": name,
        "queues": queues,
        "sent_at": time.time(),
        "request_id": answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"],
        "status": answer["StatusCode"],
    }


EVERY_TYPE_PROGRAM = Path(__file__).parent / "deploy_programs" / "every_type"


@pytest.fixture
def engine_for(cloud: localcloud.LocalCloud, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Emulated-deploy engines on the session cloud with a per-test state dir (the program
    with one resource of every type unless another is given; the cloud's clients unless a
    `client_factory` is); whatever a test deployed is destroyed at teardown."""
    from localcloud.deploy import Engine

    made: list[Engine] = []

    def make(program: Path = EVERY_TYPE_PROGRAM, **kwargs: Any) -> Engine:
        kwargs.setdefault("client_factory", cloud.client)
        engine = Engine(program, "local", cloud.endpoint, state_dir=tmp_path / "state", **kwargs)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.hook = None
        if engine.load_state().resources:
            engine.destroy()
