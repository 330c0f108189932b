"""Every reach into moto internals (localcloud/moto_reach/), checked so that a moto upgrade
fails here, loudly, instead of somewhere in a chaos run."""

from __future__ import annotations

import inspect
import json
import time

import pytest

from localcloud import moto_reach
from localcloud.moto_reach import core as moto_core
from localcloud.moto_reach import lambda_ as lambda_reach
from localcloud.moto_reach import logs as logs_reach
from localcloud.moto_reach import sqs as sqs_reach

# In-process: what is checked is moto's internals in this process.
pytestmark = pytest.mark.in_process_cloud


def test_moto_is_the_pinned_version():
    assert moto_core.moto_version() == "5.2.5", "moto_reach relies on moto 5.2.5 internals"


def test_server_pieces_exist():
    from werkzeug.serving import WSGIRequestHandler

    handler = moto_core.request_handler_class()
    assert issubclass(handler, WSGIRequestHandler) and "make_environ" in handler.__dict__
    assert callable(moto_core.moto_wsgi_app())


def test_config_switches_are_read_by_moto(cloud, aws):
    from moto.core.config import default_user_config
    from moto.stepfunctions.responses import get_backend

    assert default_user_config["iam"]["load_aws_managed_policies"] is True
    assert default_user_config["stepfunctions"]["execute_state_machine"] is True
    assert type(get_backend("123456789012", "us-east-1")).__module__.endswith("parser.models")
    # Managed policies load, so roles can attach them as on AWS.
    arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    assert aws("iam").get_policy(PolicyArn=arn)["Policy"]["Arn"] == arn


@pytest.fixture(autouse=True)
def _patched(cloud):
    # Patches install in the background after start-up; these tests inspect them directly.
    moto_reach.install_all_patches()


def test_lambda_invoke_patch_routes_moto_internal_invokes(
    cloud, aws, make_function, name_for, drain
):
    from moto.awslambda.models import LambdaFunction

    assert LambdaFunction.invoke.__module__ == "localcloud.moto_reach.lambda_"
    # moto's own callers still use the (body, request_headers, response_headers) signature.
    from moto.s3 import notifications

    assert "func.invoke(json.dumps(event_body), {}, {})" in inspect.getsource(
        notifications._invoke_awslambda
    )
    # S3 -> Lambda notification is such a moto-internal path: it must reach the runtime.
    sqs = aws("sqs")
    out = sqs.create_queue(QueueName=name_for("s3-out"))["QueueUrl"]
    name = make_function(
        "import json, os, boto3\n"
        "def handler(event, context):\n"
        "    key = event['Records'][0]['s3']['object']['key']\n"
        "    boto3.client('sqs').send_message(QueueUrl=os.environ['OUT'], MessageBody=key)\n",
        env={"OUT": out},
    )
    fn_arn = aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    s3 = aws("s3")
    bucket = name_for("bucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": fn_arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    s3.put_object(Bucket=bucket, Key="ride.json", Body=b"{}")
    [message] = drain(sqs, out, expect=1)
    assert message["Body"] == "ride.json"


def test_sns_subscription_internals_used_by_the_patch(cloud, aws, name_for):
    from moto.sns.models import Subscription, sns_backends

    assert Subscription.publish.__module__ == "localcloud.moto_reach.sns"
    sns = aws("sns")
    topic = sns.create_topic(Name=name_for("t"))["TopicArn"]
    sub_arn = sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint="arn:aws:lambda:us-east-1:123456789012:function:x",
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    with cloud.lock:
        sub = sns_backends["123456789012"]["us-east-1"].subscriptions[sub_arn]
    for attribute in ("protocol", "endpoint", "arn", "attributes", "_filter_policy_matcher"):
        assert hasattr(sub, attribute), attribute
    assert sub.topic.arn == topic and callable(sub._parse_message_structure)
    assert callable(sub.get_post_data)  # the SNS -> SQS subscription DLQ's notification body
    # The branch the patch replaces is still where moto delivers to Lambda.
    original = inspect.getsource(moto_core.ORIGINALS["sns_subscription_publish"])
    assert 'self.protocol == "lambda"' in original and "send_sns_message" in original


def test_stepfunctions_client_patch_is_bound_where_used(cloud):
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client

    assert boto_client.boto_client_for.__module__ == "localcloud.moto_reach.stepfunctions"
    assert lambda_eval_utils.boto_client_for is boto_client.boto_client_for
    client = boto_client.boto_client_for(region="us-east-1", service="lambda")
    assert client.meta.endpoint_url == cloud.endpoint


def test_lambda_function_reads(cloud, aws, make_function, name_for):
    name = make_function("def handler(e, c):\n    return 1\n", env={"K": "V"})
    aws("lambda").put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    with cloud.lock:
        fn = lambda_reach.lambda_function(cloud.account_id, cloud.region, name)
        by_arn = lambda_reach.lambda_function(cloud.account_id, cloud.region, fn.function_arn)
        missing = lambda_reach.lambda_function(cloud.account_id, cloud.region, name_for("none"))
        config = lambda_reach.event_invoke_config(fn)
    assert by_arn is fn and missing is None
    for attribute in (
        "function_name",
        "version",
        "handler",
        "run_time",
        "timeout",
        "memory_size",
        "environment_vars",
        "code_sha_256",
        "reserved_concurrency",
        "code_bytes",
    ):
        assert hasattr(fn, attribute), attribute
    assert fn.environment_vars == {"K": "V"} and fn.code_bytes[:2] == b"PK"
    assert config == {"MaximumRetryAttempts": 1}


def test_sqs_and_logs_reads(cloud, aws, name_for):
    url = aws("sqs").create_queue(
        QueueName=name_for("w"), Attributes={"ReceiveMessageWaitTimeSeconds": "7"}
    )["QueueUrl"]
    group = f"/test/{name_for('g')}"
    now_ms = int(time.time() * 1000)
    with cloud.lock:
        assert sqs_reach.sqs_queue_wait_seconds(cloud.account_id, cloud.region, url) == 7
        assert sqs_reach.sqs_queue_wait_seconds(cloud.account_id, cloud.region, url + "x") is None
        logs_reach.put_log_lines(cloud.account_id, cloud.region, group, "s", [(now_ms, "line")])
    events = aws("logs").get_log_events(logGroupName=group, logStreamName="s")["events"]
    assert [e["message"] for e in events] == ["line"]
    assert events[0]["timestamp"] == now_ms


def test_stepfunctions_unnamed_executions_get_distinct_names(cloud):
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    assert StepFunctionsParserBackend.start_execution.__module__ == (
        "localcloud.moto_reach.stepfunctions"
    )
    signature = inspect.signature(moto_core.ORIGINALS["sfn_parser_start_execution"])
    assert list(signature.parameters) == [
        "self",
        "state_machine_arn",
        "name",
        "execution_input",
        "trace_header",
    ]


def test_sqs_queue_internals_read_by_the_sns_to_sqs_grant_check(cloud, aws, name_for):
    from moto.sqs.models import sqs_backends

    sqs = aws("sqs")
    name = name_for("q")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    policy = (
        '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},'
        ' "Action": "sqs:SendMessage", "Resource": "*"}]}'
    )
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    with cloud.lock:
        backend = sqs_backends["123456789012"]["us-east-1"]
        queue = backend.queues.get(name)
        # kept as the JSON text it was set with (a dict would fail the grant check loudly)
        assert queue is not None and json.loads(queue.policy) == json.loads(policy)
        assert callable(backend.send_message)


def test_event_invoke_config_put_replaces_and_update_merges(cloud, aws, make_function, name_for):
    """AWS: Put overwrites the whole config (settings left out are removed), Update changes
    only what it names. moto appended each put and kept answering with the first one, so a
    deploy that dropped the OnFailure destination left it in force."""
    lam, sqs = aws("lambda"), aws("sqs")
    url = sqs.create_queue(QueueName=name_for("dest"))["QueueUrl"]
    dest = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    name = make_function("def handler(e, c):\n    return 1\n")
    on_failure = {"OnFailure": {"Destination": dest["QueueArn"]}}
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=2, DestinationConfig=on_failure
    )
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert got["MaximumRetryAttempts"] == 1
    assert not (got.get("DestinationConfig") or {}).get("OnFailure")
    assert (
        len(lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"])
        == 1
    )
    lam.update_function_event_invoke_config(FunctionName=name, DestinationConfig=on_failure)
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert got["MaximumRetryAttempts"] == 1
    assert got["DestinationConfig"]["OnFailure"]["Destination"] == dest["QueueArn"]
    with cloud.lock:  # what the async invoker acts on
        fn = lambda_reach.lambda_function(cloud.account_id, cloud.region, name)
        assert lambda_reach.event_invoke_config(fn)["MaximumRetryAttempts"] == 1
