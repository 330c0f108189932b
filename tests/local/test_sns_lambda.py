"""SNS -> Lambda: the real envelope, asynchronously; filter policies; the subscription DLQ."""

from __future__ import annotations

import json

import pytest

RECORDS_TO_SQS = """
import json, os, boto3
def handler(event, context):
    boto3.client("sqs").send_message(QueueUrl=os.environ["OUT"], MessageBody=json.dumps(event))
"""


def _queue(aws, name_for):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=name_for("q"))["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, attrs["Attributes"]["QueueArn"]


def test_sns_event_envelope_and_filter_policy(aws, make_function, name_for, drain, allow_service):
    out_url, _ = _queue(aws, name_for)
    name = make_function(RECORDS_TO_SQS, env={"OUT": out_url})
    fn_arn = aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sns = aws("sns")
    topic = sns.create_topic(Name=name_for("topic"))["TopicArn"]
    allow_service(name, "sns.amazonaws.com", topic)
    sub = sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint=fn_arn,
        Attributes={"FilterPolicy": json.dumps({"kind": ["ride"]})},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    sns.publish(
        TopicArn=topic,
        Message="skipped",
        Subject="s",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "other"}},
    )
    published = sns.publish(
        TopicArn=topic,
        Message=json.dumps({"id": "r1"}),
        Subject="ride",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "ride"}},
    )
    messages = drain(aws("sqs"), out_url, expect=1, timeout=15)
    # The filtered message was published first: had it passed, it would be here by now.
    assert drain(aws("sqs"), out_url, expect=1, timeout=1) == []
    assert len(messages) == 1
    [record] = json.loads(messages[0]["Body"])["Records"]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == sub
    message = record["Sns"]
    assert message["Type"] == "Notification" and message["TopicArn"] == topic
    assert message["MessageId"] == published["MessageId"]
    assert json.loads(message["Message"]) == {"id": "r1"} and message["Subject"] == "ride"
    assert message["MessageAttributes"] == {"kind": {"Type": "String", "Value": "ride"}}
    assert message["Timestamp"].endswith("Z")


def test_undeliverable_message_goes_to_subscription_dlq(
    aws, make_function, name_for, drain, allow_queue
):
    dlq_url, dlq_arn = _queue(aws, name_for)
    name = make_function("def handler(e, c):\n    return 1\n")
    fn_arn = aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sns = aws("sns")
    topic = sns.create_topic(Name=name_for("topic"))["TopicArn"]
    allow_queue(dlq_url, "sns.amazonaws.com", topic)
    sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint=fn_arn,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
    )
    aws("lambda").delete_function(FunctionName=name)  # a client-side error: SNS does not retry
    published = sns.publish(TopicArn=topic, Message=json.dumps({"id": "lost?"}))
    [dead] = drain(aws("sqs"), dlq_url, expect=1, timeout=30)
    body = json.loads(dead["Body"])
    assert body["Type"] == "Notification" and body["TopicArn"] == topic
    assert body["MessageId"] == published["MessageId"]
    assert json.loads(body["Message"]) == {"id": "lost?"}


def test_sns_to_lambda_async_failure_uses_function_retries(
    aws, make_function, name_for, drain, allow_service
):
    url, arn = _queue(aws, name_for)
    name = make_function("def handler(e, c):\n    raise RuntimeError('no')\n")
    lam = aws("lambda")
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    fn_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sns = aws("sns")
    topic = sns.create_topic(Name=name_for("topic"))["TopicArn"]
    allow_service(name, "sns.amazonaws.com", topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)
    sns.publish(TopicArn=topic, Message="m")
    [message] = drain(aws("sqs"), url, expect=1)
    record = json.loads(message["Body"])
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestPayload"]["Records"][0]["Sns"]["Message"] == "m"


def test_sns_retry_schedule_for_lambda_endpoints():
    import itertools

    from localcloud.sns import delivery_delays

    delays = list(itertools.islice(delivery_delays(), 16))
    assert delays[:5] == [0.0, 0.0, 0.0, 1.0, 1.0]  # 3 immediate, 2 at 1 s
    backoff = delays[5:15]
    assert backoff[0] == 1.0 and backoff[-1] == 20.0 and backoff == sorted(backoff)
    assert delays[15] == 20.0
    assert sum(1 for _ in delivery_delays()) == 3 + 2 + 10 + 100_000


@pytest.mark.in_process_cloud  # patches the runtime's invoke
def test_server_side_errors_are_retried_then_delivered(
    cloud, aws, make_function, name_for, drain, monkeypatch, allow_service
):
    from localcloud.lambda_ import ServiceError

    out_url = aws("sqs").create_queue(QueueName=name_for("retried"))["QueueUrl"]
    name = make_function(RECORDS_TO_SQS, env={"OUT": out_url})
    fn_arn = aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    real_invoke = cloud.lambdas.invoke
    failures = []

    def flaky_invoke(function, payload, **kwargs):
        if function == fn_arn and len(failures) < 4:
            failures.append(function)
            raise ServiceError("Lambda is unavailable")
        return real_invoke(function, payload, **kwargs)

    monkeypatch.setattr(cloud.lambdas, "invoke", flaky_invoke)
    sns = aws("sns")
    topic = sns.create_topic(Name=name_for("topic"))["TopicArn"]
    allow_service(name, "sns.amazonaws.com", topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)
    sns.publish(TopicArn=topic, Message="after retries")
    [message] = drain(aws("sqs"), out_url, expect=1)
    assert len(failures) == 4  # 3 immediate retries and one at 1 s (compressed) failed first
    assert json.loads(message["Body"])["Records"][0]["Sns"]["Message"] == "after retries"


def test_a_function_without_the_sns_grant_sends_the_message_to_the_subscription_dlq(
    aws, make_function, name_for, drain, allow_service, allow_queue
):
    # GIVEN a subscription with a DLQ to a function that grants another topic only
    dlq_url, dlq_arn = _queue(aws, name_for)
    out_url, _ = _queue(aws, name_for)
    name = make_function(RECORDS_TO_SQS, env={"OUT": out_url})
    fn_arn = aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sns = aws("sns")
    topic = sns.create_topic(Name=name_for("topic"))["TopicArn"]
    allow_service(name, "sns.amazonaws.com", topic + "-other")
    allow_queue(dlq_url, "sns.amazonaws.com", topic)
    sns.subscribe(
        TopicArn=topic,
        Protocol="lambda",
        Endpoint=fn_arn,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})},
    )
    # WHEN a message is published
    sns.publish(TopicArn=topic, Message=json.dumps({"id": "denied"}))
    # THEN SNS cannot deliver it (AccessDenied, a client error): it is in the DLQ, not run
    [dead] = drain(aws("sqs"), dlq_url, expect=1, timeout=30)
    assert json.loads(json.loads(dead["Body"])["Message"]) == {"id": "denied"}
    assert drain(aws("sqs"), out_url, expect=1, timeout=1) == []


def test_an_sqs_subscriber_without_the_queue_grant_gets_nothing_and_the_dlq_gets_it(
    aws, name_for, drain, allow_queue
):
    # GIVEN a topic with an SQS subscriber whose queue policy grants another topic only,
    # and a subscription DLQ that SNS may write to
    sqs, sns = aws("sqs"), aws("sns")
    target_url, target_arn = _queue(aws, name_for)
    dlq_url, dlq_arn = _queue(aws, name_for)
    topic = sns.create_topic(Name=name_for("topic"))["TopicArn"]
    allow_queue(target_url, "sns.amazonaws.com", topic + "-other")
    allow_queue(dlq_url, "sns.amazonaws.com", topic)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=target_arn,
        Attributes={
            "RawMessageDelivery": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn}),
        },
    )
    # WHEN a message is published
    sns.publish(TopicArn=topic, Message=json.dumps({"id": "no-grant"}))
    # THEN the queue gets nothing (AccessDenied, not retried) and the DLQ the notification
    [dead] = drain(sqs, dlq_url, expect=1, timeout=10)
    assert json.loads(json.loads(dead["Body"])["Message"]) == {"id": "no-grant"}
    assert drain(sqs, target_url, expect=1, timeout=0.5) == []
    # AND once the queue grants this topic, the next message arrives
    allow_queue(target_url, "sns.amazonaws.com", topic)
    sns.publish(TopicArn=topic, Message=json.dumps({"id": "granted"}))
    [got] = drain(sqs, target_url, expect=1, timeout=10)
    assert json.loads(got["Body"]) == {"id": "granted"}
