"""Event factories for the handler tests: the wire shapes AWS sends, built per test.

Shapes follow the Lambda developer guide's sample events (SQS, SNS, Kinesis,
EventBridge, API Gateway REST proxy); only fields the handlers or Powertools
read are guaranteed, the rest keep the shape honest.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
LEDGER = "unit-ledger"
IDEMPOTENCY = "unit-idempotency"
PATTERN = "unit"
ACCOUNT = "123456789012"
_sequence = itertools.count(49590338271490256608559692538361571095921575989136588898)


def new_id() -> str:
    return str(uuid.uuid4())


def _text(body: Any) -> str:
    return body if isinstance(body, str) else json.dumps(body)


@dataclass
class FakeContext:
    """A LambdaContext with a real deadline (get_remaining_time_in_millis counts down)."""

    timeout_ms: int = 30_000
    function_name: str = "unit-fn"
    memory_limit_in_mb: int = 128
    aws_request_id: str = field(default_factory=new_id)
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_ms / 1000.0
        self.invoked_function_arn = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        )
        self.function_version = "$LATEST"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "2026/11/22/[$LATEST]unit"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_record(
    body: Any,
    *,
    queue: str = "work",
    message_id: str | None = None,
    receive_count: int = 1,
    group_id: str | None = None,
) -> dict[str, Any]:
    text = _text(body)
    attributes = {
        "ApproximateReceiveCount": str(receive_count),
        "SentTimestamp": str(int(time.time() * 1000)),
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
    }
    if group_id is not None:
        attributes["MessageGroupId"] = group_id
        attributes["SequenceNumber"] = str(next(_sequence))
        attributes["MessageDeduplicationId"] = new_id()
    return {
        "messageId": message_id or new_id(),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": text,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
        "awsRegion": REGION,
    }


def sqs_event(*bodies: Any, queue: str = "work") -> dict[str, Any]:
    fifo = queue.endswith(".fifo")
    return {
        "Records": [sqs_record(b, queue=queue, group_id="g1" if fifo else None) for b in bodies]
    }


def sns_event(message: Any, *, topic: str = "rides") -> dict[str, Any]:
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}"
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{arn}:{new_id()}",
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": "2026-11-22T00:00:00.000Z",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/cert.pem",
                    "MessageId": new_id(),
                    "Message": _text(message),
                    "MessageAttributes": {},
                    "Type": "Notification",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/unsubscribe",
                    "TopicArn": arn,
                    "Subject": None,
                },
            }
        ]
    }


def kinesis_record(
    payload: Any, *, stream: str = "stream", raw: bytes | None = None
) -> dict[str, Any]:
    seq = str(next(_sequence))
    data = raw if raw is not None else _text(payload).encode()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "pk",
            "sequenceNumber": seq,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": time.time(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/unit",
        "awsRegion": REGION,
        "eventSourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}",
    }


def kinesis_event(*payloads: Any) -> dict[str, Any]:
    return {"Records": [kinesis_record(p) for p in payloads]}


def eventbridge_event(
    detail: Any, *, source: str = "failmodes.notifier", detail_type: str = "failmodes.event"
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": new_id(),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-11-22T00:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def api_event(
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "/events",
    base64_body: bool = False,
) -> dict[str, Any]:
    text = None if body is None else _text(body)
    if base64_body and text is not None:
        text = base64.b64encode(text.encode()).decode()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "resourcePath": path,
            "httpMethod": method,
            "requestId": new_id(),
            "stage": "prod",
            "identity": {"sourceIp": "127.0.0.1", "apiKey": "k"},
        },
        "body": text,
        "isBase64Encoded": base64_body,
    }


def catch_input(event_id: str, error: str, cause: str, **extra: Any) -> dict[str, Any]:
    """A Step Functions Catch result with ResultPath $.error."""
    return {"id": event_id, **extra, "error": {"Error": error, "Cause": cause}}


def ledger_items(aws, pattern: str = PATTERN) -> dict[str, int]:
    """event_id -> count for one ledger partition."""
    pages = aws.ddb.get_paginator("query").paginate(
        TableName=LEDGER,
        KeyConditionExpression="#p = :p",
        ExpressionAttributeNames={"#p": "pattern"},
        ExpressionAttributeValues={":p": {"S": pattern}},
    )
    return {
        item["event_id"]["S"]: int(item["count"]["N"])
        for page in pages
        for item in page.get("Items", [])
    }
