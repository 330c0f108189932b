"""Probes: each envelope kind parsed from crafted messages; DLQ peek/drain; ledger; alarms."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
from botocore.stub import Stubber

from chaos import probes
from chaos.stack import Stack
from tests.unit.chaos.chaos_unit_helpers import REGION, queue

EVENT = {"id": "e-1", "poison": True}


def msg(body: object, attrs: dict[str, str] | None = None, sent_ms: int = 1_700_000_000_000):
    return {
        "MessageId": "m-1",
        "Body": body if isinstance(body, str) else json.dumps(body),
        "Attributes": {"SentTimestamp": str(sent_ms)},
        "MessageAttributes": {
            k: {"StringValue": v, "DataType": "String"} for k, v in (attrs or {}).items()
        },
    }


def test_sqs_redrive_is_the_original_body() -> None:
    dl = probes.parse_message("sqs_redrive", "q", msg(EVENT))
    assert dl["event_id"] == "e-1"
    assert dl["payload"] == EVENT
    assert dl["sent_at"] == 1_700_000_000.0


def test_sqs_redrive_of_an_eventbridge_event_unwraps_detail() -> None:
    # The flow-controlled pipeline buffers EventBridge events in SQS: their own "id" is not ours.
    body = {"id": "eb-uuid", "detail-type": "x", "source": "s", "detail": EVENT}
    assert probes.parse_message("sqs_redrive", "q", msg(body))["event_id"] == "e-1"


def test_lambda_dlq_reads_the_three_attributes() -> None:
    sns_event = {"Records": [{"Sns": {"Message": json.dumps(EVENT)}}]}
    dl = probes.parse_message(
        "lambda_dlq",
        "q",
        msg(
            sns_event,
            {
                "RequestID": "req-9",
                "ErrorCode": "200",
                "ErrorMessage": "ProvisionedThroughputExceeded",
            },
        ),
    )
    assert (dl["event_id"], dl["request_id"], dl["error_code"]) == ("e-1", "req-9", "200")
    assert dl["error_message"] == "ProvisionedThroughputExceeded"


def test_destination_record_condition_and_invoke_count() -> None:
    record = {
        "version": "1.0",
        "timestamp": "2026-11-22T00:00:00.000Z",
        "requestContext": {
            "requestId": "r",
            "functionArn": "arn:f",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": EVENT,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {"errorMessage": "boom", "errorType": "InjectedFailure"},
    }
    dl = probes.parse_message("destination", "q", msg(record))
    assert dl["event_id"] == "e-1"
    assert dl["condition"] == "RetriesExhausted"
    assert dl["approximate_invoke_count"] == 3
    assert (dl["error_code"], dl["error_message"]) == ("Unhandled", "boom")


def test_eventbridge_target_dlq_attributes() -> None:
    event = {"id": "eb", "detail-type": "t", "source": "s", "detail": EVENT}
    dl = probes.parse_message(
        "eventbridge_dlq",
        "q",
        msg(
            event,
            {
                "ERROR_CODE": "SDK_CLIENT_ERROR",
                "ERROR_MESSAGE": "throttled",
                "RULE_ARN": "arn:rule",
                "TARGET_ARN": "arn:target",
                "RETRY_ATTEMPTS": "185",
            },
        ),
    )
    assert dl["event_id"] == "e-1"
    assert (dl["rule_arn"], dl["target_arn"], dl["retry_attempts"]) == (
        "arn:rule",
        "arn:target",
        185,
    )
    assert dl["error_code"] == "SDK_CLIENT_ERROR"


def test_sns_subscription_dlq_envelope() -> None:
    envelope = {"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps(EVENT)}
    assert probes.parse_message("sns_dlq", "q", msg(envelope))["event_id"] == "e-1"


def test_failure_record_error_and_cause() -> None:
    body = {
        "id": "e-1",
        "error": {"Error": "InjectedFailure", "Cause": json.dumps({"errorMessage": "injected"})},
    }
    dl = probes.parse_message("failure_record", "q", msg(body))
    assert (dl["event_id"], dl["error_code"], dl["error_message"]) == (
        "e-1",
        "InjectedFailure",
        "injected",
    )


def test_body_without_id_yields_none_not_a_guess() -> None:
    assert probes.parse_message("sqs_redrive", "q", msg("not json"))["event_id"] is None
    assert probes.parse_message("sqs_redrive", "q", msg({"no": "id"}))["event_id"] is None


def test_kinesis_pointer_resolves_back_to_the_records(stack: Stack) -> None:
    # GIVEN a stream with 5 records, and an OnFailure record pointing at the 2nd..4th
    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName="s", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="s")["StreamDescription"]["StreamARN"]
    seqs = [
        kinesis.put_record(
            StreamName="s", Data=json.dumps({"id": f"k{i}"}).encode(), PartitionKey="p"
        )["SequenceNumber"]
        for i in range(5)
    ]
    shard = kinesis.describe_stream(StreamName="s")["StreamDescription"]["Shards"][0]["ShardId"]
    record = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 4},
        "KinesisBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": seqs[1],
            "endSequenceNumber": seqs[3],
            "batchSize": 3,
            "streamArn": arn,
        },
    }
    # WHEN the envelope is parsed and resolved
    dl = probes.parse_message("kinesis_on_failure", "q", msg(record))
    resolved = probes.resolve_kinesis(stack, dl)
    # THEN exactly the pointed-at records come back, each with its id
    assert dl["pointer"] and dl["event_id"] is None
    assert [r["event_id"] for r in resolved] == ["k1", "k2", "k3"]
    assert all(r["condition"] == "RetryAttemptsExhausted" for r in resolved)


def test_peek_leaves_messages_and_drain_records_them(stack: Stack, tmp_path) -> None:
    url = queue("dlq")
    sqs = boto3.client("sqs", region_name=REGION)
    for i in range(13):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": f"d{i}"}))
    first = probes.read_dead_letters(stack, "sqs_redrive", url)
    second = probes.read_dead_letters(stack, "sqs_redrive", url)
    assert sorted(d["event_id"] for d in first) == sorted(f"d{i}" for i in range(13))
    assert len(second) == 13, "a peek must leave every message in the queue"
    drained = probes.drain_queue(stack, url, tmp_path / "dlq.jsonl")
    assert len(drained) == 13
    assert probes.queue_depth(stack, url) == 0
    lines = (tmp_path / "dlq.jsonl").read_text().splitlines()
    assert len(lines) == 13 and "ReceiptHandle" not in lines[0]


def test_ledger_reads_ids_with_counts(stack: Stack) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="ledger",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "pattern", "KeyType": "HASH"},
            {"AttributeName": "event_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pattern", "AttributeType": "S"},
            {"AttributeName": "event_id", "AttributeType": "S"},
        ],
    )
    for pattern, event_id, count in (("qw", "a", 1), ("qw", "b", 2), ("other", "c", 1)):
        ddb.put_item(
            TableName="ledger",
            Item={
                "pattern": {"S": pattern},
                "event_id": {"S": event_id},
                "count": {"N": str(count)},
            },
        )
    assert probes.ledger(stack, "ledger", "qw") == {"a": 1, "b": 2}


def test_alarm_state_and_history(stack: Stack) -> None:
    cw = stack.client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName="dlq",
        MetricName="ApproximateNumberOfMessagesVisible",
        Namespace="AWS/SQS",
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=2,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cw.set_alarm_state(AlarmName="dlq", StateValue="ALARM", StateReason="test")
    got = probes.alarms(stack, ["dlq"])["dlq"]
    assert (got["state"], got["period"], got["evaluation_periods"]) == ("ALARM", 10, 2)
    # moto 5.2.5 has no DescribeAlarmHistory (the local cloud adds it): stub the wire answer.
    item = {
        "AlarmName": "dlq",
        "HistoryItemType": "StateUpdate",
        "HistorySummary": "s",
        "HistoryData": json.dumps(
            {"oldState": {"stateValue": "OK"}, "newState": {"stateValue": "ALARM"}}
        ),
    }
    with Stubber(cw) as stub:
        stub.add_response(
            "describe_alarm_history",
            {
                "AlarmHistoryItems": [
                    {**item, "Timestamp": datetime(2026, 11, 22, 0, 0, 5, tzinfo=UTC)}
                ],
                "NextToken": "n",
            },
        )
        stub.add_response(
            "describe_alarm_history",
            {
                "AlarmHistoryItems": [
                    {
                        **item,
                        "Timestamp": datetime(2026, 11, 22, 0, 0, 1, tzinfo=UTC),
                        "HistoryData": json.dumps(
                            {
                                "oldState": {"stateValue": "INSUFFICIENT_DATA"},
                                "newState": {"stateValue": "OK"},
                            }
                        ),
                    }
                ]
            },
        )
        history = probes.alarm_history(stack, "dlq")
    assert [(t["old"], t["new"]) for t in history] == [("INSUFFICIENT_DATA", "OK"), ("OK", "ALARM")]


def test_history_item_parsing() -> None:
    item = {
        "Timestamp": datetime(2026, 11, 22, tzinfo=UTC),
        "HistoryData": json.dumps(
            {"oldState": {"stateValue": "OK"}, "newState": {"stateValue": "ALARM"}}
        ),
    }
    t = probes.parse_history_item("a", item)
    assert (t["old"], t["new"], t["at"]) == (
        "OK",
        "ALARM",
        datetime(2026, 11, 22, tzinfo=UTC).timestamp(),
    )


def test_failure_record_as_the_compensation_writes_it() -> None:
    body = {
        "id": "e-1",
        "error": "PoisonEventError",
        "cause": "{}",
        "cause_detail": {"errorMessage": "payload is marked poison", "errorType": "P"},
        "input": EVENT,
        "recorded_at": "2026-11-22T22:10:42+00:00",
    }
    dl = probes.parse_message("failure_record", "q", msg(body))
    assert (dl["event_id"], dl["error_code"]) == ("e-1", "PoisonEventError")
    assert dl["error_message"] == "payload is marked poison"


def test_alarms_report_the_watched_queue_and_actions(stack: Stack) -> None:
    # GIVEN a DLQ alarm on queue "app-dlq" notifying a topic
    cw = stack.client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName="dlq",
        MetricName="ApproximateNumberOfMessagesVisible",
        Namespace="AWS/SQS",
        Dimensions=[{"Name": "QueueName", "Value": "app-dlq"}],
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=["arn:aws:sns:us-east-1:123456789012:alarms"],
    )
    # WHEN probed
    got = probes.alarms(stack, ["dlq"])["dlq"]
    # THEN what the watches verdict compares is there, as DescribeAlarms says it
    assert got["namespace"] == "AWS/SQS"
    assert got["metric"] == "ApproximateNumberOfMessagesVisible"
    assert got["dimensions"] == {"QueueName": "app-dlq"}
    assert got["comparison"] == "GreaterThanOrEqualToThreshold"
    assert got["alarm_actions"] == ["arn:aws:sns:us-east-1:123456789012:alarms"]


def test_a_dlq_message_carries_its_receive_count() -> None:
    message = {
        "MessageId": "m1",
        "Body": json.dumps({"id": "e1"}),
        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1000"},
    }
    dl = probes.parse_message("sqs_redrive", "q", message)
    assert (dl["event_id"], dl["receive_count"]) == ("e1", 3)
