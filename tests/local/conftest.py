"""One local cloud for the whole tests/local session, in its own process, and boto3
clients on it.

Tests set things up through boto3 only, as a user's program would, and name
their resources uniquely (`unique("fn")`) so they never collide. A test that reaches
into the cloud's internals (the Lambda runtime's workers, interceptors, the alarm
evaluator) is marked `in_process_cloud`: its module gets a cloud of its own in the pytest
process, and moto's process-wide state is reset when the module ends.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import localcloud
from localcloud.process import CloudProcess
from tests.local.helpers import (
    TEST_TIME_SCALE,
    create_lambda_role,
    read_queue,
    unique,
    wait_for,
    zip_source,
)

LONG_SCENARIOS = ("event_age_scenario",)


@pytest.fixture(scope="session", autouse=True)
def _start_long_scenarios_early(request: pytest.FixtureRequest) -> None:
    """A scenario that waits on a stack's own long setting (MaximumEventAgeInSeconds is at
    least 60 s on AWS, and is never compressed) starts with the session, so its wait
    overlaps the tests before its own; it holds whenever that test runs."""
    wanted = {
        name
        for item in request.session.items
        for name in getattr(item, "fixturenames", ())
        if name in LONG_SCENARIOS
    }
    for name in sorted(wanted):
        request.getfixturevalue(name)


@pytest.fixture(scope="session")
def cloud_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    """`python -m localcloud serve` for the session; stopped at its end, whatever happened."""
    log = tmp_path_factory.mktemp("localcloud") / "serve.log"
    running = CloudProcess(time_scale=TEST_TIME_SCALE, log_path=log).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cloud_in_process() -> Iterator[localcloud.LocalCloud]:
    """A cloud in the pytest process, for one module's `in_process_cloud` tests. Once it has
    stopped, moto's process-wide backends are emptied as a `mock_aws` exit empties them, and
    moto's config is restored, so no later test sees what these made."""
    from moto import mock_aws
    from moto.core.config import default_user_config

    config = copy.deepcopy(default_user_config)
    try:
        with localcloud.start(time_scale=TEST_TIME_SCALE) as running:
            yield running
    finally:
        reset = mock_aws()
        reset.start(reset=False)
        reset.stop()  # removes every backend's data
        default_user_config.clear()
        default_user_config.update(config)


@pytest.fixture
def cloud(request: pytest.FixtureRequest) -> CloudProcess | localcloud.LocalCloud:
    """The cloud a test talks to: the session's own process, or for a test marked
    `in_process_cloud` its module's cloud in this process."""
    if request.node.get_closest_marker("in_process_cloud"):
        return request.getfixturevalue("cloud_in_process")
    return request.getfixturevalue("cloud_process")


@pytest.fixture
def aws(cloud: Any) -> Callable[..., Any]:
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


@pytest.fixture
def lambda_role(cloud: Any) -> str:
    """A role on the test's cloud (per test: an in-process module cloud has its own IAM)."""
    return create_lambda_role(cloud.client("iam"))


@pytest.fixture
def make_function(cloud: Any, lambda_role: str) -> Callable[..., str]:
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
def allow_service(cloud: Any) -> Callable[..., None]:
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
def allow_queue(cloud: Any) -> Callable[..., None]:
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


# The helpers of tests/local/helpers.py as fixtures, too.
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
def event_age_scenario(cloud_process, name_for, zipped) -> dict[str, Any]:
    """Started with the session (see `_start_long_scenarios_early`): an async event to a function
    with reserved concurrency 0 and MaximumEventAgeInSeconds 60; test_async_event_age checks it."""
    cloud = cloud_process
    sqs, lam = cloud.client("sqs"), cloud.client("lambda")
    lambda_role = create_lambda_role(cloud.client("iam"))
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
def engine_for(cloud: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
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
