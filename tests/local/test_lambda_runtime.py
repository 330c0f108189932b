"""The execution environment: warm reuse, replacement on change, env, boto3 inside, logs."""

from __future__ import annotations

import json
import threading
from datetime import UTC

import pytest
from botocore.exceptions import ClientError

from localcloud.lambda_.limits import INIT_TIMEOUT_ENV, init_timeout_seconds

PID = """
import os
def handler(event, context):
    return {"pid": os.getpid(), "colour": os.environ.get("COLOUR"), "code": "v1"}
"""

WRITES_SQS = """
import os, boto3
def handler(event, context):
    sqs = boto3.client("sqs")  # no endpoint in the code: AWS_ENDPOINT_URL points at the cloud
    sqs.send_message(QueueUrl=event["queue_url"], MessageBody=json_body(event))
    return {"endpoint": os.environ["AWS_ENDPOINT_URL"]}
def json_body(event):
    import json
    return json.dumps({"id": event["id"]})
"""

SLEEPS = """
import time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return "done"
"""


def _call(lam, name, payload=None):
    answer = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}))
    return json.loads(answer["Payload"].read())


def test_warm_worker_reused_and_replaced_on_config_and_code_change(aws, make_function, zipped):
    name = make_function(PID, env={"COLOUR": "red"})
    lam = aws("lambda")
    first, second = _call(lam, name), _call(lam, name)
    assert first["pid"] == second["pid"] and first["colour"] == "red"  # warm
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"COLOUR": "blue"}}
    )
    third = _call(lam, name)
    assert third["pid"] != first["pid"] and third["colour"] == "blue"  # new environment
    lam.update_function_code(FunctionName=name, ZipFile=zipped(PID.replace('"v1"', '"v2"')))
    fourth = _call(lam, name)
    assert fourth["code"] == "v2" and fourth["pid"] != third["pid"]


def test_boto3_inside_the_function_reaches_the_cloud(aws, make_function, name_for, drain, cloud):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name_for("from-fn"))["QueueUrl"]
    name = make_function(WRITES_SQS)
    assert _call(aws("lambda"), name, {"queue_url": url, "id": "w1"}) == {
        "endpoint": cloud.endpoint
    }
    [message] = drain(sqs, url, expect=1)
    assert json.loads(message["Body"]) == {"id": "w1"}


@pytest.mark.in_process_cloud  # reads the runtime's warm workers
def test_reserved_concurrency_one_throttles_the_second_concurrent_call(
    aws, make_function, poll, cloud
):
    name = make_function(SLEEPS)
    lam = aws("lambda", retries={"total_max_attempts": 1})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    _call(lam, name)  # warm it, so the slow call below is running at once
    slow = threading.Thread(target=_call, args=(lam, name, {"sleep": 1.0}))
    slow.start()
    poll(lambda: cloud.lambdas.warm_workers(name) == [], timeout=20, what="the slow call to start")
    try:
        lam.invoke(FunctionName=name, Payload=b"{}")
        throttled = None
    except ClientError as exc:
        throttled = exc.response["Error"]["Code"]
    slow.join()
    assert throttled == "TooManyRequestsException"
    assert _call(lam, name) == "done"  # the slot is free again


def test_function_output_lands_in_cloudwatch_logs(aws, make_function, poll):
    name = make_function('def handler(e, c):\n    print("hello from", c.function_name)\n')
    aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    logs = aws("logs")

    def found():
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        return [e["message"] for e in events if "hello from" in e["message"]]

    assert poll(found, timeout=20, what="the log line") == [f"hello from {name}"]


def test_aws_lambda_metrics_are_published(aws, make_function, poll):
    from datetime import datetime, timedelta

    name = make_function(
        "def handler(e, c):\n    if e.get('fail'):\n        raise ValueError('x')\n"
    )
    lam = aws("lambda", retries={"total_max_attempts": 1})
    lam.invoke(FunctionName=name, Payload=b"{}")
    lam.invoke(FunctionName=name, Payload=b'{"fail": true}')
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    try:
        lam.invoke(FunctionName=name, Payload=b"{}")
    except ClientError:
        pass
    cloudwatch = aws("cloudwatch")
    now = datetime.now(UTC)

    def total(metric: str, statistic: str = "Sum") -> float:
        stats = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Period=60,
            Statistics=[statistic],
            Dimensions=[{"Name": "FunctionName", "Value": name}],
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=1),
        )
        return sum(p[statistic] for p in stats["Datapoints"])

    assert poll(lambda: total("Throttles"), timeout=20, what="Throttles") == 1
    assert (total("Invocations"), total("Errors")) == (2, 1)  # a throttled call is no invocation
    assert total("Duration", "SampleCount") == 2
    assert total("ConcurrentExecutions", "Maximum") >= 1


@pytest.mark.in_process_cloud  # tunes the worker pool's reaper
def test_idle_workers_are_reclaimed(cloud, aws, make_function, poll):
    name = make_function(PID)
    aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    assert len(cloud.lambdas.warm_workers(name)) == 1
    runtime = cloud.lambdas.pool
    saved = runtime.idle_worker_seconds, runtime.reap_interval_seconds
    runtime.idle_worker_seconds, runtime.reap_interval_seconds = 0.2, 0.1
    try:
        # The reaper picks up the new interval after its current (up to 5 s) wait.
        poll(lambda: cloud.lambdas.warm_workers(name) == [], timeout=30, what="the reaper")
    finally:
        runtime.idle_worker_seconds, runtime.reap_interval_seconds = saved
    assert json.loads(aws("lambda").invoke(FunctionName=name, Payload=b"{}")["Payload"].read())


@pytest.mark.in_process_cloud  # tunes the worker pool's cap
def test_worker_cap_retires_the_least_recently_used_idle_worker(cloud, aws, make_function):
    lam = aws("lambda")
    first, second = make_function(PID), make_function(PID)
    _call(lam, first)
    runtime = cloud.lambdas.pool
    saved = runtime.max_workers
    runtime.max_workers = runtime.worker_count()  # the pool is full
    try:
        assert _call(lam, second)["code"] == "v1"  # a cold start still happens...
        assert runtime.worker_count() == runtime.max_workers  # ...by retiring an idle worker
    finally:
        runtime.max_workers = saved


SLOW_INIT = """
import sys, time
print("loading a large model", file=sys.stderr, flush=True)
time.sleep(60)
def handler(event, context):
    return "never"
"""

EXITS_IN_INIT = """
import os, sys
print("no route to the config store", file=sys.stderr, flush=True)
os._exit(3)
"""


def _start_failure(cloud, name: str) -> str:
    # One attempt: botocore would retry the 500, starting another worker each time.
    lam = cloud.client("lambda", retries={"total_max_attempts": 1})
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert info.value.response["Error"]["Code"] == "ServiceException"
    return str(info.value)


@pytest.mark.in_process_cloud  # the init limit is read from this process's env
def test_worker_missing_the_init_limit_says_who_what_limit_and_stderr(
    cloud, make_function, monkeypatch
):
    monkeypatch.setenv(INIT_TIMEOUT_ENV, "1")
    name = make_function(SLOW_INIT, timeout=1)
    message = _start_failure(cloud, name)
    assert name in message and "timed out after 1 s" in message, message
    assert INIT_TIMEOUT_ENV in message and "loading a large model" in message, message
    assert cloud.lambdas.warm_workers(name) == []


def test_worker_exiting_during_init_gives_its_code_and_stderr(cloud, make_function):
    name = make_function(EXITS_IN_INIT)
    message = _start_failure(cloud, name)
    assert name in message and "exited with code 3" in message, message
    assert "no route to the config store" in message, message


def test_init_limit_setting_is_validated(monkeypatch):
    monkeypatch.delenv(INIT_TIMEOUT_ENV, raising=False)
    assert init_timeout_seconds() == 10.0
    monkeypatch.setenv(INIT_TIMEOUT_ENV, "2.5")
    assert init_timeout_seconds() == 2.5
    for bad in ("soon", "0", "-1"):
        monkeypatch.setenv(INIT_TIMEOUT_ENV, bad)
        with pytest.raises(ValueError, match=INIT_TIMEOUT_ENV):
            init_timeout_seconds()


PARENT = """
import os
def handler(event, context):
    return {"ppid": os.getppid()}
"""


@pytest.mark.in_process_cloud  # stops the runtime's fork server
def test_workers_start_as_processes_once_the_fork_server_is_gone(cloud, aws, make_function):
    import os

    forks = cloud.lambdas.forks
    if forks is None:
        pytest.skip("no fork server on this host (it needs Linux pidfds)")
    lam = aws("lambda")
    assert _call(lam, make_function(PARENT))["ppid"] != os.getpid()  # forked by the zygote
    forks._zygote.kill()
    forks._zygote.wait(timeout=5)
    # The next cold start finds the server gone and starts its worker itself, and invokes
    # keep working.
    assert _call(lam, make_function(PARENT))["ppid"] == os.getpid()
    assert forks.broken
    assert _call(lam, make_function(PARENT))["ppid"] == os.getpid()
