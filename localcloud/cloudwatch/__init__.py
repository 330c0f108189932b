"""CloudWatch additions: alarm evaluation, history, actions, and AWS/SQS metrics.

`install(cloud)` (listed in localcloud/extensions.py) wires them into a running
LocalCloud: moto patches (alarms start INSUFFICIENT_DATA, DescribeAlarmHistory,
SQS counters), the evaluator, the SQS sampler and the action worker.
"""

from __future__ import annotations

import threading
from typing import Any

from localcloud.cloudwatch.actions import TransitionRecorder
from localcloud.cloudwatch.evaluator import AlarmEvaluator, alarm_budget
from localcloud.cloudwatch.history import AlarmHistory
from localcloud.cloudwatch.sqs_metrics import SqsMetricSampler
from localcloud.moto_reach import cloudwatch as cloudwatch_reach

__all__ = [
    "AlarmEvaluator",
    "AlarmHistory",
    "CloudWatchService",
    "SqsMetricSampler",
    "TransitionRecorder",
    "alarm_budget",
    "install",
]


class CloudWatchService:
    """The evaluator, the SQS sampler and the action worker, started and stopped together."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.history = AlarmHistory()
        self.recorder = TransitionRecorder(self.history, self._publish)
        self.evaluator = AlarmEvaluator(lock=cloud.lock)
        self.sampler = SqsMetricSampler(lock=cloud.lock)
        self._sns: Any = None
        self._sns_lock = threading.Lock()

    def _publish(self, topic_arn: str, subject: str, message: str) -> str:
        # Through the endpoint, as CloudWatch calls SNS, so SNS delivery extensions see it.
        with self._sns_lock:
            if self._sns is None:
                self._sns = self.cloud.internal_client("sns")
        response = self._sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)
        return str(response["MessageId"])

    def start(self) -> None:
        cloudwatch_reach.patch_moto()
        cloudwatch_reach.set_history_handler(self.history.describe)
        cloudwatch_reach.add_transition_listener(self.recorder.on_transition)
        cloudwatch_reach.add_put_listener(self.recorder.on_put)
        self.recorder.start()
        self.sampler.start()
        self.evaluator.start()

    def stop(self) -> None:
        self.evaluator.stop()
        self.sampler.stop()
        cloudwatch_reach.remove_transition_listener(self.recorder.on_transition)
        cloudwatch_reach.remove_put_listener(self.recorder.on_put)
        self.recorder.stop()

    def budget(self, period: float, **kwargs: Any) -> float:
        """Worst-case seconds from an SQS change to the alarm's new state (see alarm_budget)."""
        return self.evaluator.budget(period, self.sampler.interval, **kwargs)


def install(cloud: Any) -> CloudWatchService:
    cloudwatch_reach.patch_moto()
    service = CloudWatchService(cloud)
    cloud.add_service(service)
    cloud.cloudwatch = service
    return service
