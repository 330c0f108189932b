"""Probes: read only, return plain values (DeadLetter dicts, counts, alarm transitions).

DLQs are read without consuming them: a peek receives every message with a short visibility
timeout, then sets each visibility back to 0 so it is visible again at once. At the end of an
experiment the runner drains its queues into the run's directory (`drain`), so the next
experiment starts from empty queues and nothing leaves a DLQ unrecorded.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from chaos.envelopes import event_id_of, loads_json, parse_message, unwrap_event
from chaos.errors import aws_call
from chaos.stack import Stack
from chaos.types import AlarmTransition, DeadLetter, KinesisPointer
from components.outputs import Envelope

__all__ = [
    "alarm_history",
    "alarms",
    "drain_queue",
    "event_id_of",
    "function_env",
    "ledger",
    "local_cloud_info",
    "metric_points",
    "parse_history_item",
    "parse_message",
    "peek_queue",
    "queue_depth",
    "read_dead_letters",
    "resolve_kinesis",
    "task_attempts",
    "unwrap_event",
]
logger = logging.getLogger(__name__)

PEEK_VISIBILITY = 30
# Short polling samples a subset of SQS hosts: an empty answer is only believed twice in a row.
EMPTY_RECEIVES_TO_STOP = 2


def resolve_kinesis(stack: Stack, dl: DeadLetter) -> list[DeadLetter]:
    """The records an OnFailure pointer names, read back from the stream (before retention ends)."""
    pointer: KinesisPointer | None = dl.get("pointer")
    if not pointer:
        return [dl]
    kinesis = stack.client("kinesis")
    where = f"stream {pointer['stream_arn']} shard {pointer['shard_id']}"
    with aws_call(where, "kinesis:GetShardIterator"):
        iterator = kinesis.get_shard_iterator(
            # By name: moto 5.2.5 loses the stream when the iterator is asked for by ARN.
            StreamName=pointer["stream_arn"].rsplit("/", 1)[-1],
            ShardId=pointer["shard_id"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=pointer["start_sequence_number"],
        )["ShardIterator"]
    end = int(pointer["end_sequence_number"])
    found: list[DeadLetter] = []
    empty_polls = 0
    while iterator:
        with aws_call(where, "kinesis:GetRecords"):
            resp = kinesis.get_records(ShardIterator=iterator, Limit=max(pointer["batch_size"], 10))
        records = resp.get("Records", [])
        for rec in records:
            if int(rec["SequenceNumber"]) > end:
                return found
            data = rec["Data"].decode() if isinstance(rec["Data"], bytes) else rec["Data"]
            one: DeadLetter = {**dl, "payload": loads_json(data), "event_id": event_id_of(data)}
            found.append(one)
        if not records:
            empty_polls += 1
            # An empty page at the tip means the pointer ran past the stream's end.
            if resp.get("MillisBehindLatest", 0) == 0 or empty_polls > 5:
                break
        iterator = resp.get("NextShardIterator")
    return found


def _receive_all(stack: Stack, queue_url: str, visibility: int) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    empty = 0
    while empty < EMPTY_RECEIVES_TO_STOP:
        with aws_call(queue_url, "sqs:ReceiveMessage"):
            resp = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=visibility,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        batch = resp.get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        empty = 0 if fresh else empty + 1
        for m in fresh:
            seen[m["MessageId"]] = m
    return list(seen.values())


def peek_queue(stack: Stack, queue_url: str) -> list[dict[str, Any]]:
    """Every message in the queue, left in place (visible again as soon as we are done)."""
    messages = _receive_all(stack, queue_url, PEEK_VISIBILITY)
    sqs = stack.client("sqs")
    for i in range(0, len(messages), 10):
        chunk = messages[i : i + 10]
        with aws_call(queue_url, "sqs:ChangeMessageVisibilityBatch"):
            resp = sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(chunk)
                ],
            )
        if resp.get("Failed"):
            # Not fatal (they reappear after PEEK_VISIBILITY), but a consumer would wait for them.
            logger.warning(
                "%s: %d peeked messages stay hidden for up to %ds: %s",
                queue_url,
                len(resp["Failed"]),
                PEEK_VISIBILITY,
                resp["Failed"][:3],
            )
    return messages


def drain_queue(
    stack: Stack, queue_url: str, record_to: Path | None = None
) -> list[dict[str, Any]]:
    """Remove every message, appending each to `record_to` (JSON lines) first."""
    messages = _receive_all(stack, queue_url, PEEK_VISIBILITY)
    if record_to is not None and messages:
        record_to.parent.mkdir(parents=True, exist_ok=True)
        with record_to.open("a") as fh:
            for m in messages:
                fh.write(
                    json.dumps(
                        {
                            "queue_url": queue_url,
                            **{k: v for k, v in m.items() if k != "ReceiptHandle"},
                        }
                    )
                    + "\n"
                )
    sqs = stack.client("sqs")
    for i in range(0, len(messages), 10):
        chunk = messages[i : i + 10]
        with aws_call(queue_url, "sqs:DeleteMessageBatch"):
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)
                ],
            )
    return messages


def read_dead_letters(stack: Stack, envelope: Envelope, queue_url: str) -> list[DeadLetter]:
    out: list[DeadLetter] = []
    for message in peek_queue(stack, queue_url):
        dl = parse_message(envelope, queue_url, message)
        out.extend(resolve_kinesis(stack, dl) if dl.get("pointer") else [dl])
    return out


def queue_depth(stack: Stack, queue_url: str) -> int:
    with aws_call(queue_url, "sqs:GetQueueAttributes"):
        attrs = stack.client("sqs").get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0)) + int(
        attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


def ledger(stack: Stack, table: str, pattern: str) -> dict[str, int]:
    """event id -> count of side effects recorded in the ledger partition `pattern`."""
    ddb = stack.client("dynamodb")
    out: dict[str, int] = {}
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": "pattern"},
        "ExpressionAttributeValues": {":p": {"S": pattern}},
        "ConsistentRead": True,
    }
    while True:
        with aws_call(f"ledger table {table}", "dynamodb:Query"):
            resp = ddb.query(**kwargs)
        for item in resp.get("Items", []):
            out[item["event_id"]["S"]] = int(item.get("count", {}).get("N", "1"))
        if "LastEvaluatedKey" not in resp:
            return out
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def task_attempts(stack: Stack, execution_arn: str, function_arn: str) -> int:
    """How many times an execution scheduled the Lambda task that runs `function_arn`: each
    retry is a new LambdaFunctionScheduled (Resource = the ARN) or TaskScheduled
    (arn:aws:states:::lambda:invoke) event in GetExecutionHistory."""
    sfn = stack.client("stepfunctions")
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    function_name = function_arn.rsplit(":", 1)[-1]
    count = 0
    while True:
        with aws_call(execution_arn, "states:GetExecutionHistory"):
            resp = sfn.get_execution_history(**kwargs)
        for event in resp.get("events", []):
            if event.get("type") not in ("LambdaFunctionScheduled", "TaskScheduled"):
                continue
            details = json.dumps(
                event.get("lambdaFunctionScheduledEventDetails")
                or event.get("taskScheduledEventDetails")
                or {},
                default=str,
            )
            if function_arn in details or function_name in details:
                count += 1
        if not resp.get("nextToken"):
            return count
        kwargs["nextToken"] = resp["nextToken"]


def function_env(stack: Stack, function: str) -> dict[str, str]:
    with aws_call(function, "lambda:GetFunctionConfiguration"):
        conf = stack.client("lambda").get_function_configuration(FunctionName=function)
    return dict((conf.get("Environment") or {}).get("Variables") or {})


def alarms(stack: Stack, names: list[str]) -> dict[str, dict[str, Any]]:
    """name -> {state, period, evaluation_periods, datapoints_to_alarm, metric, namespace,
    dimensions (name -> value), threshold, comparison, alarm_actions}, as DescribeAlarms says."""
    if not names:
        return {}
    out: dict[str, dict[str, Any]] = {}
    cw = stack.client("cloudwatch")
    for i in range(0, len(names), 100):
        with aws_call(", ".join(names[i : i + 100]), "cloudwatch:DescribeAlarms"):
            resp = cw.describe_alarms(AlarmNames=names[i : i + 100])
        for a in resp.get("MetricAlarms", []):
            out[a["AlarmName"]] = {
                "state": a["StateValue"],
                "period": int(a.get("Period") or 60),
                "evaluation_periods": int(a.get("EvaluationPeriods") or 1),
                "datapoints_to_alarm": int(
                    a.get("DatapointsToAlarm") or a.get("EvaluationPeriods") or 1
                ),
                "metric": a.get("MetricName"),
                "namespace": a.get("Namespace"),
                "dimensions": {d["Name"]: d["Value"] for d in a.get("Dimensions") or []},
                "threshold": a.get("Threshold"),
                "comparison": a.get("ComparisonOperator"),
                "alarm_actions": list(a.get("AlarmActions") or []),
            }
    return out


def alarm_history(stack: Stack, name: str, since: float | None = None) -> list[AlarmTransition]:
    """State transitions, oldest first."""
    cw = stack.client("cloudwatch")
    kwargs: dict[str, Any] = {
        "AlarmName": name,
        "HistoryItemType": "StateUpdate",
        "MaxRecords": 100,
    }
    out: list[AlarmTransition] = []
    while True:
        with aws_call(name, "cloudwatch:DescribeAlarmHistory"):
            resp = cw.describe_alarm_history(**kwargs)
        for item in resp.get("AlarmHistoryItems", []):
            out.append(parse_history_item(name, item))
        if not resp.get("NextToken"):
            break
        kwargs["NextToken"] = resp["NextToken"]
    out.sort(key=lambda t: t["at"])
    return [t for t in out if since is None or t["at"] >= since]


def parse_history_item(name: str, item: dict[str, Any]) -> AlarmTransition:
    data = loads_json(item.get("HistoryData") or "{}")
    data = data if isinstance(data, dict) else {}
    ts = item["Timestamp"]
    return {
        "alarm": name,
        "at": ts.timestamp() if hasattr(ts, "timestamp") else float(ts),
        "old": str((data.get("oldState") or {}).get("stateValue", "?")),
        "new": str((data.get("newState") or {}).get("stateValue", "?")),
    }


def metric_points(
    stack: Stack,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    start: float,
    end: float,
    period: int = 10,
    statistic: str = "Sum",
) -> list[tuple[float, float]]:
    """(epoch seconds, value) datapoints, oldest first, e.g. AWS/Lambda Errors of a function."""
    dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
    with aws_call(f"{namespace}/{metric} {dimensions}", "cloudwatch:GetMetricStatistics"):
        resp = stack.client("cloudwatch").get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=dims,
            StartTime=datetime.fromtimestamp(start - period, UTC),
            EndTime=datetime.fromtimestamp(end + period, UTC),
            Period=period,
            Statistics=[statistic],
        )
    points = [(p["Timestamp"].timestamp(), float(p[statistic])) for p in resp.get("Datapoints", [])]
    return sorted(points)


def local_cloud_info(endpoint: str | None) -> dict[str, Any]:
    """The local cloud's time scale and compressed delays; {} on AWS (nothing is compressed)."""
    if not endpoint:
        return {}
    try:
        resp = requests.get(f"{endpoint.rstrip('/')}/_localcloud/info", timeout=5)
    except requests.RequestException as exc:
        logger.warning("no local cloud info at %s: %s", endpoint, exc)
        return {}
    return resp.json() if resp.ok else {}
