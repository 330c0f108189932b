"""Lambda's calls on a function's behalf are judged against its execution role, and SNS's and
EventBridge's DLQ writes against the queue's policy (issue 15, part 2).

At configuration time Lambda refuses a DLQ, a destination or an event source mapping the
role cannot serve (400 InvalidParameterValueException); a grant taken away later makes the
send or the read fail at run time: the DLQ stays empty and DeadLetterErrors /
DestinationDeliveryFailures count the event, or the mapping reads nothing and says PROBLEM.
Each role here grants exactly what its test names (the functions' own writes included), so
nothing passes on a wildcard.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.local.helpers import RECORDER, create_lambda_role

pytestmark = [pytest.mark.local, pytest.mark.usefixtures("delete_new_mappings")]

FAILS = """
def handler(event, context):
    raise ValueError("cannot process")
"""

LOGS = {"Effect": "Allow", "Action": ["logs:*"], "Resource": "*"}
SQS_READS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
KINESIS_READS = [
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
]


def allow(actions: list[str], *resources: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": list(resources)}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [LOGS, *statements]}


@pytest.fixture
def role(aws: Any) -> Callable[..., str]:
    """A Lambda role granting logs and exactly `statements`."""
    return lambda *statements: create_lambda_role(aws("iam"), [LOGS, *statements])


@pytest.fixture
def regrant(aws: Any) -> Callable[..., None]:
    """Rewrite a role's inline policy through IAM, as a user tightening it later would."""

    def put(role_arn: str, *statements: dict[str, Any]) -> None:
        aws("iam").put_role_policy(
            RoleName=role_arn.rsplit("/", 1)[-1],
            PolicyName="test",
            PolicyDocument=json.dumps(policy(*statements)),
        )

    return put


@pytest.fixture
def function(aws: Any, name_for: Any, zipped: Any) -> Callable[..., str]:
    def make(role_arn: str, source: str = FAILS, **extra: Any) -> str:
        name = name_for("fn")
        aws("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role_arn,
            Handler="app.handler",
            Code={"ZipFile": zipped(source)},
            Timeout=3,
            **extra,
        )
        return name

    return make


@pytest.fixture
def queue(aws: Any, name_for: Any) -> Callable[..., tuple[str, str]]:
    def make(prefix: str = "q", **attributes: str) -> tuple[str, str]:
        sqs = aws("sqs")
        url = sqs.create_queue(QueueName=name_for(prefix), Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    return make


@pytest.fixture
def stream(aws: Any, name_for: Any) -> Callable[[], str]:
    def make() -> str:
        kinesis = aws("kinesis")
        name = name_for("stream")
        kinesis.create_stream(StreamName=name, ShardCount=1)
        return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"
        ]

    return make


def refused(call: Callable[[], Any]) -> str:
    """The InvalidParameterValueException message of a call Lambda refuses."""
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException", error
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


def metric(aws: Any, name: str, function_name: str) -> float:
    now = datetime.now(UTC)
    stats = aws("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=name,
        Dimensions=[{"Name": "FunctionName", "Value": function_name}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )
    return sum(p["Sum"] for p in stats["Datapoints"])


def depth(aws: Any, url: str) -> int:
    attrs = aws("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


# ---- configuration time -------------------------------------------------------------------
def test_a_dlq_the_role_may_not_write_is_refused_at_create_and_at_update(
    aws, role, function, queue, name_for
):
    # GIVEN a DLQ queue and topic, and a role granting SendMessage on another queue only
    _, dlq_arn = queue("dlq")
    _, other_arn = queue("other")
    topic_arn = aws("sns").create_topic(Name=name_for("dlq-topic"))["TopicArn"]
    narrow = role(allow(["sqs:SendMessage"], other_arn))
    lam = aws("lambda")
    # WHEN a function is created with the queue, or the topic, as its DLQ
    # THEN Lambda refuses it, naming the call the role cannot make, and creates nothing
    message = refused(lambda: function(narrow, DeadLetterConfig={"TargetArn": dlq_arn}))
    assert (
        message
        == "The provided execution role does not have permissions to call SendMessage on SQS"
    )
    message = refused(lambda: function(narrow, DeadLetterConfig={"TargetArn": topic_arn}))
    assert message == "The provided execution role does not have permissions to call Publish on SNS"
    # AND a function made without one is refused the DLQ at update, keeping none
    name = function(narrow)
    message = refused(
        lambda: lam.update_function_configuration(
            FunctionName=name, DeadLetterConfig={"TargetArn": dlq_arn}
        )
    )
    assert "call SendMessage on SQS" in message
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)
    # AND with the grants, the same configurations are accepted
    granted = role(allow(["sqs:SendMessage"], dlq_arn), allow(["sns:Publish"], topic_arn))
    function(granted, DeadLetterConfig={"TargetArn": dlq_arn})
    function(granted, DeadLetterConfig={"TargetArn": topic_arn})
    lam.update_function_configuration(FunctionName=name, Role=granted)
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": dlq_arn})
    # AND a role change that leaves the DLQ unwritable is refused too
    message = refused(lambda: lam.update_function_configuration(FunctionName=name, Role=narrow))
    assert "call SendMessage on SQS" in message


def test_a_destination_the_role_may_not_reach_is_refused(aws, role, function, queue):
    # GIVEN a function whose role may send to one queue only
    _, granted_arn = queue("granted")
    _, other_arn = queue("other")
    name = function(role(allow(["sqs:SendMessage"], granted_arn)))
    lam = aws("lambda")
    # WHEN its OnFailure (or OnSuccess) destination is another queue THEN Lambda refuses it
    for outcome in ("OnFailure", "OnSuccess"):
        message = refused(
            lambda outcome=outcome: lam.put_function_event_invoke_config(
                FunctionName=name, DestinationConfig={outcome: {"Destination": other_arn}}
            )
        )
        assert message == (
            "The function's execution role does not have permissions to call SendMessage"
            f" on {other_arn}"
        )
    # AND the queue it may write is accepted, by Put and by Update
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": granted_arn}}
    )
    refused(
        lambda: lam.update_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": other_arn}}
        )
    )
    config = lam.get_function_event_invoke_config(FunctionName=name)
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == granted_arn


@pytest.mark.parametrize("missing", SQS_READS)
def test_an_sqs_mapping_needs_each_of_its_three_reads(aws, role, function, queue, missing):
    # GIVEN a queue and a function whose role has every read a mapping needs but one
    _, arn = queue("source")
    name = function(role(allow([a for a in SQS_READS if a != missing], arn)))
    # WHEN a mapping is created THEN Lambda refuses it, naming the missing call
    message = refused(
        lambda: aws("lambda").create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    )
    call = missing.split(":")[1]
    assert message == f"The provided execution role does not have permissions to call {call} on SQS"
    assert aws("lambda").list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []


def test_an_sqs_mapping_with_its_three_reads_is_created(aws, role, function, queue):
    # GIVEN a role with the three reads on the queue (AWSLambdaSQSQueueExecutionRole's)
    _, arn = queue("source")
    name = function(role(allow(SQS_READS, arn)))
    # WHEN / THEN the mapping is created
    mapping = aws("lambda").create_event_source_mapping(EventSourceArn=arn, FunctionName=name)
    assert mapping["EventSourceArn"] == arn


def test_a_kinesis_mapping_needs_the_stream_reads_and_its_on_failure_grant(
    aws, role, function, queue, stream
):
    # GIVEN a stream, an OnFailure queue, and roles missing one grant each
    stream_arn = stream()
    _, on_failure_arn = queue("on-failure")
    lam = aws("lambda")

    def mapping(role_arn: str) -> Any:
        return lam.create_event_source_mapping(
            EventSourceArn=stream_arn,
            FunctionName=function(role_arn),
            StartingPosition="TRIM_HORIZON",
            DestinationConfig={"OnFailure": {"Destination": on_failure_arn}},
        )

    send = allow(["sqs:SendMessage"], on_failure_arn)
    no_records = [a for a in KINESIS_READS if a != "kinesis:GetRecords"]
    # WHEN the role may not read records THEN Lambda cannot access the stream
    message = refused(lambda: mapping(role(allow(no_records, stream_arn), send)))
    assert message.startswith(f"Cannot access stream {stream_arn}.")
    assert "GetRecords" in message
    # WHEN it may not describe the stream (neither DescribeStream nor its summary) THEN too
    no_describe = [a for a in KINESIS_READS if "Describe" not in a]
    assert refused(lambda: mapping(role(allow(no_describe, stream_arn), send))).startswith(
        "Cannot access stream"
    )
    # WHEN it may read but not send to the OnFailure queue THEN that call is named
    message = refused(lambda: mapping(role(allow(KINESIS_READS, stream_arn))))
    assert (
        message
        == "The provided execution role does not have permissions to call SendMessage on SQS"
    )
    # AND with every grant the mapping is created
    assert mapping(role(allow(KINESIS_READS, stream_arn), send))["EventSourceArn"] == stream_arn


# ---- delivery time: the grant taken away after configuration --------------------------------
def test_an_async_failure_whose_dlq_grant_was_revoked_is_lost_and_counted(
    aws, role, regrant, function, queue, drain, poll
):
    # GIVEN a failing function with a DLQ its role could write when it was configured
    dlq_url, dlq_arn = queue("dlq")
    role_arn = role(allow(["sqs:SendMessage"], dlq_arn))
    name = function(role_arn, DeadLetterConfig={"TargetArn": dlq_arn})
    lam = aws("lambda")
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    # WHEN the grant is taken away through IAM, and an event fails
    regrant(role_arn)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "lost"}')
    # THEN Lambda counts a DeadLetterErrors and the DLQ stays empty: the event is gone
    assert poll(lambda: metric(aws, "DeadLetterErrors", name), timeout=30) == 1
    assert drain(aws("sqs"), dlq_url, expect=1, timeout=1) == []
    # AND once the grant is back, the next failed event reaches the DLQ (the control)
    regrant(role_arn, allow(["sqs:SendMessage"], dlq_arn))
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "kept"}')
    [message] = drain(aws("sqs"), dlq_url, expect=1, timeout=30)
    assert json.loads(message["Body"]) == {"id": "kept"}
    assert metric(aws, "DeadLetterErrors", name) == 1


def test_an_async_failure_whose_destination_grant_was_revoked_is_lost_and_counted(
    aws, role, regrant, function, queue, drain, poll
):
    # GIVEN a failing function with an OnFailure queue its role could write when configured
    url, arn = queue("on-failure")
    role_arn = role(allow(["sqs:SendMessage"], arn))
    name = function(role_arn)
    lam = aws("lambda")
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    # WHEN the grant is taken away, and an event fails
    regrant(role_arn)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "lost"}')
    # THEN DestinationDeliveryFailures counts it, and no record arrives
    assert poll(lambda: metric(aws, "DestinationDeliveryFailures", name), timeout=30) == 1
    assert drain(aws("sqs"), url, expect=1, timeout=1) == []
    # AND with the grant back, the next record arrives
    regrant(role_arn, allow(["sqs:SendMessage"], arn))
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "kept"}')
    [message] = drain(aws("sqs"), url, expect=1, timeout=30)
    assert json.loads(message["Body"])["requestPayload"] == {"id": "kept"}


def test_an_sqs_mapping_whose_receive_grant_was_revoked_reads_nothing_and_says_so(
    aws, role, regrant, function, queue, drain, poll
):
    # GIVEN a mapping whose function records what it receives
    source_url, source_arn = queue("source")
    seen_url, seen_arn = queue("seen")
    reads = allow(SQS_READS, source_arn)
    record = allow(["sqs:SendMessage"], seen_arn)
    role_arn = role(reads, record)
    name = function(role_arn, RECORDER, Environment={"Variables": {"SEEN_URL": seen_url}})
    lam = aws("lambda")
    uuid = lam.create_event_source_mapping(EventSourceArn=source_arn, FunctionName=name)["UUID"]
    # WHEN the role loses sqs:ReceiveMessage and a message is sent
    regrant(role_arn, allow(["sqs:DeleteMessage", "sqs:GetQueueAttributes"], source_arn), record)
    aws("sqs").send_message(QueueUrl=source_url, MessageBody='{"id": "waits"}')
    # THEN the mapping reports the problem, the message stays, and the function never runs
    poll(
        lambda: str(lam.get_event_source_mapping(UUID=uuid).get("LastProcessingResult")).startswith(
            "PROBLEM: the execution role does not allow sqs:ReceiveMessage"
        ),
        timeout=15,
        what="LastProcessingResult PROBLEM",
    )
    time.sleep(1.5)
    assert depth(aws, source_url) == 1
    assert drain(aws("sqs"), seen_url, expect=1, timeout=0.5) == []
    # AND with the grant back, the message is processed and the mapping is OK again
    regrant(role_arn, reads, record)
    [seen] = drain(aws("sqs"), seen_url, expect=1, timeout=30)
    assert json.loads(json.loads(seen["Body"])["Records"][0]["body"]) == {"id": "waits"}
    poll(
        lambda: lam.get_event_source_mapping(UUID=uuid).get("LastProcessingResult") == "OK",
        timeout=15,
        what="LastProcessingResult OK",
    )


def test_an_sqs_mapping_whose_delete_grant_was_revoked_processes_the_message_again(
    aws, role, regrant, function, queue, drain, poll
):
    # GIVEN a mapping on a queue with a 3 s visibility timeout, its role without DeleteMessage
    source_url, source_arn = queue("source", VisibilityTimeout="3")
    seen_url, seen_arn = queue("seen")
    record = allow(["sqs:SendMessage"], seen_arn)
    role_arn = role(allow(SQS_READS, source_arn), record)
    name = function(role_arn, RECORDER, Environment={"Variables": {"SEEN_URL": seen_url}})
    lam = aws("lambda")
    uuid = lam.create_event_source_mapping(EventSourceArn=source_arn, FunctionName=name)["UUID"]
    regrant(role_arn, allow(["sqs:ReceiveMessage", "sqs:GetQueueAttributes"], source_arn), record)
    # WHEN one message is sent
    aws("sqs").send_message(QueueUrl=source_url, MessageBody='{"id": "again"}')
    # THEN it is processed, not deleted, and processed again after the visibility timeout
    seen = drain(aws("sqs"), seen_url, expect=2, timeout=20)
    counts = sorted(
        json.loads(s["Body"])["Records"][0]["attributes"]["ApproximateReceiveCount"] for s in seen
    )
    assert counts == ["1", "2"]
    poll(
        lambda: str(lam.get_event_source_mapping(UUID=uuid).get("LastProcessingResult")).startswith(
            "PROBLEM: the execution role does not allow sqs:DeleteMessage"
        ),
        timeout=15,
        what="LastProcessingResult PROBLEM",
    )


def test_a_stream_mapping_whose_grants_were_revoked_stops_then_drops_its_failure_record(
    aws, role, regrant, function, queue, stream, drain, poll
):
    # GIVEN a stream mapping that discards a failing record at once, to an OnFailure queue
    stream_arn = stream()
    url, arn = queue("on-failure")
    reads, send = allow(KINESIS_READS, stream_arn), allow(["sqs:SendMessage"], arn)
    role_arn = role(reads, send)
    name = function(role_arn)
    lam = aws("lambda")
    uuid = lam.create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=name,
        StartingPosition="TRIM_HORIZON",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )["UUID"]
    kinesis = aws("kinesis")
    # WHEN the role loses its reads and a record is put
    regrant(role_arn, send)
    kinesis.put_record(StreamARN=stream_arn, Data=b'{"id": "held"}', PartitionKey="k")
    # THEN the shard stops where it is: the mapping says PROBLEM, nothing is invoked
    poll(
        lambda: str(lam.get_event_source_mapping(UUID=uuid).get("LastProcessingResult")).startswith(
            "PROBLEM: the execution role does not allow kinesis:"
        ),
        timeout=15,
        what="LastProcessingResult PROBLEM",
    )
    assert metric(aws, "Invocations", name) == 0
    # WHEN the reads come back but the OnFailure grant goes
    regrant(role_arn, reads)
    # THEN the record is processed, fails, and its failure record is dropped and counted
    assert poll(lambda: metric(aws, "DestinationDeliveryFailures", name), timeout=30) == 1
    assert drain(aws("sqs"), url, expect=1, timeout=1) == []


# ---- SNS and EventBridge DLQs: the queue policy, service principal and aws:SourceArn --------
def _queue_policy(aws: Any, url: str, principal: str, source_arn: str) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": principal},
        "Action": "sqs:SendMessage",
        "Resource": "*",
        "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
    }
    aws("sqs").set_queue_attributes(
        QueueUrl=url,
        Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})},
    )


GRANTS = {
    # grant -> does the message reach the DLQ
    "its service, its source": True,
    "another service": False,
    "another source": False,
}


@pytest.mark.parametrize("grant", list(GRANTS))
def test_an_sns_subscription_dlq_needs_the_grant_to_sns_from_its_topic(
    aws, function, role, queue, name_for, drain, grant
):
    # GIVEN a subscription to a function SNS cannot invoke (deleted: a client error), with
    # a DLQ whose policy lets in the grant under test
    dlq_url, dlq_arn = queue("sub-dlq")
    sns = aws("sns")
    topic = sns.create_topic(Name=name_for("topic"))["TopicArn"]
    principal = "events.amazonaws.com" if grant == "another service" else "sns.amazonaws.com"
    _queue_policy(aws, dlq_url, principal, topic + "-other" if grant == "another source" else topic)
    name = function(role())
    fn_arn = aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint=fn_arn,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
    )
    aws("lambda").delete_function(FunctionName=name)
    # WHEN a message is published
    sns.publish(TopicArn=topic, Message=json.dumps({"id": grant}))
    # THEN it is in the DLQ only when SNS from this topic may write there; else it is dropped
    got = drain(aws("sqs"), dlq_url, expect=1, timeout=10 if GRANTS[grant] else 3)
    assert len(got) == int(GRANTS[grant])


@pytest.mark.parametrize("grant", list(GRANTS))
def test_an_eventbridge_target_dlq_needs_the_grant_to_events_from_its_rule(
    aws, queue, name_for, drain, grant
):
    # GIVEN a rule whose target does not exist, with a DLQ whose policy lets in the grant
    dlq_url, dlq_arn = queue("eb-dlq")
    events = aws("events")
    source, rule = name_for("app"), name_for("rule")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))["RuleArn"]
    principal = "sns.amazonaws.com" if grant == "another service" else "events.amazonaws.com"
    _queue_policy(
        aws, dlq_url, principal, rule_arn + "-other" if grant == "another source" else rule_arn
    )
    missing = dlq_arn.rsplit(":", 1)[0] + ":" + name_for("no-such-queue")
    events.put_targets(
        Rule=rule, Targets=[{"Id": "gone", "Arn": missing, "DeadLetterConfig": {"Arn": dlq_arn}}]
    )
    # WHEN an event matches
    answer = events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{}"}])
    assert answer["FailedEntryCount"] == 0
    # THEN it is in the DLQ only when EventBridge from this rule may write there
    got = drain(aws("sqs"), dlq_url, expect=1, timeout=10 if GRANTS[grant] else 3)
    assert len(got) == int(GRANTS[grant])
