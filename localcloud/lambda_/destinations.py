"""Where a finished async event is sent: destination records and function DLQ messages.

Shapes from the Lambda developer guide ("Capturing records of Lambda
asynchronous invocations"; "Dead-letter queues": message attributes
RequestID (String), ErrorCode (Number), ErrorMessage (String)).

Lambda sends both with the function's execution role. A role that lost the grant after the
function was configured (sqs:SendMessage, sns:Publish, lambda:InvokeFunction,
events:PutEvents on the target) makes the send fail as any other failure does: the record
or message is gone, and DestinationDeliveryFailures / DeadLetterErrors count it (same guide,
"Working with Lambda function metrics").
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localcloud.lambda_.execution_role import role_allows, send_grant
from localcloud.lambda_.types import DestinationRecord, FunctionSpec

if TYPE_CHECKING:
    from localcloud.lambda_.async_invoke import AsyncEvent
    from localcloud.lambda_.runtime import LambdaRuntime

logger = logging.getLogger(__name__)

ERROR_MESSAGE_LIMIT = 1024


def _json_or_text(text: str | bytes | None) -> Any:
    if text is None or text == b"" or text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text.decode() if isinstance(text, bytes) else text


def destination_record(event: AsyncEvent, spec: FunctionSpec, condition: str) -> DestinationRecord:
    result = event.last_result
    response_context: dict[str, Any] = {
        "statusCode": 200 if result else 429,
        "executedVersion": spec.version,
    }
    if result is not None and result.function_error:
        response_context["functionError"] = result.function_error
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": f"{spec.arn}:{spec.version}",
            "condition": condition,
            "approximateInvokeCount": event.invoke_count,
        },
        "requestPayload": _json_or_text(event.payload),
        "responseContext": response_context,
    }
    if result is not None:
        record["responsePayload"] = _json_or_text(result.payload)
    return record  # type: ignore[return-value]


class AccessDenied(Exception):
    """The execution role does not allow Lambda's send to the target."""


class Destinations:
    def __init__(self, runtime: LambdaRuntime) -> None:
        self.runtime = runtime
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.runtime.cloud.internal_client(service)
            return self._clients[service]

    def send_record(
        self, target_arn: str, event: AsyncEvent, spec: FunctionSpec, condition: str
    ) -> None:
        record = destination_record(event, spec, condition)
        body = json.dumps(record)
        try:
            self._authorize(spec, target_arn)
            self._deliver(target_arn, body, spec, success=condition == "Success")
        except Exception as exc:
            logger.warning(
                "destination %s of %s failed, its record is dropped: %s", target_arn, spec.name, exc
            )
            self.runtime.emit("DestinationDeliveryFailures", 1, spec.name)

    def send_dead_letter(self, target_arn: str, event: AsyncEvent, spec: FunctionSpec) -> None:
        if event.last_result is not None:
            error_code = str(event.last_result.status_code)
            error_message = _error_message(event.last_result.payload)
        else:
            error_code = str(getattr(event.last_error, "status", 429))
            error_message = str(getattr(event.last_error, "message", "Rate Exceeded."))
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": event.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": error_code},
            "ErrorMessage": {
                "DataType": "String",
                "StringValue": error_message[:ERROR_MESSAGE_LIMIT],
            },
        }
        try:
            self._authorize(spec, target_arn)
            service = target_arn.split(":")[2]
            if service == "sqs":
                self._client("sqs").send_message(
                    QueueUrl=self._queue_url(target_arn),
                    MessageBody=event.payload,
                    MessageAttributes=attributes,
                )
            elif service == "sns":
                self._client("sns").publish(
                    TopicArn=target_arn,
                    Message=event.payload,
                    MessageAttributes={
                        k: {"DataType": v["DataType"], "StringValue": v["StringValue"]}
                        for k, v in attributes.items()
                    },
                )
            else:
                raise ValueError(f"a dead-letter queue must be SQS or SNS, not {target_arn}")
        except Exception as exc:
            logger.warning(
                "dead-letter queue %s of %s failed, the event is dropped: %s",
                target_arn,
                spec.name,
                exc,
            )
            self.runtime.emit("DeadLetterErrors", 1, spec.name)

    def _authorize(self, spec: FunctionSpec, target_arn: str) -> None:
        grant = send_grant(target_arn)
        if grant is not None and not role_allows(
            self.runtime.cloud, spec.role, grant.action, target_arn
        ):
            raise AccessDenied(
                f"the execution role {spec.role} does not allow {grant.action} on {target_arn}"
            )

    def _deliver(self, target_arn: str, body: str, spec: FunctionSpec, *, success: bool) -> None:
        service = target_arn.split(":")[2]
        if service == "sqs":
            self._client("sqs").send_message(QueueUrl=self._queue_url(target_arn), MessageBody=body)
        elif service == "sns":
            self._client("sns").publish(TopicArn=target_arn, Message=body)
        elif service == "lambda":
            self.runtime.invoke(target_arn, body, invocation_type="Event")
        elif service == "events":
            outcome = "Success" if success else "Failure"
            answer = self._client("events").put_events(
                Entries=[
                    {
                        "Source": "lambda",
                        "DetailType": f"Lambda Function Invocation Result - {outcome}",
                        "Detail": body,
                        "EventBusName": target_arn,
                        "Resources": [f"{spec.arn}:{spec.version}"],
                    }
                ]
            )
            if answer.get("FailedEntryCount"):
                raise RuntimeError(f"PutEvents failed: {answer['Entries']}")
        else:
            raise ValueError(f"unsupported destination {target_arn}")

    def _queue_url(self, queue_arn: str) -> str:
        parts = queue_arn.split(":")
        return self._client("sqs").get_queue_url(
            QueueName=parts[5], QueueOwnerAWSAccountId=parts[4]
        )["QueueUrl"]


def _error_message(payload: bytes) -> str:
    doc = _json_or_text(payload)
    if isinstance(doc, dict) and "errorMessage" in doc:
        return str(doc["errorMessage"])
    return payload.decode("utf-8", errors="replace")
