"""Alarm evaluation on the local cloud: DLQ alarm lifecycle, actions, M of N, missing data."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.local.helpers import unique, wait_for

# In-process: budgets from the alarm evaluator's own settings.
pytestmark = [pytest.mark.local, pytest.mark.in_process_cloud]

PERIOD = 10


def alarm_state(cw: Any, name: str) -> str:
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]


def test_dlq_alarm_fires_on_one_message_within_budget_and_clears_after_drain(
    cloud: Any, aws: Any, allow_queue: Any
) -> None:
    # GIVEN a DLQ, an alarm topic with an inbox queue subscribed, and the stack's DLQ alarm
    sqs, sns, cw = aws("sqs"), aws("sns"), aws("cloudwatch")
    dlq_name = unique("dlq")
    dlq = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
    inbox = sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name=unique("alarms"))["TopicArn"]
    allow_queue(inbox, "sns.amazonaws.com", topic)  # SNS delivers to a queue only with it
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    name = unique("dlq-alarm")
    # Early in a period, so the message is sampled before the alarm's first evaluation and
    # the alarm goes INSUFFICIENT_DATA -> ALARM directly (later, a first period holding only
    # zeros would make it OK first, rightly).
    wait_for(lambda: 0.2 < time.time() % PERIOD < 7, timeout=PERIOD, what="early in a period")
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": dlq_name}],
        Statistic="Maximum",
        Period=PERIOD,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        OKActions=[topic],
    )
    assert alarm_state(cw, name) == "INSUFFICIENT_DATA"
    budget = cloud.cloudwatch.budget(PERIOD)  # sample interval + period + grace + tick

    # WHEN one message lands in the DLQ
    sent_at = time.monotonic()
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"id": "e1"}))
    wait_for(lambda: alarm_state(cw, name) == "ALARM", timeout=budget + 1, what="ALARM")
    to_alarm = time.monotonic() - sent_at

    # THEN ALARM within budget; and after the queue drains, OK within one more period
    message = sqs.receive_message(QueueUrl=dlq)["Messages"][0]
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    drained_at = time.monotonic()
    clear = cloud.cloudwatch.budget(PERIOD, clearing=True)  # ... + 2 periods
    wait_for(lambda: alarm_state(cw, name) == "OK", timeout=clear + 1, what="OK")
    to_ok = time.monotonic() - drained_at
    print(
        f"\nDLQ alarm (period {PERIOD} s, 1 of 1): first message -> ALARM {to_alarm:.2f} s "
        f"(budget {budget:.2f} s); drained -> OK {to_ok:.2f} s (budget {clear:.2f} s)"
    )
    assert to_alarm <= budget
    assert to_ok <= clear

    # AND the inbox got both notifications in AWS's JSON, and history shows the transitions
    def notes() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=inbox, ReceiptHandle=m["ReceiptHandle"])
            seen.append(json.loads(json.loads(m["Body"])["Message"]))
        return [
            n
            for n in seen
            if n["AlarmName"] == name
            and n["NewStateValue"] == "OK"
            and n["OldStateValue"] == "ALARM"
        ]

    seen: list[dict[str, Any]] = []
    wait_for(notes, timeout=5, what="the OK notification")
    alarm_note = next(n for n in seen if n["NewStateValue"] == "ALARM")
    assert alarm_note["Trigger"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm_note["AlarmArn"].endswith(f":alarm:{name}")
    history = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
    summaries = [i["HistorySummary"] for i in history["AlarmHistoryItems"]]  # newest first
    assert summaries[0] == "Alarm updated from ALARM to OK"
    # Directly from INSUFFICIENT_DATA, or via OK when a loaded machine delivered the message
    # after the alarm's first period closed (a period of zeros is OK, as on AWS).
    assert summaries[1:] in (
        ["Alarm updated from INSUFFICIENT_DATA to ALARM"],
        ["Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK"],
    ), summaries


# The CloudWatch guide's tables (oldest datapoint first; 0 ok, X breaching, - missing),
# expected state per TreatMissingData; "keep" = the state before (a new alarm's INSUFFICIENT_DATA).
GUIDE = [
    ("0-X-X", 3, {"missing": "OK", "ignore": "OK", "breaching": "OK", "notBreaching": "OK"}),
    (
        "-----",
        3,
        {
            "missing": "INSUFFICIENT_DATA",
            "ignore": "keep",
            "breaching": "ALARM",
            "notBreaching": "OK",
        },
    ),
    (
        "--X--",
        3,
        {"missing": "ALARM", "ignore": "keep", "breaching": "ALARM", "notBreaching": "OK"},
    ),
    ("0-X--", 2, {"missing": "OK", "ignore": "OK", "breaching": "ALARM", "notBreaching": "OK"}),
    (
        "00X0X",
        2,
        {"missing": "ALARM", "ignore": "ALARM", "breaching": "ALARM", "notBreaching": "ALARM"},
    ),
]


def test_m_of_n_and_every_treat_missing_data_mode(cloud: Any, aws: Any) -> None:
    # GIVEN alarms (3 periods, M of 3) whose evaluation range will hold the guide's patterns
    cw = aws("cloudwatch")
    grace = cloud.cloudwatch.evaluator.grace
    # Leave room before the next boundary so every alarm is created and fed before it.
    wait_for(lambda: 0.3 < time.time() % PERIOD < 3, timeout=PERIOD, what="start of a period")
    boundary = math.ceil(time.time() / PERIOD) * PERIOD  # first evaluation of the new alarms
    namespace = unique("Guide")
    expected: dict[str, str] = {}
    for row, (points, m, outcomes) in enumerate(GUIDE):
        metric = f"row{row}"
        data = []
        for slot, symbol in enumerate(points):  # five slots end at `boundary`
            if symbol == "-":
                continue
            stamp = boundary - (len(points) - slot) * PERIOD + 5
            data.append(
                {
                    "MetricName": metric,
                    "Value": 5.0 if symbol == "X" else 0.0,
                    "Timestamp": datetime.fromtimestamp(stamp, UTC),
                }
            )
        if data:
            cw.put_metric_data(Namespace=namespace, MetricData=data)
        for treat, state in outcomes.items():
            name = unique(f"guide-{row}-{treat}")
            cw.put_metric_alarm(
                AlarmName=name,
                Namespace=namespace,
                MetricName=metric,
                Statistic="Maximum",
                Period=PERIOD,
                EvaluationPeriods=3,
                DatapointsToAlarm=m,
                Threshold=1,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
                TreatMissingData=treat,
            )
            expected[name] = "INSUFFICIENT_DATA" if state == "keep" else state
    assert time.time() < boundary, "setup overran the period boundary"

    # WHEN their first period closes and they are evaluated
    settle = boundary + grace + cloud.cloudwatch.evaluator.tick_seconds + 1.0
    wait_for(lambda: time.time() >= settle, timeout=PERIOD + 3, what="the first evaluation")

    # THEN each has the state the guide gives
    alarms = cw.describe_alarms(AlarmNames=list(expected))["MetricAlarms"]
    got = {a["AlarmName"]: a["StateValue"] for a in alarms}
    assert got == expected
