"""Alarm transitions: the history item and the actions (SNS notification) AWS runs.

A transition can happen while the cloud's moto lock is held (SetAlarmState is
answered inside it), and publishing goes back through the endpoint, so the
notifications are sent from a worker thread, never from the transition itself.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localcloud.cloudwatch.history import AlarmHistory, iso
from localcloud.moto_reach import cloudwatch as cloudwatch_reach

logger = logging.getLogger(__name__)

# (topic_arn, subject, message) -> message id
Publish = Callable[[str, str, str], str]

REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}
SUBJECT_LIMIT = 100  # SNS Subject maximum; CloudWatch truncates longer alarm names


def _stamp(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return iso(value)
    return str(value)


def trigger(alarm: Any) -> dict[str, Any]:
    """The Trigger object of AWS's alarm notification."""
    body: dict[str, Any] = {
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        "StatisticType": "ExtendedStatistic" if alarm.extended_statistic else "Statistic",
        "Unit": alarm.unit,
        "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
        "Period": int(alarm.period or 0),
        "EvaluationPeriods": int(alarm.evaluation_periods),
        "DatapointsToAlarm": int(alarm.datapoints_to_alarm or alarm.evaluation_periods),
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": float(alarm.threshold) if alarm.threshold is not None else None,
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    }
    if alarm.extended_statistic:
        body["ExtendedStatistic"] = alarm.extended_statistic
    else:
        body["Statistic"] = (alarm.statistic or "").upper()
    return body


def notification(alarm: Any, old_state: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an SNS topic on a transition."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": cloudwatch_reach.alarm_account(alarm),
        "AlarmConfigurationUpdatedTimestamp": _stamp(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _stamp(alarm.state_updated_timestamp),
        "Region": REGION_NAMES.get(alarm.region_name, alarm.region_name),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": trigger(alarm),
    }


def subject(alarm: Any) -> str:
    region = REGION_NAMES.get(alarm.region_name, alarm.region_name)
    text = f'{alarm.state_value}: "{alarm.name}" in {region}'
    return text[:SUBJECT_LIMIT]


def actions_for(alarm: Any) -> list[str]:
    if not alarm.actions_enabled:
        return []
    return list(
        {
            "ALARM": alarm.alarm_actions,
            "OK": alarm.ok_actions,
            "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
        }.get(alarm.state_value, [])
    )


class TransitionRecorder:
    """Listener on every alarm state change: history now, actions on a worker thread."""

    def __init__(self, history: AlarmHistory, publish: Publish) -> None:
        self.history = history
        self.publish = publish
        self._jobs: queue.Queue[tuple[Any, str, dict[str, Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.delivered = 0

    # -- listener ----------------------------------------------------------------------
    def on_transition(self, alarm: Any, old_state: str, old_reason: str) -> None:
        account = cloudwatch_reach.alarm_account(alarm)
        try:
            reason_data = json.loads(alarm.state_reason_data or "{}")
        except ValueError:
            reason_data = {}
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old_state, "stateReason": old_reason},
            "newState": {
                "stateValue": alarm.state_value,
                "stateReason": alarm.state_reason,
                "stateReasonData": reason_data,
            },
        }
        self.history.record(
            account,
            alarm.region_name,
            alarm.name,
            "StateUpdate",
            f"Alarm updated from {old_state} to {alarm.state_value}",
            data,
        )
        message = notification(alarm, old_state)
        for action in actions_for(alarm):
            self._jobs.put((alarm, action, message))
        if self._thread is None:  # no worker (unit use): deliver inline
            self.drain()

    def on_put(self, alarm: Any, created: bool) -> None:
        kind = "Create" if created else "Update"
        self.history.record(
            cloudwatch_reach.alarm_account(alarm),
            alarm.region_name,
            alarm.name,
            "ConfigurationUpdate",
            f'Alarm "{alarm.name}" {"created" if created else "updated"}',
            {"type": kind, "version": "1.0"},
        )

    # -- worker --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="alarm-actions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._deliver(*job)

    def drain(self) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self._deliver(*job)

    def _deliver(self, alarm: Any, action: str, message: dict[str, Any]) -> None:
        account = cloudwatch_reach.alarm_account(alarm)
        if not action.startswith("arn:aws:sns:"):
            # EC2, Auto Scaling, Systems Manager and Lambda actions are not modelled.
            self.history.record(
                account,
                alarm.region_name,
                alarm.name,
                "Action",
                f"Failed to execute action {action}. Received error: "
                "the local cloud runs SNS alarm actions only",
                {"actionState": "Failed", "notificationResource": action},
            )
            logger.warning("alarm %s: action %s is not supported locally", alarm.name, action)
            return
        try:
            message_id = self.publish(action, subject(alarm), json.dumps(message))
        except Exception as exc:
            logger.warning("alarm %s: publishing to %s failed: %s", alarm.name, action, exc)
            self.history.record(
                account,
                alarm.region_name,
                alarm.name,
                "Action",
                f"Failed to execute action {action}. Received error: {exc}",
                {"actionState": "Failed", "notificationResource": action, "error": str(exc)},
            )
            return
        self.delivered += 1
        self.history.record(
            account,
            alarm.region_name,
            alarm.name,
            "Action",
            f"Successfully executed action {action}",
            {
                "actionState": "Succeeded",
                "stateUpdateTimestamp": message["StateChangeTime"],
                "notificationResource": action,
                "publishedMessage": {"messageId": message_id},
            },
        )
