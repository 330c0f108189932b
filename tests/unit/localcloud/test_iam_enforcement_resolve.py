"""localcloud.iam.operations and enforcement: the operation, IAM action and resources of a
request as botocore builds it, and the AccessDenied answer as botocore parses it back."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.parsers
import pytest
from botocore.awsrequest import HeadersDict
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from localcloud.iam.enforcement import denial_message, error_response
from localcloud.iam.identity_policy import Decision, evaluate
from localcloud.iam.operations import Check, Place, resolve
from localcloud.iam.roles import RoleSession
from localcloud.sigv4 import scope_of, service_model

ACCOUNT = "123456789012"
AT = Place("us-east-1", ACCOUNT)
ENDPOINT = "http://127.0.0.1:4566"


class _Sent(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


def _capture(request: Any, **_: Any) -> None:
    raise _Sent(request)


def request_of(service: str, operation: str, **params: Any) -> Request:
    """The request a role session's boto3 client sends for `operation`, as the cloud sees it."""
    client = boto3.session.Session().client(
        service,
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id="ASIASESSIONKEY",
        aws_secret_access_key="secret",
        aws_session_token="token",
    )
    client.meta.events.register("before-send", _capture)
    try:
        getattr(client, operation)(**params)
    except _Sent as sent:
        prepared = sent.request
    else:  # pragma: no cover
        raise AssertionError("nothing was sent")
    url = prepared.url[len(ENDPOINT) :]
    path, _, query = url.partition("?")
    environ = EnvironBuilder(
        method=prepared.method,
        path=path,
        query_string=query,
        headers={k: v.decode() if isinstance(v, bytes) else v for k, v in prepared.headers.items()},
        data=prepared.body or b"",
    ).get_environ()
    return Request(environ)


def checks(service: str, operation: str, lookup=lambda s: f"resolved:{s}", **params: Any):
    request = request_of(service, operation, **params)
    scope = scope_of(request.headers.get("Authorization"))
    assert scope is not None
    call = resolve(request, scope.service, AT, lookup)
    assert call is not None
    return [(c.action, c.resource) for c in call.checks], call


QUEUE_URL = f"{ENDPOINT}/{ACCOUNT}/orders"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"


def table(name: str) -> str:
    return f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{name}"


def test_sqs_send_message_acts_on_the_queue_of_its_url():
    found, call = checks("sqs", "send_message", QueueUrl=QUEUE_URL, MessageBody="x")
    assert found == [("sqs:SendMessage", QUEUE_ARN)]
    assert call.protocol == "json" and call.operation == "SendMessage"


@pytest.mark.parametrize(
    ("operation", "params", "action"),
    [
        ("send_message_batch", {"Entries": [{"Id": "1", "MessageBody": "x"}]}, "sqs:SendMessage"),
        (
            "delete_message_batch",
            {"Entries": [{"Id": "1", "ReceiptHandle": "r"}]},
            "sqs:DeleteMessage",
        ),
    ],
)
def test_sqs_batch_calls_need_the_single_calls_permission(operation, params, action):
    found, _ = checks("sqs", operation, QueueUrl=QUEUE_URL, **params)
    assert found == [(action, QUEUE_ARN)]


def test_sqs_list_queues_has_no_resource_type():
    assert checks("sqs", "list_queues")[0] == [("sqs:ListQueues", "*")]


def test_sns_publish_and_publish_batch_need_sns_publish_on_the_topic():
    found, call = checks("sns", "publish", TopicArn=TOPIC, Message="m")
    assert found == [("sns:Publish", TOPIC)] and call.protocol == "query"
    batch = [{"Id": "1", "Message": "m"}]
    assert checks("sns", "publish_batch", TopicArn=TOPIC, PublishBatchRequestEntries=batch)[0] == [
        ("sns:Publish", TOPIC)
    ]


def test_dynamodb_item_calls_act_on_the_table_and_queries_on_the_index():
    assert checks("dynamodb", "put_item", TableName="rides", Item={"id": {"S": "1"}})[0] == [
        ("dynamodb:PutItem", table("rides"))
    ]
    found, _ = checks(
        "dynamodb",
        "query",
        TableName="rides",
        IndexName="by-user",
        KeyConditionExpression="u = :u",
        ExpressionAttributeValues={":u": {"S": "x"}},
    )
    assert found == [("dynamodb:Query", table("rides") + "/index/by-user")]


def test_dynamodb_batch_write_needs_its_own_permission_on_each_table():
    put = [{"PutRequest": {"Item": {"id": {"S": "1"}}}}]
    found, _ = checks("dynamodb", "batch_write_item", RequestItems={"a": put, "b": put})
    assert sorted(found) == [
        ("dynamodb:BatchWriteItem", table("a")),
        ("dynamodb:BatchWriteItem", table("b")),
    ]


def test_dynamodb_transactions_need_each_items_own_action_on_its_table():
    key = {"id": {"S": "1"}}
    items = [
        {"Put": {"TableName": "a", "Item": key}},
        {
            "Update": {
                "TableName": "b",
                "Key": key,
                "UpdateExpression": "SET x = :x",
                "ExpressionAttributeValues": {":x": {"S": "1"}},
            }
        },
        {
            "ConditionCheck": {
                "TableName": "c",
                "Key": key,
                "ConditionExpression": "attribute_exists(id)",
            }
        },
        {"Delete": {"TableName": "a", "Key": key}},
    ]
    found, _ = checks("dynamodb", "transact_write_items", TransactItems=items)
    assert found == [
        ("dynamodb:PutItem", table("a")),
        ("dynamodb:UpdateItem", table("b")),
        ("dynamodb:ConditionCheckItem", table("c")),
        ("dynamodb:DeleteItem", table("a")),
    ]


def test_kinesis_put_record_acts_on_the_stream():
    found, _ = checks("kinesis", "put_record", StreamName="rides", Data=b"x", PartitionKey="k")
    assert found == [("kinesis:PutRecord", f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/rides")]


def test_eventbridge_put_events_acts_on_each_entrys_bus():
    bus_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/orders"
    entries = [
        {"Source": "s", "DetailType": "d", "Detail": "{}"},
        {"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": "orders"},
        {"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": bus_arn},
    ]
    found, _ = checks("events", "put_events", Entries=entries)
    assert found == [
        ("events:PutEvents", f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"),
        ("events:PutEvents", bus_arn),
    ]


def test_eventbridge_rule_calls_act_on_the_rule_of_its_bus():
    found, _ = checks("events", "put_rule", Name="r", EventBusName="orders", EventPattern="{}")
    assert found == [("events:PutRule", f"arn:aws:events:us-east-1:{ACCOUNT}:rule/orders/r")]
    found, _ = checks("events", "put_targets", Rule="r", Targets=[{"Id": "1", "Arn": QUEUE_ARN}])
    assert found == [("events:PutTargets", f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r")]


FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:worker"


@pytest.mark.parametrize(
    ("params", "resource"),
    [
        ({"FunctionName": "worker"}, FUNCTION),
        ({"FunctionName": "worker", "Qualifier": "live"}, FUNCTION + ":live"),
        ({"FunctionName": "worker:3"}, FUNCTION + ":3"),
        ({"FunctionName": f"{ACCOUNT}:function:worker"}, FUNCTION),
        ({"FunctionName": FUNCTION}, FUNCTION),
    ],
)
def test_lambda_invoke_needs_invoke_function_on_the_function(params, resource):
    found, call = checks("lambda", "invoke", Payload=b'{"Qualifier": "not a parameter"}', **params)
    assert found == [("lambda:InvokeFunction", resource)]
    assert call.protocol == "rest-json" and call.operation == "Invoke"


def test_lambda_create_function_also_needs_pass_role():
    role = f"arn:aws:iam::{ACCOUNT}:role/worker"
    found, call = checks(
        "lambda",
        "create_function",
        FunctionName="worker",
        Role=role,
        Runtime="python3.11",
        Handler="app.handler",
        Code={"ZipFile": b"zip"},
    )
    assert call.operation == "CreateFunction"
    assert found == [("lambda:CreateFunction", FUNCTION), ("iam:PassRole", role)]


def test_lambda_list_functions_has_no_resource_type():
    assert checks("lambda", "list_functions")[0] == [("lambda:ListFunctions", "*")]


def test_logs_put_log_events_acts_on_the_log_stream():
    found, _ = checks(
        "logs",
        "put_log_events",
        logGroupName="/aws/lambda/worker",
        logStreamName="s1",
        logEvents=[{"timestamp": 1, "message": "m"}],
    )
    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/worker"
    assert found == [("logs:PutLogEvents", f"{group}:log-stream:s1")]


def test_step_functions_calls_act_on_the_state_machine_or_execution():
    machine = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:flow"
    execution = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:flow:run-1"
    assert checks("stepfunctions", "start_execution", stateMachineArn=machine)[0] == [
        ("states:StartExecution", machine)
    ]
    assert checks("stepfunctions", "describe_execution", executionArn=execution)[0] == [
        ("states:DescribeExecution", execution)
    ]


def test_secrets_manager_resolves_a_secret_name_to_its_arn():
    seen: list[str] = []

    def lookup(secret_id: str) -> str:
        seen.append(secret_id)
        return f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:api-key-AbCdEf"

    found, _ = checks("secretsmanager", "get_secret_value", lookup, SecretId="api-key")
    assert seen == ["api-key"]
    assert found == [
        (
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:api-key-AbCdEf",
        )
    ]


def test_ssm_parameters_act_on_each_parameter():
    parameter = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter"
    assert checks("ssm", "get_parameter", Name="/api/key", WithDecryption=True)[0] == [
        ("ssm:GetParameter", f"{parameter}/api/key")
    ]
    assert checks("ssm", "get_parameters", Names=["a", "/b/c"])[0] == [
        ("ssm:GetParameters", f"{parameter}/a"),
        ("ssm:GetParameters", f"{parameter}/b/c"),
    ]


def test_cloudwatch_put_metric_data_has_no_resource_type():
    found, call = checks(
        "cloudwatch", "put_metric_data", Namespace="n", MetricData=[{"MetricName": "m", "Value": 1}]
    )
    assert call.protocol == "json"  # botocore speaks JSON to CloudWatch where it has no CBOR
    assert found == [("cloudwatch:PutMetricData", "*")]
    alarm = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:dlq-depth"
    assert checks("cloudwatch", "delete_alarms", AlarmNames=["dlq-depth"])[0] == [
        ("cloudwatch:DeleteAlarms", alarm)
    ]


def test_sts_get_caller_identity_is_never_judged():
    found, call = checks("sts", "get_caller_identity")
    assert call.operation == "GetCallerIdentity" and found == []


def test_an_unmapped_service_is_judged_on_its_action_with_an_unresolved_resource():
    found, call = checks("s3", "get_object", Bucket="b", Key="k/v")
    assert call.operation == "GetObject" and found == [("s3:GetObject", None)]


# ---- the safe rule for a resource not resolved ------------------------------------------
def _policy(effect: str, resource: Any) -> dict[str, Any]:
    return {"Statement": [{"Effect": effect, "Action": "s3:GetObject", "Resource": resource}]}


@pytest.mark.parametrize(
    ("policies", "decision"),
    [
        ([_policy("Allow", "*")], Decision.ALLOW),
        ([_policy("Allow", "arn:aws:s3:::b/*")], Decision.IMPLICIT_DENY),
        ([_policy("Allow", "*"), _policy("Deny", "arn:aws:s3:::b/k")], Decision.EXPLICIT_DENY),
        (
            [
                {
                    "Statement": [
                        {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::x"}
                    ]
                }
            ],
            Decision.IMPLICIT_DENY,
        ),
    ],
)
def test_an_unresolved_resource_is_granted_only_on_every_resource(policies, decision):
    assert evaluate(policies, "s3:GetObject", None) is decision


# ---- the answer, as botocore parses it ------------------------------------------------------
SESSION = RoleSession("ASIASESSIONKEY", f"arn:aws:iam::{ACCOUNT}:role/worker", "worker", ACCOUNT)


def _parsed(signing: str, protocol: str, response: Any) -> dict[str, Any]:
    model = service_model(signing)
    assert model is not None
    parser = botocore.parsers.create_parser(protocol)
    headers = {k.lower(): v for k, v in response.headers.items()}
    return parser.parse(
        {
            "status_code": response.status_code,
            "headers": HeadersDict(headers),
            "body": response.get_data(),
        },
        None,
    )


@pytest.mark.parametrize(
    ("signing", "protocol", "code", "status"),
    [
        ("sqs", "json", "AccessDenied", 400),  # awsQueryCompatible: the query code
        ("sqs", "query", "AccessDenied", 403),
        ("sns", "query", "AuthorizationError", 403),
        ("dynamodb", "json", "AccessDeniedException", 400),
        ("events", "json", "AccessDeniedException", 400),
        ("lambda", "rest-json", "AccessDeniedException", 403),
        ("monitoring", "json", "AccessDenied", 400),
        ("monitoring", "smithy-rpc-v2-cbor", "AccessDenied", 400),
        ("s3", "rest-xml", "AccessDenied", 403),
    ],
)
def test_access_denied_is_parsed_by_botocore_as_the_service_names_it(
    signing, protocol, code, status
):
    check = Check("x:Y", "arn:aws:x:us-east-1:123456789012:thing")
    message = denial_message(SESSION, check, Decision.IMPLICIT_DENY)
    response = error_response(signing, protocol, "AccessDenied", message)
    parsed = _parsed(signing, protocol, response)
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"] == message
    assert response.status_code == status


def test_denial_messages_say_which_policy_decided_as_iam_does():
    check = Check("sqs:SendMessage", QUEUE_ARN)
    who = f"User: arn:aws:sts::{ACCOUNT}:assumed-role/worker/worker is not authorized to perform"
    assert denial_message(SESSION, check, Decision.IMPLICIT_DENY) == (
        f"{who}: sqs:SendMessage on resource: {QUEUE_ARN} because no identity-based policy "
        "allows the sqs:SendMessage action"
    )
    assert denial_message(SESSION, check, Decision.EXPLICIT_DENY) == (
        f"{who}: sqs:SendMessage on resource: {QUEUE_ARN} with an explicit deny in an "
        "identity-based policy"
    )


def test_a_json_body_that_is_not_an_object_is_no_parameters():
    request = request_of("sqs", "send_message", QueueUrl=QUEUE_URL, MessageBody="x")
    broken = Request(
        EnvironBuilder(
            method="POST", path="/", headers=dict(request.headers), data=b"[]"
        ).get_environ()
    )
    call = resolve(broken, "sqs", AT, lambda s: s)
    assert call is not None and call.checks == (Check("sqs:SendMessage", None),)


@pytest.mark.parametrize(
    ("service", "method", "params", "operation"),
    [
        # The same path and method: the required query key tells them apart.
        ("s3", "get_object_tagging", {"Bucket": "b", "Key": "k"}, "GetObjectTagging"),
        ("s3", "get_object", {"Bucket": "b", "Key": "k"}, "GetObject"),
        (
            "lambda",
            "list_provisioned_concurrency_configs",
            {"FunctionName": "worker"},
            "ListProvisionedConcurrencyConfigs",
        ),
    ],
)
def test_rest_operations_are_told_apart_by_their_query_as_well(service, method, params, operation):
    assert checks(service, method, **params)[1].operation == operation


def test_an_invoke_payload_sent_as_json_is_not_read_as_parameters():
    # Some SDKs send Invoke's payload as application/json; its keys are the event's, not the call's.
    sent = request_of("lambda", "invoke", FunctionName="worker", Payload=b'{"Qualifier": "x"}')
    headers = {**dict(sent.headers), "Content-Type": "application/json"}
    request = Request(
        EnvironBuilder(
            method="POST", path=sent.path, headers=headers, data=sent.get_data()
        ).get_environ()
    )
    call = resolve(request, "lambda", AT, lambda s: s)
    assert call is not None and call.checks == (Check("lambda:InvokeFunction", FUNCTION),)
