"""The alarm evaluator, SQS sampler, history and actions over moto's in-process backends.

A fake clock drives sampling and evaluation, so the test is exact and instant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud.cloudwatch.actions import TransitionRecorder
from localcloud.cloudwatch.evaluator import AlarmEvaluator
from localcloud.cloudwatch.history import AlarmHistory
from localcloud.cloudwatch.sqs_metrics import SqsMetricSampler
from localcloud.moto_reach import cloudwatch as cloudwatch_reach
from localcloud.moto_reach import sns as sns_reach
from localcloud.moto_reach import sqs as sqs_reach

REGION = "us-east-1"
T0 = 1_800_000_000.0  # a multiple of 10 s


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rig() -> Iterator[dict[str, Any]]:
    with mock_aws():
        cloudwatch_reach.patch_moto()
        history = AlarmHistory()
        account = "123456789012"

        def publish(topic: str, subject: str, message: str) -> str:
            return sns_reach.sns_publish(account, REGION, topic, subject, message)

        recorder = TransitionRecorder(history, publish)
        cloudwatch_reach.set_history_handler(history.describe)
        cloudwatch_reach.add_transition_listener(recorder.on_transition)
        cloudwatch_reach.add_put_listener(recorder.on_put)
        clock = Clock()
        try:
            yield {
                "clock": clock,
                "evaluator": AlarmEvaluator(clock=clock),
                "sampler": SqsMetricSampler(clock=clock),
                "sqs": boto3.client("sqs", region_name=REGION),
                "sns": boto3.client("sns", region_name=REGION),
                "cw": boto3.client("cloudwatch", region_name=REGION),
                "recorder": recorder,
            }
        finally:
            cloudwatch_reach.remove_transition_listener(recorder.on_transition)
            cloudwatch_reach.remove_put_listener(recorder.on_put)
            sqs_reach.take_sqs_counts()


def run(rig: dict[str, Any], until: float) -> None:
    """Sample every second and tick the evaluator every 0.1 s up to T0 + until."""
    clock: Clock = rig["clock"]
    while clock.now < T0 + until:
        clock.now = round(clock.now + 0.1, 3)
        if abs(clock.now - round(clock.now)) < 1e-6:
            rig["sampler"].sample()
        rig["evaluator"].tick(clock.now)


def state(rig: dict[str, Any], name: str) -> str:
    return rig["cw"].describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]


def test_dlq_alarm_lifecycle_history_and_notification(rig: dict[str, Any]) -> None:
    # GIVEN a DLQ, an alarm topic with a queue subscribed, and a one-message alarm
    sqs, sns, cw = rig["sqs"], rig["sns"], rig["cw"]
    dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    inbox = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    cw.put_metric_alarm(
        AlarmName="dlq-depth",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": "orders-dlq"}],
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[topic],
        OKActions=[topic],
    )
    # THEN it starts INSUFFICIENT_DATA (moto alone starts OK)
    assert state(rig, "dlq-depth") == "INSUFFICIENT_DATA"
    run(rig, 10.6)
    assert state(rig, "dlq-depth") == "OK"

    # WHEN one message lands at T0+12.3
    rig["clock"].now = T0 + 12.3
    sqs.send_message(QueueUrl=dlq, MessageBody="poison")
    run(rig, 19.9)
    assert state(rig, "dlq-depth") == "OK"  # the period [T0+10, T0+20) has not closed yet
    run(rig, 20.6)
    # THEN ALARM once its period closed, within the budget formula
    assert state(rig, "dlq-depth") == "ALARM"
    assert 20.6 - 12.3 <= rig["evaluator"].budget(10)

    # WHEN the queue drains
    message = sqs.receive_message(QueueUrl=dlq)["Messages"][0]
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    run(rig, 30.6)
    assert state(rig, "dlq-depth") == "ALARM"  # the drain period still held a 1
    run(rig, 40.6)
    assert state(rig, "dlq-depth") == "OK"
    assert 40.6 - 20.6 <= rig["evaluator"].budget(10, clearing=True)

    # THEN history has each transition with AWS's HistoryData, newest first
    items = cw.describe_alarm_history(AlarmName="dlq-depth", HistoryItemType="StateUpdate")[
        "AlarmHistoryItems"
    ]
    summaries = [i["HistorySummary"] for i in items]
    assert summaries == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
        "Alarm updated from INSUFFICIENT_DATA to OK",
    ]
    data = json.loads(items[1]["HistoryData"])
    assert data["oldState"]["stateValue"] == "OK"
    assert data["newState"]["stateValue"] == "ALARM"
    assert data["newState"]["stateReasonData"]["recentDatapoints"] == [1.0]
    actions = cw.describe_alarm_history(AlarmName="dlq-depth", HistoryItemType="Action")
    assert len(actions["AlarmHistoryItems"]) == 3  # OK, ALARM, OK each notified

    # AND the subscribed queue received AWS's notification JSON
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        bodies += [json.loads(json.loads(m["Body"])["Message"]) for m in got]
        for m in got:
            sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
    alarm_note = next(b for b in bodies if b["NewStateValue"] == "ALARM")
    assert alarm_note["OldStateValue"] == "OK"
    assert alarm_note["AlarmName"] == "dlq-depth"
    assert alarm_note["Trigger"]["Statistic"] == "MAXIMUM"
    assert alarm_note["Trigger"]["Dimensions"] == [{"value": "orders-dlq", "name": "QueueName"}]
    assert alarm_note["Region"] == "US East (N. Virginia)"


def test_sqs_metrics_readable_through_get_metric_statistics(rig: dict[str, Any]) -> None:
    sqs, cw = rig["sqs"], rig["cw"]
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    run(rig, 2.0)
    from datetime import UTC, datetime

    def stat(name: str, statistic: str) -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName=name,
            Dimensions=[{"Name": "QueueName", "Value": "work"}],
            StartTime=datetime.fromtimestamp(T0 - 60, UTC),
            EndTime=datetime.fromtimestamp(T0 + 60, UTC),
            Period=60,
            Statistics=[statistic],
        )["Datapoints"]
        return float(points[0][statistic])

    assert stat("NumberOfMessagesSent", "Sum") == 3
    assert stat("NumberOfMessagesReceived", "Sum") == 1
    assert stat("ApproximateNumberOfMessagesVisible", "Maximum") == 2
    assert stat("ApproximateNumberOfMessagesNotVisible", "Maximum") == 1


def test_put_metric_alarm_update_keeps_state(rig: dict[str, Any]) -> None:
    cw = rig["cw"]
    settings: dict[str, Any] = {
        "AlarmName": "keep",
        "Namespace": "Custom",
        "MetricName": "m",
        "Statistic": "Sum",
        "Period": 10,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cw.put_metric_alarm(**settings)
    cw.set_alarm_state(AlarmName="keep", StateValue="ALARM", StateReason="test")
    cw.put_metric_alarm(**{**settings, "Threshold": 2.0})
    assert state(rig, "keep") == "ALARM"
    # SetAlarmState lasts until the next evaluation: no data, treat missing -> INSUFFICIENT_DATA
    run(rig, 20.6)
    assert state(rig, "keep") == "INSUFFICIENT_DATA"


def test_emitted_metrics_readable_through_statistics_and_metric_data(rig: dict[str, Any]) -> None:
    from datetime import UTC, datetime, timedelta

    from localcloud.cloudwatch import metrics

    now = datetime.now(UTC)
    for value in (1.0, 0.0, 1.0):
        metrics.emit("AWS/Lambda", "Errors", value, {"FunctionName": "f"}, timestamp=now)
    window = {"StartTime": now - timedelta(minutes=1), "EndTime": now + timedelta(minutes=1)}
    points = rig["cw"].get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": "f"}],
        Period=60,
        Statistics=["Sum"],
        **window,
    )["Datapoints"]
    assert [p["Sum"] for p in points] == [2.0]
    result = rig["cw"].get_metric_data(
        MetricDataQueries=[
            {
                "Id": "e",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Errors",
                        "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        **window,
    )["MetricDataResults"][0]
    assert result["Values"] == [2.0]


def test_an_alarm_that_cannot_be_evaluated_does_not_stop_the_others(rig: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    cw = rig["cw"]
    stamp = datetime.fromtimestamp(T0 + 5, UTC)
    cw.put_metric_data(
        Namespace="C", MetricData=[{"MetricName": "m", "Value": 3.0, "Timestamp": stamp}]
    )
    common: dict[str, Any] = {
        "Namespace": "C",
        "MetricName": "m",
        "Period": 10,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cw.put_metric_alarm(AlarmName="bad", ExtendedStatistic="pxx", **common)
    cw.put_metric_alarm(AlarmName="good", Statistic="Maximum", **common)
    run(rig, 10.6)
    assert state(rig, "good") == "ALARM"
    assert state(rig, "bad") == "INSUFFICIENT_DATA"


def test_alarm_budget_formula() -> None:
    from localcloud.cloudwatch import alarm_budget

    assert alarm_budget(10) == pytest.approx(1 + 10 + 0.5 + 0.1)
    assert alarm_budget(10, clearing=True) == pytest.approx(1 + 20 + 0.6)
    assert alarm_budget(60, evaluation_periods=3, datapoints_to_alarm=2) == pytest.approx(121.6)
    assert alarm_budget(60, evaluation_periods=3, datapoints_to_alarm=2, clearing=True) == (
        pytest.approx(1 + 180 + 0.6)
    )
    assert alarm_budget(10, sample_interval=0) == pytest.approx(10.6)
