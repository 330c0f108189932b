"""EventBridge rule -> target conformance: SQS, Lambda, SNS, Step Functions, retries, DLQ."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from tests.local.helpers import RECORDER

pytestmark = pytest.mark.local


ANY_RULE = "arn:aws:events:us-east-1:123456789012:rule/*"


@pytest.fixture
def queue(aws, name_for, allow_queue) -> Any:  # type: ignore[no-untyped-def]
    sqs = aws("sqs")

    def make(prefix: str, *, grant: bool = True) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name_for(prefix))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        if grant:  # EventBridge writes to a target or a DLQ only with the queue's grant
            allow_queue(url, "events.amazonaws.com", ANY_RULE)
        return url, arn["Attributes"]["QueueArn"]

    return make


@pytest.fixture
def rule(aws, name_for) -> Any:  # type: ignore[no-untyped-def]
    events = aws("events")

    def make(targets: list[dict[str, Any]], pattern: dict[str, Any] | None = None) -> str:
        source = name_for("app")
        name = name_for("rule")
        events.put_rule(Name=name, EventPattern=json.dumps(pattern or {"source": [source]}))
        events.put_targets(Rule=name, Targets=targets)
        return source

    return make


def put_event(aws: Any, source: str, detail: dict[str, Any]) -> None:
    answer = aws("events").put_events(
        Entries=[{"Source": source, "DetailType": "test", "Detail": json.dumps(detail)}]
    )
    assert answer["FailedEntryCount"] == 0


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}


def test_rule_to_sqs_target_delivers_matching_events_only(aws, queue, rule, drain):
    sqs = aws("sqs")
    url, arn = queue("target")
    source = rule([{"Id": "q", "Arn": arn}])
    put_event(aws, source, {"id": "e-1"})
    put_event(aws, "someone-else", {"id": "e-2"})
    (message,) = drain(sqs, url, expect=1, timeout=10)
    event = json.loads(message["Body"])
    assert event["detail"] == {"id": "e-1"} and event["source"] == source
    assert event["detail-type"] == "test" and event["version"] == "0"
    assert event["time"].endswith("Z") and "ingestion-time" not in event
    assert drain(sqs, url, expect=1, timeout=1) == []


def test_rule_to_lambda_target_invokes_asynchronously(
    aws, queue, rule, make_function, drain, allow_service
):
    sqs = aws("sqs")
    seen_url, _ = queue("seen")
    fn = make_function(RECORDER, env={"SEEN_URL": seen_url})
    allow_service(fn, "events.amazonaws.com", ANY_RULE)
    fn_arn = aws("lambda").get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    source = rule([{"Id": "fn", "Arn": fn_arn, "InputPath": "$.detail"}])
    put_event(aws, source, {"id": "e-lambda"})
    (message,) = drain(sqs, seen_url, expect=1, timeout=15)
    assert json.loads(message["Body"]) == {"id": "e-lambda"}


def test_rule_to_sns_and_step_functions_targets(
    aws, queue, rule, drain, poll, name_for, allow_queue
):
    sqs, sns, sfn = aws("sqs"), aws("sns"), aws("stepfunctions")
    sub_url, sub_arn = queue("sns-sub")
    topic = sns.create_topic(Name=name_for("topic"))["TopicArn"]
    allow_queue(sub_url, "sns.amazonaws.com", topic)
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=sub_arn, Attributes={"RawMessageDelivery": "true"}
    )
    machine = sfn.create_state_machine(
        name=name_for("sm"),
        roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps(
            {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        ),
    )["stateMachineArn"]
    source = rule(
        [
            {"Id": "topic", "Arn": topic, "InputPath": "$.detail"},
            {"Id": "sm", "Arn": machine, "InputPath": "$.detail"},
        ]
    )
    put_event(aws, source, {"id": "e-fan"})
    (message,) = drain(sqs, sub_url, expect=1, timeout=10)
    assert json.loads(message["Body"]) == {"id": "e-fan"}
    executions = poll(
        lambda: sfn.list_executions(stateMachineArn=machine)["executions"],
        timeout=10,
        what="a state machine execution",
    )
    described = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(described["input"]) == {"id": "e-fan"}


def test_undeliverable_target_goes_to_its_dlq_at_once(aws, queue, rule, drain):
    # GIVEN a target queue that does not exist, and a DLQ on the target
    sqs = aws("sqs")
    dlq_url, dlq_arn = queue("eb-dlq")
    missing = dlq_arn.rsplit(":", 1)[0] + ":no-such-queue"
    source = rule([{"Id": "gone", "Arn": missing, "DeadLetterConfig": {"Arn": dlq_arn}}])
    put_event(aws, source, {"id": "e-lost"})
    # THEN the event lands in the DLQ without retries, with EventBridge's attributes
    (message,) = drain(sqs, dlq_url, expect=1, timeout=10)
    assert json.loads(message["Body"])["detail"] == {"id": "e-lost"}
    attrs = attributes(message)
    assert attrs["ERROR_CODE"] == "NO_RESOURCE" and attrs["RETRY_ATTEMPTS"] == "0"
    assert attrs["TARGET_ARN"] == missing and ":rule/" in attrs["RULE_ARN"]
    assert attrs["ERROR_MESSAGE"] and "EXHAUSTED_RETRY_CONDITION" not in attrs


@pytest.mark.in_process_cloud  # adds an interceptor
def test_throttled_target_is_retried_then_dead_lettered(cloud, aws, queue, rule, drain):
    # GIVEN a target queue whose SendMessage is throttled (an interceptor plays SQS's throttle)
    sqs = aws("sqs")
    target_url, target_arn = queue("throttled")
    dlq_url, dlq_arn = queue("eb-dlq")
    throttled_name = target_url.rsplit("/", 1)[1]
    attempts: list[float] = []

    def throttle(request: Request) -> Response | None:
        if request.headers.get("X-Amz-Target") != "AmazonSQS.SendMessage":
            return None
        if (
            not json.loads(request.get_data() or b"{}")
            .get("QueueUrl", "")
            .endswith("/" + throttled_name)
        ):
            return None
        attempts.append(time.monotonic())
        return Response(
            json.dumps(
                {"__type": "com.amazonaws.sqs#RequestThrottled", "message": "Request is throttled."}
            ),
            status=400,
            content_type="application/x-amz-json-1.0",
            headers={"x-amzn-query-error": "RequestThrottled;Sender"},
        )

    cloud.add_interceptor(throttle)
    source = rule(
        [
            {
                "Id": "busy",
                "Arn": target_arn,
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
            }
        ]
    )
    put_event(aws, source, {"id": "e-busy"})
    # THEN 1 + 2 attempts were made, then the DLQ got the event, naming the exhausted limit
    (message,) = drain(sqs, dlq_url, expect=1, timeout=20)
    attrs = attributes(message)
    assert len(attempts) == 3
    assert attrs["ERROR_CODE"] == "THROTTLING" and attrs["RETRY_ATTEMPTS"] == "2"
    assert attrs["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert json.loads(message["Body"])["detail"] == {"id": "e-busy"}
    assert drain(sqs, target_url, expect=1, timeout=0.5) == []


def test_log_group_target_keeps_motos_delivery(aws, rule, poll, name_for):
    logs = aws("logs")
    group = name_for("/events/group")
    logs.create_log_group(logGroupName=group)
    source = rule([{"Id": "logs", "Arn": f"arn:aws:logs:us-east-1:123456789012:log-group:{group}"}])
    put_event(aws, source, {"id": "e-log"})
    found = poll(
        lambda: logs.filter_log_events(logGroupName=group)["events"],
        timeout=5,
        what="the event in the log group",
    )
    assert json.loads(found[0]["message"])["detail"] == {"id": "e-log"}


def test_missing_lambda_target_goes_to_the_dlq(aws, queue, rule, drain):
    sqs = aws("sqs")
    dlq_url, dlq_arn = queue("eb-dlq")
    missing = "arn:aws:lambda:us-east-1:123456789012:function:no-such-function"
    source = rule([{"Id": "fn", "Arn": missing, "DeadLetterConfig": {"Arn": dlq_arn}}])
    put_event(aws, source, {"id": "e-nofn"})
    (message,) = drain(sqs, dlq_url, expect=1, timeout=10)
    attrs = attributes(message)
    assert attrs["ERROR_CODE"] == "NO_RESOURCE" and attrs["TARGET_ARN"] == missing
    assert attrs["RETRY_ATTEMPTS"] == "0"


def test_lambda_target_without_a_grant_goes_to_the_dlq_as_no_permissions(
    aws, queue, rule, make_function, drain, allow_service
):
    # GIVEN a function whose resource policy lets SNS in, but not EventBridge
    sqs = aws("sqs")
    seen_url, _ = queue("seen")
    dlq_url, dlq_arn = queue("eb-dlq")
    fn = make_function(RECORDER, env={"SEEN_URL": seen_url})
    allow_service(fn, "sns.amazonaws.com", "arn:aws:sns:us-east-1:123456789012:*")
    fn_arn = aws("lambda").get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    # WHEN a rule targets it with a DLQ and an event matches
    source = rule(
        [
            {
                "Id": "fn",
                "Arn": fn_arn,
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumRetryAttempts": 3},
            }
        ]
    )
    put_event(aws, source, {"id": "e-denied"})
    # THEN EventBridge sends it to the target DLQ at once (not retried), and the function
    # never ran
    (message,) = drain(sqs, dlq_url, expect=1, timeout=10)
    attrs = attributes(message)
    assert attrs["ERROR_CODE"] == "NO_PERMISSIONS" and attrs["TARGET_ARN"] == fn_arn
    assert attrs["RETRY_ATTEMPTS"] == "0"
    assert drain(sqs, seen_url, expect=1, timeout=1) == []


def test_sqs_target_and_dlq_need_the_queue_policy_grant(aws, queue, rule, drain):
    # GIVEN a target queue whose policy does not let EventBridge in, and a DLQ that does
    sqs = aws("sqs")
    target_url, target_arn = queue("no-grant", grant=False)
    dlq_url, dlq_arn = queue("eb-dlq")
    source = rule([{"Id": "q", "Arn": target_arn, "DeadLetterConfig": {"Arn": dlq_arn}}])
    # WHEN an event matches
    put_event(aws, source, {"id": "e-no-grant"})
    # THEN it goes to the DLQ at once as NO_PERMISSIONS, and never reaches the target
    (message,) = drain(sqs, dlq_url, expect=1, timeout=10)
    attrs = attributes(message)
    assert attrs["ERROR_CODE"] == "NO_PERMISSIONS" and attrs["RETRY_ATTEMPTS"] == "0"
    assert drain(sqs, target_url, expect=1, timeout=0.5) == []


def test_a_dlq_without_the_grant_loses_the_event(aws, queue, rule, drain):
    # GIVEN a missing target and a DLQ whose policy does not let EventBridge in
    sqs = aws("sqs")
    dlq_url, dlq_arn = queue("eb-dlq", grant=False)
    missing = dlq_arn.rsplit(":", 1)[0] + ":no-such-queue"
    source = rule([{"Id": "gone", "Arn": missing, "DeadLetterConfig": {"Arn": dlq_arn}}])
    # WHEN an event matches THEN AWS drops it (InvocationsFailedToBeSentToDlq): DLQ empty
    put_event(aws, source, {"id": "e-dropped"})
    assert drain(sqs, dlq_url, expect=1, timeout=3) == []
