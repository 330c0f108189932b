"""Async invoke (InvocationType=Event): retries, destinations, the function DLQ, dropped events.

AWS's 1 min / 2 min retry delays run 1000x faster here (time scale 0.001).
"""

from __future__ import annotations

import json
from datetime import UTC

import pytest

FAILS = """
def handler(event, context):
    raise ValueError("cannot process " + str(event.get("id")))
"""

OK = """
def handler(event, context):
    return {"processed": event["id"]}
"""


def _queue(aws, name_for):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name_for("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def test_retries_exhausted_record_to_on_failure_destination(aws, make_function, name_for, drain):
    url, arn = _queue(aws, name_for)
    name = make_function(FAILS)
    lam = aws("lambda")
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    answer = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "a1"}')
    assert answer["StatusCode"] == 202
    [message] = drain(aws("sqs"), url, expect=1)
    record = json.loads(message["Body"])
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    context = record["requestContext"]
    assert context["condition"] == "RetriesExhausted"
    assert context["approximateInvokeCount"] == 3  # the first attempt and 2 retries
    assert context["functionArn"].endswith(f":function:{name}:$LATEST")
    assert context["requestId"] == answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert record["requestPayload"] == {"id": "a1"}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "cannot process a1"


def test_zero_retries_and_dead_letter_queue_attributes(aws, make_function, name_for, drain):
    url, arn = _queue(aws, name_for)
    name = make_function(FAILS, DeadLetterConfig={"TargetArn": arn})
    lam = aws("lambda")
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {
        "TargetArn": arn
    }
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    answer = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "d1"}')
    [message] = drain(aws("sqs"), url, expect=1)
    assert json.loads(message["Body"]) == {"id": "d1"}  # the original event, unchanged
    attributes = message["MessageAttributes"]
    assert (
        attributes["RequestID"]["StringValue"]
        == answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    )
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert attributes["ErrorMessage"]["StringValue"] == "cannot process d1"


def test_dead_letter_config_survives_update_and_can_be_removed(aws, make_function, name_for):
    _, arn = _queue(aws, name_for)
    name = make_function(OK)
    lam = aws("lambda")
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": arn})
    assert (
        lam.get_function(FunctionName=name)["Configuration"]["DeadLetterConfig"]["TargetArn"] == arn
    )
    lam.update_function_configuration(FunctionName=name, Timeout=5)
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"]["TargetArn"] == arn
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)


def test_on_success_destination(aws, make_function, name_for, drain):
    url, arn = _queue(aws, name_for)
    name = make_function(OK)
    lam = aws("lambda")
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}}
    )
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "s1"}')
    [message] = drain(aws("sqs"), url, expect=1)
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responsePayload"] == {"processed": "s1"}
    assert "functionError" not in record["responseContext"]


@pytest.mark.in_process_cloud  # the runtime's Python API
def test_event_without_destination_is_dropped(cloud, make_function, poll):
    name = make_function(FAILS)
    cloud.client("lambda").put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0
    )
    cloud.lambdas.invoke(name, b'{"id": "x"}', invocation_type="Event")

    def dropped() -> float:
        stats = cloud.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="AsyncEventsDropped",
            Dimensions=[{"Name": "FunctionName", "Value": name}],
            StartTime=_minutes_ago(5),
            EndTime=_minutes_ago(-1),
            Period=60,
            Statistics=["Sum"],
        )
        return sum(p["Sum"] for p in stats["Datapoints"])

    assert poll(dropped, timeout=30, what="AsyncEventsDropped") == 1


def test_unknown_function_event_invoke_is_404(aws):
    import pytest
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        aws("lambda").invoke(FunctionName="nope-async", InvocationType="Event", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def _minutes_ago(minutes: int):
    from datetime import datetime, timedelta

    return datetime.now(UTC) - timedelta(minutes=minutes)


VERSIONED = """
import json, os, boto3
def handler(event, context):
    boto3.client("sqs").send_message(QueueUrl=event["out"], MessageBody=json.dumps(
        {"code": "CODE", "version": context.function_version}))
    return "CODE"
"""


def test_a_qualified_invoke_runs_that_version(aws, make_function, name_for, drain, zipped):
    out, _ = _queue(aws, name_for)
    name = make_function(VERSIONED.replace("CODE", "v1"))
    lam = aws("lambda")
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_code(FunctionName=name, ZipFile=zipped(VERSIONED.replace("CODE", "v2")))
    payload = json.dumps({"out": out})
    sync = lam.invoke(FunctionName=name, Qualifier="1", Payload=payload)
    assert json.loads(sync["Payload"].read()) == "v1" and sync["ExecutedVersion"] == "1"
    lam.invoke(FunctionName=name, Qualifier="1", InvocationType="Event", Payload=payload)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=payload)
    bodies = sorted(m["Body"] for m in drain(aws("sqs"), out, expect=3))
    assert [json.loads(b) for b in bodies] == [
        {"code": "v1", "version": "1"},
        {"code": "v1", "version": "1"},
        {"code": "v2", "version": "$LATEST"},
    ]


RECORD_TO_SQS = """
import json, os, boto3
def handler(event, context):
    boto3.client("sqs").send_message(QueueUrl=os.environ["OUT"], MessageBody=json.dumps(event))
"""


def test_on_failure_to_a_function_and_to_a_topic(aws, make_function, name_for, drain, allow_queue):
    sqs, sns, lam = aws("sqs"), aws("sns"), aws("lambda")
    via_function, _ = _queue(aws, name_for)
    via_topic, via_topic_arn = _queue(aws, name_for)
    receiver = make_function(RECORD_TO_SQS, env={"OUT": via_function})
    receiver_arn = lam.get_function(FunctionName=receiver)["Configuration"]["FunctionArn"]
    topic = sns.create_topic(Name=name_for("failures"))["TopicArn"]
    allow_queue(via_topic, "sns.amazonaws.com", topic)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=via_topic_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    for target, out in ((receiver_arn, via_function), (topic, via_topic)):
        name = make_function(FAILS)
        lam.put_function_event_invoke_config(
            FunctionName=name,
            MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": target}},
        )
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"id": "f1"}')
        [message] = drain(sqs, out, expect=1)
        record = json.loads(message["Body"])
        assert record["requestContext"]["condition"] == "RetriesExhausted", target
        assert record["requestContext"]["approximateInvokeCount"] == 1
        assert record["requestPayload"] == {"id": "f1"}
