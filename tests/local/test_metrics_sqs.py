"""AWS/SQS metrics on the local cloud, read back through GetMetricStatistics and GetMetricData."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.local.helpers import unique, wait_for

# In-process: the SQS sampler's interval.
pytestmark = [pytest.mark.local, pytest.mark.in_process_cloud]


def test_queue_metrics_count_sends_receives_deletes_and_depth(cloud: Any, aws: Any) -> None:
    # GIVEN a queue that got 3 messages, of which 1 was received and deleted, 1 received
    sqs, cw = aws("sqs"), aws("cloudwatch")
    name = unique("metrics")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)
    dims = [{"Name": "QueueName", "Value": name}]
    window = {
        "StartTime": datetime.now(UTC) - timedelta(minutes=1),
        "EndTime": datetime.now(UTC) + timedelta(minutes=1),
    }

    def stat(metric: str, statistic: str) -> float | None:
        points = cw.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName=metric,
            Dimensions=dims,
            Period=120,
            Statistics=[statistic],
            **window,
        )["Datapoints"]
        return points[0][statistic] if points else None

    # THEN within a sample interval the counters and gauges show it (sampled every second)
    expected = {
        ("NumberOfMessagesSent", "Sum"): 3.0,
        ("NumberOfMessagesReceived", "Sum"): 2.0,
        ("NumberOfMessagesDeleted", "Sum"): 1.0,
    }
    wait_for(
        lambda: all(stat(m, s) == v for (m, s), v in expected.items()),
        timeout=3 * cloud.cloudwatch.sampler.interval + 1,
        what="SQS counters",
    )
    # the latest gauge samples: 1 visible, 1 in flight
    result = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": metric.lower(),
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/SQS", "MetricName": metric, "Dimensions": dims},
                    "Period": 1,
                    "Stat": "Maximum",
                },
            }
            for metric in (
                "ApproximateNumberOfMessagesVisible",
                "ApproximateNumberOfMessagesNotVisible",
            )
        ],
        ScanBy="TimestampDescending",
        **window,
    )["MetricDataResults"]
    latest = {r["Id"]: r["Values"][0] for r in result}
    assert latest == {
        "approximatenumberofmessagesvisible": 1.0,
        "approximatenumberofmessagesnotvisible": 1.0,
    }
    age = stat("ApproximateAgeOfOldestMessage", "Maximum")
    assert age is not None and 0 <= age < 60
