"""A function's calls are judged by its execution role's policies, as IAM judges them on AWS:
what the role allows goes through, anything else is AccessDenied with IAM's message, in the
service's own error code (IAM User Guide, "Policy evaluation logic").

Each test deploys a small function that makes one SDK call with its role's credentials and
reports botocore's answer (or error), with a role holding only the statements under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local.helpers import LAMBDA_TRUST, create_lambda_role

pytestmark = pytest.mark.local

ACCOUNT = "123456789012"
REGION = "us-east-1"

CALLER = """
import json
import boto3, botocore

def handler(event, context):
    client = boto3.client(event["service"])
    try:
        answer = getattr(client, event["call"])(**event.get("params", {}))
    except botocore.exceptions.ClientError as exc:
        error = exc.response["Error"]
        return {"code": error["Code"], "message": error["Message"]}
    answer.pop("ResponseMetadata", None)
    answer.pop("Payload", None)  # a streaming body
    return {"ok": json.loads(json.dumps(answer, default=str))}
"""

OK = """
def handler(event, context):
    return {"ok": True}
"""


def allow(actions: str | list[str], *resources: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": list(resources)}


def deny(actions: str | list[str], *resources: str) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": actions, "Resource": list(resources)}


Caller = Callable[..., dict[str, Any]]


@pytest.fixture
def caller(aws, name_for, zipped) -> Callable[..., tuple[Caller, str]]:
    """`caller(*statements)` -> (call, role name): `call(service, method, **params)` runs
    that SDK call inside a function whose role holds exactly `statements`."""
    lam = aws("lambda")

    def make(*statements: dict[str, Any]) -> tuple[Caller, str]:
        role_arn = create_lambda_role(aws("iam"), statements)
        name = name_for("caller")
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn,
            Handler="app.handler",
            Code={"ZipFile": zipped(CALLER)},
            Timeout=30,
        )

        def call(service: str, method: str, **params: Any) -> dict[str, Any]:
            event = {"service": service, "call": method, "params": params}
            answer = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
            assert "FunctionError" not in answer, answer["Payload"].read()
            return json.loads(answer["Payload"].read())

        call.function = name  # type: ignore[attr-defined]
        return call, role_arn.rsplit("/", 1)[-1]

    return make


def queue(aws, name_for) -> tuple[str, str]:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name_for("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def denied(answer: dict[str, Any], code: str, action: str, resource: str) -> bool:
    """AWS's AccessDenied: the service's code, and IAM's message naming action and resource."""
    assert answer.get("code") == code, answer
    message = answer["message"]
    assert ":assumed-role/" in message, message
    assert f"is not authorized to perform: {action} on resource: {resource}" in message, message
    return True


# ---- the rules ---------------------------------------------------------------------------
def test_a_grant_on_one_queue_sends_there_and_is_denied_on_another(aws, name_for, caller, drain):
    # GIVEN a function whose role may send to queue A only
    a_url, a_arn = queue(aws, name_for)
    b_url, b_arn = queue(aws, name_for)
    call, role = caller(allow("sqs:SendMessage", a_arn))
    # WHEN it sends to A and to B
    to_a = call("sqs", "send_message", QueueUrl=a_url, MessageBody="a")
    to_b = call("sqs", "send_message", QueueUrl=b_url, MessageBody="b")
    # THEN A has the message; B's send is AccessDenied (SQS's code) and B stays empty
    assert "MessageId" in to_a["ok"]
    assert denied(to_b, "AccessDenied", "sqs:SendMessage", b_arn)
    assert (
        f"assumed-role/{role}/{call.function} is not authorized" in to_b["message"]  # type: ignore[attr-defined]
    )
    assert to_b["message"].endswith(
        "because no identity-based policy allows the sqs:SendMessage action"
    )
    assert len(drain(aws("sqs"), a_url, expect=1, timeout=5)) == 1
    assert drain(aws("sqs"), b_url, expect=1, timeout=1) == []


def test_an_explicit_deny_wins_over_an_allow(aws, name_for, caller):
    url, arn = queue(aws, name_for)
    call, _ = caller(allow("sqs:*", "*"), deny("sqs:SendMessage", arn))
    answer = call("sqs", "send_message", QueueUrl=url, MessageBody="x")
    assert denied(answer, "AccessDenied", "sqs:SendMessage", arn)
    assert answer["message"].endswith("with an explicit deny in an identity-based policy")
    assert "ok" in call("sqs", "get_queue_attributes", QueueUrl=url, AttributeNames=["All"])


def test_a_policy_change_takes_effect_on_the_next_call(aws, name_for, caller):
    # GIVEN a function whose role grants nothing
    url, arn = queue(aws, name_for)
    call, role = caller()
    assert denied(
        call("sqs", "send_message", QueueUrl=url, MessageBody="1"),
        "AccessDenied",
        "sqs:SendMessage",
        arn,
    )
    # WHEN the grant is added THEN the next call (same warm worker, same session) goes through
    policy = {"Version": "2012-10-17", "Statement": [allow("sqs:SendMessage", arn)]}
    aws("iam").put_role_policy(RoleName=role, PolicyName="late", PolicyDocument=json.dumps(policy))
    assert "ok" in call("sqs", "send_message", QueueUrl=url, MessageBody="2")
    # WHEN it is removed again THEN the next call is denied again
    aws("iam").delete_role_policy(RoleName=role, PolicyName="late")
    assert "code" in call("sqs", "send_message", QueueUrl=url, MessageBody="3")


def test_an_attached_managed_policy_grants_as_an_inline_one(aws, name_for, caller):
    url, arn = queue(aws, name_for)
    call, role = caller()
    iam = aws("iam")
    document = {"Version": "2012-10-17", "Statement": [allow("sqs:SendMessage", arn)]}
    policy = iam.create_policy(PolicyName=name_for("send"), PolicyDocument=json.dumps(document))
    iam.attach_role_policy(RoleName=role, PolicyArn=policy["Policy"]["Arn"])
    assert "ok" in call("sqs", "send_message", QueueUrl=url, MessageBody="x")


def test_the_operators_test_credentials_are_not_judged(aws, name_for):
    # The operator (and the deploy, and the chaos suite) sign with the account's own keys.
    url, _ = queue(aws, name_for)
    assert aws("sqs").send_message(QueueUrl=url, MessageBody="x")["MessageId"]


def test_a_function_cannot_swap_its_credentials_by_its_own_variables(aws, name_for, zipped):
    # AWS refuses the reserved variables; here they are ignored: the role's session is used.
    url, arn = queue(aws, name_for)
    lam = aws("lambda")
    name = name_for("sneaky")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=create_lambda_role(aws("iam"), ()),
        Handler="app.handler",
        Code={"ZipFile": zipped(CALLER)},
        Timeout=30,
        Environment={
            "Variables": {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
            }
        },
    )
    event = {
        "service": "sqs",
        "call": "send_message",
        "params": {"QueueUrl": url, "MessageBody": "x"},
    }
    answer = json.loads(lam.invoke(FunctionName=name, Payload=json.dumps(event))["Payload"].read())
    assert denied(answer, "AccessDenied", "sqs:SendMessage", arn)


def test_get_caller_identity_is_always_allowed_and_names_the_session(caller):
    call, role = caller(deny("*", "*"))
    answer = call("sts", "get_caller_identity")
    assert answer["ok"]["Arn"].endswith(f":assumed-role/{role}/{call.function}")  # type: ignore[attr-defined]


# ---- the execution role itself --------------------------------------------------------------
def test_create_function_with_a_role_lambda_cannot_assume_is_refused(aws, name_for, zipped):
    iam, lam = aws("iam"), aws("lambda")
    trust = json.loads(json.dumps(LAMBDA_TRUST))
    trust["Statement"][0]["Principal"] = {"Service": "states.amazonaws.com"}
    states_role = iam.create_role(
        RoleName=name_for("states-role"), AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    missing = f"arn:aws:iam::{ACCOUNT}:role/{name_for('missing')}"
    for role in (states_role, missing):
        with pytest.raises(ClientError) as raised:
            lam.create_function(
                FunctionName=name_for("fn"),
                Runtime="python3.11",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": zipped(OK)},
            )
        error = raised.value.response["Error"]
        assert error["Code"] == "InvalidParameterValueException"
        assert error["Message"] == "The role defined for the function cannot be assumed by Lambda."
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # An existing function cannot be switched to such a role either.
    name = name_for("fn")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=create_lambda_role(iam, ()),
        Handler="app.handler",
        Code={"ZipFile": zipped(OK)},
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_configuration(FunctionName=name, Role=states_role)


# ---- each service family: allowed and denied --------------------------------------------
def test_sns_publish(aws, name_for, caller):
    sns = aws("sns")
    granted = sns.create_topic(Name=name_for("t"))["TopicArn"]
    other = sns.create_topic(Name=name_for("t"))["TopicArn"]
    call, _ = caller(allow("sns:Publish", granted))
    assert "MessageId" in call("sns", "publish", TopicArn=granted, Message="m")["ok"]
    assert denied(
        call("sns", "publish", TopicArn=other, Message="m"),
        "AuthorizationError",
        "sns:Publish",
        other,
    )


def _table(aws, name_for) -> tuple[str, str]:
    name = name_for("t")
    arn = aws("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    return name, arn


def test_dynamodb_item_and_batch_calls(aws, name_for, caller):
    (granted, granted_arn), (other, other_arn) = _table(aws, name_for), _table(aws, name_for)
    call, _ = caller(allow(["dynamodb:PutItem", "dynamodb:BatchWriteItem"], granted_arn))
    item = {"id": {"S": "1"}}
    assert "ok" in call("dynamodb", "put_item", TableName=granted, Item=item)
    assert denied(
        call("dynamodb", "put_item", TableName=other, Item=item),
        "AccessDeniedException",
        "dynamodb:PutItem",
        other_arn,
    )
    # A batch needs the permission on every table it writes.
    put = [{"PutRequest": {"Item": item}}]
    assert "ok" in call("dynamodb", "batch_write_item", RequestItems={granted: put})
    assert denied(
        call("dynamodb", "batch_write_item", RequestItems={granted: put, other: put}),
        "AccessDeniedException",
        "dynamodb:BatchWriteItem",
        other_arn,
    )


def test_eventbridge_put_events_on_a_bus(aws, name_for, caller):
    events = aws("events")
    granted = events.create_event_bus(Name=name_for("bus"))["EventBusArn"]
    other_name = name_for("bus")
    other = events.create_event_bus(Name=other_name)["EventBusArn"]
    call, _ = caller(allow("events:PutEvents", granted))
    entry = {"Source": "test", "DetailType": "t", "Detail": "{}"}
    answer = call("events", "put_events", Entries=[{**entry, "EventBusName": granted}])
    assert answer["ok"]["FailedEntryCount"] == 0
    assert denied(
        call("events", "put_events", Entries=[{**entry, "EventBusName": other_name}]),
        "AccessDeniedException",
        "events:PutEvents",
        other,
    )


def test_lambda_invoke(aws, name_for, caller, make_function):
    granted, other = make_function(OK), make_function(OK)
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
    call, _ = caller(allow("lambda:InvokeFunction", arn + granted))
    assert "ok" in call("lambda", "invoke", FunctionName=granted, Payload="{}")
    assert denied(
        call("lambda", "invoke", FunctionName=other, Payload="{}"),
        "AccessDeniedException",
        "lambda:InvokeFunction",
        arn + other,
    )


def test_logs_put_log_events_on_a_stream(aws, name_for, caller):
    logs = aws("logs")
    group = name_for("/test/group")
    logs.create_log_group(logGroupName=group)
    for stream in ("granted", "other"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    call, _ = caller(allow("logs:PutLogEvents", f"{group_arn}:log-stream:granted"))
    events = [{"timestamp": 1_700_000_000_000, "message": "m"}]
    assert "ok" in call(
        "logs", "put_log_events", logGroupName=group, logStreamName="granted", logEvents=events
    )
    assert denied(
        call("logs", "put_log_events", logGroupName=group, logStreamName="other", logEvents=events),
        "AccessDeniedException",
        "logs:PutLogEvents",
        f"{group_arn}:log-stream:other",
    )


def test_kinesis_put_record(aws, name_for, caller):
    kinesis = aws("kinesis")
    granted, other = name_for("s"), name_for("s")
    for name in (granted, other):
        kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/"
    call, _ = caller(allow("kinesis:PutRecord", arn + granted))
    record = {"Data": "x", "PartitionKey": "k"}
    assert "ok" in call("kinesis", "put_record", StreamName=granted, **record)
    assert denied(
        call("kinesis", "put_record", StreamName=other, **record),
        "AccessDeniedException",
        "kinesis:PutRecord",
        arn + other,
    )


def test_step_functions_start_execution(aws, name_for, caller, lambda_role):
    sfn = aws("stepfunctions")
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    granted, other = (
        sfn.create_state_machine(name=name_for("sm"), definition=definition, roleArn=lambda_role)[
            "stateMachineArn"
        ]
        for _ in range(2)
    )
    call, _ = caller(allow("states:StartExecution", granted))
    assert "executionArn" in call("stepfunctions", "start_execution", stateMachineArn=granted)["ok"]
    assert denied(
        call("stepfunctions", "start_execution", stateMachineArn=other),
        "AccessDeniedException",
        "states:StartExecution",
        other,
    )


def test_secrets_manager_by_name_is_judged_on_the_secrets_arn(aws, name_for, caller):
    secrets = aws("secretsmanager")
    granted, other = name_for("key"), name_for("key")
    arns = {n: secrets.create_secret(Name=n, SecretString="s")["ARN"] for n in (granted, other)}
    # The ARN ends in a random suffix: a grant names the secret with a wildcard for it.
    prefix = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
    call, _ = caller(allow("secretsmanager:GetSecretValue", f"{prefix}{granted}-??????"))
    assert call("secretsmanager", "get_secret_value", SecretId=granted)["ok"]["SecretString"] == "s"
    assert denied(
        call("secretsmanager", "get_secret_value", SecretId=other),
        "AccessDeniedException",
        "secretsmanager:GetSecretValue",
        arns[other],
    )


def test_ssm_get_parameter(aws, name_for, caller):
    ssm = aws("ssm")
    granted, other = f"/{name_for('p')}/key", f"/{name_for('p')}/key"
    for name in (granted, other):
        ssm.put_parameter(Name=name, Value="v", Type="SecureString")
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
    call, _ = caller(allow("ssm:GetParameter", arn + granted))
    answer = call("ssm", "get_parameter", Name=granted, WithDecryption=True)
    assert answer["ok"]["Parameter"]["Value"] == "v"
    assert denied(
        call("ssm", "get_parameter", Name=other, WithDecryption=True),
        "AccessDeniedException",
        "ssm:GetParameter",
        arn + other,
    )
