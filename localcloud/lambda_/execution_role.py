"""Lambda's own calls on a function's behalf, judged against the function's execution role.

Lambda sends a failed asynchronous event to the function's DLQ or destination, and polls an
event source, with the execution role's permissions (Lambda developer guide, "Lambda
execution role", "Asynchronous invocation: dead-letter queues" and "destinations", "Using
Lambda with Amazon SQS" and "with Kinesis Data Streams": the managed policies
AWSLambdaSQSQueueExecutionRole and AWSLambdaKinesisExecutionRole name what a mapping needs).
It checks them twice:

- at configuration time, CreateFunction / UpdateFunctionConfiguration with a
  DeadLetterConfig, Put/UpdateFunctionEventInvokeConfig with destinations, and
  Create/UpdateEventSourceMapping answer 400 InvalidParameterValueException when the role
  lacks the grant (this module's interceptor for the function calls; the mapping calls are
  refused in event_sources/validation.py with `mapping_grant_error`);
- at delivery time, a role that lost the grant later makes the send fail: the DLQ message or
  destination record is dropped and DeadLetterErrors / DestinationDeliveryFailures counted
  (destinations.py), and a mapping's reads fail (event_sources/).

Never called under the cloud's lock: reading a role's policies is a call to the cloud itself.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from localcloud.lambda_.dead_letter import function_name_of
from localcloud.lambda_.http_api import error_response
from localcloud.lambda_.types import InvalidParameterValue
from localcloud.moto_reach import lambda_ as lambda_reach

if TYPE_CHECKING:
    from localcloud.lambda_.runtime import LambdaRuntime
    from localcloud.server import LocalCloud

logger = logging.getLogger(__name__)

__all__ = [
    "KINESIS_READS",
    "SQS_READS",
    "ConfigurationCheck",
    "Grant",
    "install",
    "mapping_grant_error",
    "missing_read",
    "role_allows",
    "send_grant",
]


@dataclass(frozen=True)
class Grant:
    """What Lambda calls on a target, as IAM names it and as Lambda's messages name it."""

    action: str  # sqs:SendMessage
    operation: str  # SendMessage
    service: str  # SQS


# Where an async event or a stream's failure record can go, and what sending there takes.
_SENDS = {
    "sqs": Grant("sqs:SendMessage", "SendMessage", "SQS"),
    "sns": Grant("sns:Publish", "Publish", "SNS"),
    "lambda": Grant("lambda:InvokeFunction", "InvokeFunction", "Lambda"),
    "events": Grant("events:PutEvents", "PutEvents", "EventBridge"),
}
# What an SQS mapping's pollers call (AWSLambdaSQSQueueExecutionRole), in the order Lambda
# names the first one missing.
SQS_READS = (
    Grant("sqs:ReceiveMessage", "ReceiveMessage", "SQS"),
    Grant("sqs:DeleteMessage", "DeleteMessage", "SQS"),
    Grant("sqs:GetQueueAttributes", "GetQueueAttributes", "SQS"),
)
# A Kinesis mapping's (AWSLambdaKinesisExecutionRole, less ListStreams, which has no stream
# resource): describing the stream takes either action.
KINESIS_DESCRIBE = ("kinesis:DescribeStream", "kinesis:DescribeStreamSummary")
KINESIS_READS = (
    Grant("kinesis:GetRecords", "GetRecords", "Kinesis"),
    Grant("kinesis:GetShardIterator", "GetShardIterator", "Kinesis"),
    Grant("kinesis:ListShards", "ListShards", "Kinesis"),
)


def send_grant(target_arn: str) -> Grant | None:
    """What sending to `target_arn` takes; None for a service Lambda cannot send to."""
    parts = target_arn.split(":")
    return _SENDS.get(parts[2]) if len(parts) > 5 else None


def no_permission_message(grant: Grant) -> str:
    # AWS's own wording at CreateFunction / UpdateFunctionConfiguration and
    # CreateEventSourceMapping (widely reported: "The provided execution role does not have
    # permissions to call SendMessage on SQS").
    return (
        f"The provided execution role does not have permissions to call {grant.operation} "
        f"on {grant.service}"
    )


def destination_message(grant: Grant, target_arn: str) -> str:
    # PutFunctionEventInvokeConfig's wording, from reports of it (less sure than the above:
    # the function's role and the destination's ARN are named, the service is not).
    return (
        f"The function's execution role does not have permissions to call {grant.operation} "
        f"on {target_arn}"
    )


def kinesis_message(stream_arn: str) -> str:
    # CreateEventSourceMapping's answer on a stream the role may not read.
    return (
        f"Cannot access stream {stream_arn}. Please ensure the role can perform the "
        "GetRecords, GetShardIterator, DescribeStream, and ListShards Actions on your "
        "stream in IAM."
    )


def missing_read(iam: Any, role_arn: str, source_arn: str) -> Grant | None:
    """The first read a mapping of `source_arn` needs and the role lacks, else None."""
    kind = source_arn.split(":")[2] if source_arn.count(":") >= 5 else ""
    if kind == "sqs":
        return next((g for g in SQS_READS if not iam.allows(role_arn, g.action, source_arn)), None)
    if kind == "kinesis":
        if not any(iam.allows(role_arn, a, source_arn) for a in KINESIS_DESCRIBE):
            return Grant(KINESIS_DESCRIBE[0], "DescribeStream", "Kinesis")
        return next(
            (g for g in KINESIS_READS if not iam.allows(role_arn, g.action, source_arn)), None
        )
    return None


def mapping_grant_error(
    iam: Any, role_arn: str, source_arn: str, on_failure_arn: str | None
) -> str | None:
    """CreateEventSourceMapping's InvalidParameterValueException message for a role that may
    not read `source_arn` or send to the mapping's OnFailure destination, else None."""
    missing = missing_read(iam, role_arn, source_arn)
    if missing is not None:
        if missing.service == "Kinesis":
            return kinesis_message(source_arn)
        return no_permission_message(missing)
    grant = send_grant(on_failure_arn) if on_failure_arn else None
    if grant is not None and not iam.allows(role_arn, grant.action, str(on_failure_arn)):
        return no_permission_message(grant)
    return None


# ---- configuration time: the function calls ------------------------------------------
_CREATE_PATH = re.compile(r"^/2015-03-31/functions/?$")
_CONFIG_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/configuration/?$")
_INVOKE_CONFIG_PATH = re.compile(r"^/2019-09-25/functions/(?P<name>[^/]+)/event-invoke-config/?$")


def _body(request: Request) -> dict[str, Any]:
    try:
        doc = json.loads(request.get_data() or b"{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


class ConfigurationCheck:
    """The interceptor that refuses a function configuration its role cannot serve."""

    def __init__(self, cloud: LocalCloud, runtime: LambdaRuntime) -> None:
        self.cloud = cloud
        self.runtime = runtime

    def __call__(self, request: Request) -> Response | None:
        path = request.path or ""
        if request.method == "POST" and _CREATE_PATH.match(path):
            body = _body(request)
            target = (body.get("DeadLetterConfig") or {}).get("TargetArn")
            return self._dead_letter(str(body.get("Role") or ""), target)
        match = _CONFIG_PATH.match(path)
        if match and request.method == "PUT":
            body = _body(request)
            if "DeadLetterConfig" not in body and "Role" not in body:
                return None
            name = unquote(match["name"])
            role = str(body.get("Role") or self._role_of(name))
            if "DeadLetterConfig" in body:
                target = (body.get("DeadLetterConfig") or {}).get("TargetArn")
            else:  # a new role must serve the DLQ the function has
                target = self.runtime.dead_letter.target_arn(function_name_of(name))
            return self._dead_letter(role, target)
        match = _INVOKE_CONFIG_PATH.match(path)
        if match and request.method in ("PUT", "POST"):
            destinations = _body(request).get("DestinationConfig") or {}
            targets = [
                (destinations.get(k) or {}).get("Destination") for k in ("OnSuccess", "OnFailure")
            ]
            wanted = [str(t) for t in targets if t]
            if not wanted:
                return None
            role = self._role_of(unquote(match["name"]))
            if not role:
                return None  # moto answers the unknown function
            for target in wanted:
                grant = send_grant(target)
                if grant is not None and not self.cloud.iam.allows(role, grant.action, target):
                    logger.info("refused: role %s may not %s %s", role, grant.action, target)
                    return error_response(InvalidParameterValue(destination_message(grant, target)))
        return None

    def _dead_letter(self, role: str, target: str | None) -> Response | None:
        if not target or not role:
            return None  # no DLQ, or moto answers the missing role
        grant = send_grant(target)
        if grant is None or grant.service not in ("SQS", "SNS"):
            return None  # moto (and AWS) refuse a DLQ of another kind on their own terms
        if self.cloud.iam.allows(role, grant.action, target):
            return None
        logger.info("refused: role %s may not %s its DLQ %s", role, grant.action, target)
        return error_response(InvalidParameterValue(no_permission_message(grant)))

    def _role_of(self, name_or_arn: str) -> str:
        with self.cloud.lock:
            fn = lambda_reach.lambda_function(self.cloud.account_id, self.cloud.region, name_or_arn)
            return str(getattr(fn, "role", "") or "") if fn is not None else ""


def install(cloud: LocalCloud, runtime: LambdaRuntime) -> None:
    cloud.add_interceptor(ConfigurationCheck(cloud, runtime))


def role_allows(cloud: Any, role_arn: str, action: str, resource: str) -> bool:
    """cloud.iam's decision on a call Lambda makes with `role_arn`; True on a cloud without
    roles (a test's fake) or for a function without one (moto requires a role)."""
    iam = getattr(cloud, "iam", None)
    return True if iam is None or not role_arn else bool(iam.allows(role_arn, action, resource))
