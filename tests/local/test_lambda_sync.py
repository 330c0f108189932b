"""Sync invoke (RequestResponse) through boto3: the answers AWS gives, and the cloud survives."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

OK = """
import os
def handler(event, context):
    print("got", event)
    return {"echo": event, "env": os.environ.get("GREETING"), "fn": context.function_name,
            "remaining": context.get_remaining_time_in_millis(),
            "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb, "group": context.log_group_name,
            "request_id": context.aws_request_id}
"""

FAILS = """
class PaymentDeclined(Exception):
    pass
def handler(event, context):
    raise PaymentDeclined("card " + str(event["card"]) + " declined")
"""

SLOW = """
import time
def handler(event, context):
    time.sleep(30)
"""


def test_ok_returns_payload_env_and_context(aws, make_function):
    name = make_function(OK, env={"GREETING": "hello"}, MemorySize=256)
    answer = aws("lambda").invoke(
        FunctionName=name, Payload=json.dumps({"id": "e1"}), LogType="Tail"
    )
    body = json.loads(answer["Payload"].read())
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert body["echo"] == {"id": "e1"} and body["env"] == "hello" and body["fn"] == name
    assert 0 < body["remaining"] <= 3000
    assert body["arn"].endswith(f":function:{name}") and body["memory"] == "256"
    assert body["group"] == f"/aws/lambda/{name}"
    assert len(body["request_id"]) == 36
    log = base64.b64decode(answer["LogResult"]).decode()
    assert "got {'id': 'e1'}" in log and f"START RequestId: {body['request_id']}" in log


def test_function_error_shape(aws, make_function):
    name = make_function(FAILS)
    answer = aws("lambda").invoke(FunctionName=name, Payload=b'{"card": 42}')
    body = json.loads(answer["Payload"].read())
    assert answer["StatusCode"] == 200 and answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == "PaymentDeclined" and body["errorMessage"] == "card 42 declined"
    assert any("raise PaymentDeclined" in line for line in body["stackTrace"])


@pytest.mark.in_process_cloud  # reads the runtime's warm workers
def test_timeout_kills_worker_and_answers_as_aws(aws, make_function, cloud):
    name = make_function(SLOW, timeout=1)
    answer = aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] in body["errorMessage"]
    assert cloud.lambdas.warm_workers(name) == []


def test_reserved_concurrency_zero_throttles(aws, make_function):
    name = make_function(OK)
    lam = aws("lambda", retries={"total_max_attempts": 1})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name, Payload=b"{}")
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_unknown_function_is_404(aws):
    with pytest.raises(ClientError) as caught:
        aws("lambda").invoke(FunctionName="no-such-function", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "function:no-such-function" in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("handler", "source", "error_type", "message"),
    [
        ("app.nope", OK, "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"),
        (
            "missing.handler",
            OK,
            "Runtime.ImportModuleError",
            "Unable to import module 'missing': No module named 'missing'",
        ),
        (
            "app.handler",
            "import not_installed_pkg\ndef handler(e, c):\n    return 1\n",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': No module named 'not_installed_pkg'",
        ),
        ("nodot", OK, "Runtime.MalformedHandlerName", "Bad handler 'nodot'"),
    ],
)
def test_bad_handler_and_import_errors(aws, make_function, handler, source, error_type, message):
    name = make_function(source, handler=handler)
    answer = aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type and body["errorMessage"].startswith(message)


def test_malformed_payload_is_400_and_cloud_keeps_running(aws, make_function):
    name = make_function(OK)
    lam = aws("lambda")
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name, Payload=b"{not json")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())["echo"] == {}


@pytest.mark.in_process_cloud  # the runtime's Python API
def test_cloud_api_invoke(cloud, make_function):
    name = make_function(OK)
    result = cloud.lambdas.invoke(name, b'{"id": "direct"}')
    assert result.status_code == 200 and result.function_error is None
    assert result.json()["echo"] == {"id": "direct"} and result.executed_version == "$LATEST"
    queued = cloud.lambdas.invoke(name, b"{}", invocation_type="Event")
    assert queued.status_code == 202 and queued.payload == b""


@pytest.mark.parametrize(
    ("invocation_type", "size", "message"),
    [
        ("RequestResponse", 7 * 1024 * 1024, "Request must be smaller than 6291456 bytes"),
        ("Event", 1024 * 1024 + 100 * 1024, "too large for the Event invocation type"),
    ],
)
def test_an_over_quota_payload_is_413_and_never_runs(
    aws, make_function, invocation_type, size, message
):
    # GIVEN a function that would record any event it ran on
    name = make_function(OK)
    payload = json.dumps({"pad": "x" * size})
    # WHEN it is invoked with a body over the quota of its invocation type
    with pytest.raises(ClientError) as err:
        aws("lambda", retries={"total_max_attempts": 1}).invoke(
            FunctionName=name, InvocationType=invocation_type, Payload=payload
        )
    # THEN AWS's answer: 413 RequestEntityTooLargeException naming the limit
    answer = err.value.response
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert answer["Error"]["Code"] == "RequestEntityTooLargeException"
    assert message in answer["Error"]["Message"]


@pytest.mark.parametrize(
    ("invocation_type", "size"),
    [("RequestResponse", 6 * 1024 * 1024 - 1024), ("Event", 1024 * 1024 - 1024)],
)
def test_a_payload_just_under_the_quota_is_accepted(aws, make_function, invocation_type, size):
    # GIVEN / WHEN a body just under the quota
    name = make_function(OK)
    answer = aws("lambda").invoke(
        FunctionName=name,
        InvocationType=invocation_type,
        Payload=json.dumps({"pad": "x" * (size - 20)}),
    )
    # THEN it is accepted (200 with the result, or 202 queued)
    assert answer["StatusCode"] == (200 if invocation_type == "RequestResponse" else 202)
