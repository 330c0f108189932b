"""Which operation a request calls, the IAM actions it needs and the resources they act on.

The operation comes from the request as its protocol names it: the X-Amz-Target suffix (JSON
protocols), the `Action` parameter (query), the `/service/<svc>/operation/<Op>` path
(Smithy RPC v2 CBOR), or the method and path matched against the `requestUri` of each
operation in botocore's model (REST protocols). The IAM action is `<prefix>:<Operation>`,
renamed where the Service Authorization Reference names it otherwise (Lambda's Invoke is
lambda:InvokeFunction; SQS's and SNS's batch calls need the single call's permission).

The resources follow the Service Authorization Reference ("Actions, resources, and condition
keys for <service>") for the services a function of this project calls. A `Check` resource:
- an ARN, judged against the statements' Resource patterns;
- "*" for an action that has no resource type on AWS (sqs:ListQueues,
  cloudwatch:PutMetricData, X-Ray): only a statement whose Resource matches "*" grants it;
- None when it is not resolved here (an operation or service not mapped): judged the safe
  way (localcloud/iam/identity_policy.py): only an Allow on every resource grants it, and
  any Deny of the action applies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlparse

from werkzeug.wrappers import Request

from localcloud.sigv4 import service_model

__all__ = ["Call", "Check", "Place", "operation_of", "resolve"]

# SigV4 signing names whose IAM service prefix differs.
_IAM_PREFIX = {"monitoring": "cloudwatch"}

SecretLookup = Callable[[str], str]


class Place(NamedTuple):
    """Where a call lands: the region it is signed for and the account."""

    region: str
    account: str

    def arn(self, service: str, rest: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{rest}"


@dataclass(frozen=True)
class Check:
    action: str  # "sqs:SendMessage"
    resource: str | None  # an ARN, "*" (no resource type), None (not resolved here)


@dataclass(frozen=True)
class Call:
    service: str  # the signing name
    protocol: str  # the protocol the client speaks: json, query, rest-json, rest-xml, ...
    operation: str  # botocore's operation name
    checks: tuple[Check, ...]  # every one must be allowed; () for a call IAM never judges


# ---- the operation -------------------------------------------------------------------
class _Route(NamedTuple):
    method: str
    path: re.Pattern[str]
    query: tuple[tuple[str, str | None], ...]  # required query keys (and values)
    weight: int  # more literal text wins over fewer
    operation: str


_LABEL = re.compile(r"\{(\w+)(\+?)\}")


def _route(name: str, method: str, uri: str) -> _Route:
    path, _, query = uri.partition("?")
    parts: list[str] = []
    last = 0
    for label in _LABEL.finditer(path):
        parts.append(re.escape(path[last : label.start()]))
        parts.append(f"(?P<{label[1]}>{'.+' if label[2] else '[^/]+'})")
        last = label.end()
    parts.append(re.escape(path[last:].rstrip("/")))
    required = tuple(
        (key, value or None) for key, value in parse_qsl(query, keep_blank_values=True)
    )
    literal = len(_LABEL.sub("", path))
    return _Route(
        method,
        re.compile("^" + "".join(parts) + "/?$"),
        required,
        literal + 10 * len(required),
        name,
    )


@cache
def _routes(signing: str) -> tuple[_Route, ...]:
    model = service_model(signing)
    if model is None:
        return ()
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        routes.append(_route(name, http.get("method", "POST"), http.get("requestUri", "/")))
    return tuple(sorted(routes, key=lambda r: -r.weight))


def _rest_operation(request: Request, signing: str) -> tuple[str, dict[str, Any]] | None:
    for route in _routes(signing):
        if route.method != request.method:
            continue
        match = route.path.match(request.path)
        if match is None:
            continue
        if all(
            key in request.args and (value is None or request.args[key] == value)
            for key, value in route.query
        ):
            return route.operation, match.groupdict()
    return None


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def operation_of(request: Request, signing: str) -> tuple[str, str, dict[str, Any]] | None:
    """(protocol spoken, operation name, parameters) of a request signed for `signing`, or
    None when the service or operation is not known. Parameters are the top-level members
    as the protocol carries them (JSON body; query form; REST path labels, query string and
    JSON body); a CBOR body is not read."""
    model = service_model(signing)
    if model is None:
        return None
    target = request.headers.get("X-Amz-Target")
    if target:
        return "json", target.rsplit(".", 1)[-1], _json_body(request)
    if request.path.startswith("/service/") and "/operation/" in request.path:
        return "smithy-rpc-v2-cbor", request.path.rsplit("/", 1)[-1], {}
    if request.mimetype == "application/x-www-form-urlencoded" or "Action" in request.args:
        form = dict(parse_qsl(request.get_data(as_text=True)))
        form = {**request.args.to_dict(), **form}
        if "Action" in form:
            if signing == "sqs" and "QueueUrl" not in form and request.path.count("/") >= 2:
                form["QueueUrl"] = request.base_url  # the query protocol posts to the queue
            return "query", form.pop("Action"), form
    if model.protocol not in ("rest-json", "rest-xml"):
        return None
    found = _rest_operation(request, signing)
    if found is None:
        return None
    operation, labels = found
    params: dict[str, Any] = {**request.args.to_dict(), **labels}
    shape = model.operation_model(operation).input_shape
    # A body that is the call's payload (Lambda's Invoke) holds no parameters.
    raw_payload = shape is not None and "payload" in shape.serialization
    if model.protocol == "rest-json" and not raw_payload and request.mimetype.endswith("json"):
        params = {**_json_body(request), **params}
    return model.protocol, operation, params


# ---- resources, per service ----------------------------------------------------------
Resolved = list[tuple[str, str | None]]  # (IAM action name without prefix, resource)


def _arn_or(value: str, make: Callable[[str], str]) -> str:
    return value if value.startswith("arn:") else make(value)


def _sqs_queue_arn(url: str, at: Place) -> str | None:
    parts = urlparse(url).path.strip("/").split("/")  # /<account>/<queue name>
    return f"arn:aws:sqs:{at.region}:{parts[0]}:{parts[1]}" if len(parts) == 2 else None


_SQS_BATCH = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _sqs(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    action = _SQS_BATCH.get(op, op)
    if p.get("QueueUrl"):
        return [(action, _sqs_queue_arn(str(p["QueueUrl"]), at))]
    if p.get("QueueName"):
        owner = p.get("QueueOwnerAWSAccountId") or at.account
        return [(action, f"arn:aws:sqs:{at.region}:{owner}:{p['QueueName']}")]
    return [(action, "*" if op == "ListQueues" else None)]


def _sns(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    action = "Publish" if op == "PublishBatch" else op  # PublishBatch needs sns:Publish
    for key in ("TopicArn", "TargetArn", "ResourceArn"):
        if p.get(key):
            return [(action, str(p[key]))]
    if p.get("SubscriptionArn"):
        return [(action, str(p["SubscriptionArn"]).rsplit(":", 1)[0])]  # its topic
    if op == "CreateTopic" and p.get("Name"):
        return [(action, at.arn("sns", str(p["Name"])))]
    if (op == "Publish" and p.get("PhoneNumber")) or op.startswith("List"):
        return [(action, "*")]
    return [(action, None)]


# DynamoDB developer guide, "Using IAM with DynamoDB transactions": each item of a
# transaction needs the permission of its own kind on its table.
_TRANSACT_ITEM_ACTION = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_DYNAMODB_ACCOUNT_WIDE = {"ListTables", "DescribeLimits", "DescribeEndpoints", "ListBackups"}


def _dynamodb(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    def table(name: Any) -> str | None:
        return _arn_or(str(name), lambda n: at.arn("dynamodb", f"table/{n}")) if name else None

    if op in ("BatchGetItem", "BatchWriteItem"):
        # Batch calls need their own permission on each table they touch.
        return [(op, table(name)) for name in p.get("RequestItems") or {}] or [(op, None)]
    if op in ("TransactWriteItems", "TransactGetItems"):
        checks: Resolved = []
        for item in p.get("TransactItems") or []:
            for kind, body in (item or {}).items():
                name = (body or {}).get("TableName")
                checks.append((_TRANSACT_ITEM_ACTION.get(kind, op), table(name)))
        return checks or [(op, None)]
    if p.get("TableName"):
        arn = table(p["TableName"])
        if p.get("IndexName") and op in ("Query", "Scan"):
            arn = f"{arn}/index/{p['IndexName']}"
        return [(op, arn)]
    for key in ("ResourceArn", "StreamArn", "TableArn"):
        if p.get(key):
            return [(op, str(p[key]))]
    return [(op, "*" if op in _DYNAMODB_ACCOUNT_WIDE else None)]


def _kinesis(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    for key in ("ConsumerARN", "StreamARN", "ResourceARN"):
        if p.get(key):
            return [(op, str(p[key]))]
    if p.get("StreamName"):
        return [(op, at.arn("kinesis", f"stream/{p['StreamName']}"))]
    # GetRecords names only its shard iterator, whose stream is not read here.
    return [(op, "*" if op in ("ListStreams", "DescribeLimits") else None)]


_RULE_BY_NAME = {"PutRule", "DeleteRule", "DescribeRule", "EnableRule", "DisableRule"}
_RULE_BY_RULE = {"PutTargets", "RemoveTargets", "ListTargetsByRule"}
_BUS_BY_NAME = {"CreateEventBus", "DeleteEventBus", "DescribeEventBus", "UpdateEventBus"}


def _events(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    def bus(name: Any) -> str:
        return _arn_or(str(name or "default"), lambda n: at.arn("events", f"event-bus/{n}"))

    def rule(name: str, bus_name: Any) -> str:
        owner = str(bus_name or "default").rsplit("event-bus/", 1)[-1]
        path = f"rule/{name}" if owner == "default" else f"rule/{owner}/{name}"
        return _arn_or(name, lambda _n: at.arn("events", path))

    if op == "PutEvents":
        buses = dict.fromkeys(bus(e.get("EventBusName")) for e in p.get("Entries") or [{}])
        return [(op, arn) for arn in buses]
    if op in _RULE_BY_NAME and p.get("Name"):
        return [(op, rule(str(p["Name"]), p.get("EventBusName")))]
    if op in _RULE_BY_RULE and p.get("Rule"):
        return [(op, rule(str(p["Rule"]), p.get("EventBusName")))]
    if op in _BUS_BY_NAME:
        return [(op, bus(p.get("Name")))]
    if p.get("ResourceARN"):
        return [(op, str(p["ResourceARN"]))]
    return [(op, "*" if op.startswith("List") else None)]


_LAMBDA_ACTION = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}
_LAMBDA_ACCOUNT_WIDE = {"ListFunctions", "ListEventSourceMappings", "GetAccountSettings"}


def lambda_function_arn(name: str, qualifier: str | None, at: Place) -> str:
    """The ARN IAM judges for a FunctionName (a name, `name:qualifier`, a partial ARN
    `account:function:name` or a full ARN) and an optional Qualifier parameter."""
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:
        arn = f"arn:aws:lambda:{at.region}:{name}"
    else:
        base, _, suffix = name.partition(":")
        arn = at.arn("lambda", f"function:{base}") + (f":{suffix}" if suffix else "")
    if qualifier and arn.count(":") == 6:
        arn = f"{arn}:{qualifier}"
    return arn


def _lambda(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    action = _LAMBDA_ACTION.get(op, op)
    if p.get("FunctionName"):
        resolved: Resolved = [
            (action, lambda_function_arn(str(p["FunctionName"]), p.get("Qualifier"), at))
        ]
        if op in ("CreateFunction", "UpdateFunctionConfiguration") and p.get("Role"):
            # Handing a role to Lambda needs iam:PassRole on it (Lambda developer guide,
            # "Lambda execution role").
            resolved.append(("iam:PassRole", str(p["Role"])))
        return resolved
    if p.get("UUID"):
        return [(action, at.arn("lambda", f"event-source-mapping:{p['UUID']}"))]
    if p.get("Resource"):
        return [(action, str(p["Resource"]))]
    return [(action, "*" if op in _LAMBDA_ACCOUNT_WIDE or op.startswith("List") else None)]


def _logs(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    def group(name: str) -> str:
        return at.arn("logs", f"log-group:{name}")

    identifier = str(p.get("logGroupIdentifier") or "")
    if identifier.startswith("arn:"):
        return [(op, identifier.removesuffix(":*"))]
    name = p.get("logGroupName") or identifier
    if name:
        if p.get("logStreamName"):
            return [(op, f"{group(str(name))}:log-stream:{p['logStreamName']}")]
        return [(op, group(str(name)))]
    names = p.get("logGroupNames") or p.get("logGroupIdentifiers")
    if names:
        return [(op, _arn_or(str(n), group)) for n in names]
    if p.get("resourceArn"):
        return [(op, str(p["resourceArn"]))]
    return [(op, "*" if op.startswith("Describe") else None)]


_STATES_KEYS = ("stateMachineArn", "executionArn", "activityArn", "mapRunArn", "resourceArn")
_STATES_ACCOUNT_WIDE = {"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"}


def _states(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    for key in _STATES_KEYS:
        if p.get(key):
            return [(op, str(p[key]))]
    if op == "CreateStateMachine" and p.get("name"):
        return [(op, at.arn("states", f"stateMachine:{p['name']}"))]
    if op in _STATES_ACCOUNT_WIDE or op.startswith("List"):
        return [(op, "*")]
    return [(op, None)]


def _secretsmanager(op: str, p: Mapping[str, Any], at: Place, secret: SecretLookup) -> Resolved:
    if p.get("SecretId"):
        return [(op, secret(str(p["SecretId"])))]
    if op in ("ListSecrets", "GetRandomPassword"):
        return [(op, "*")]
    return [(op, None)]


def _ssm(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    def parameter(name: Any) -> str:
        return _arn_or(str(name), lambda n: at.arn("ssm", f"parameter/{n.lstrip('/')}"))

    if p.get("Name"):
        return [(op, parameter(p["Name"]))]
    if p.get("Names"):
        return [(op, parameter(n)) for n in p["Names"]]
    if p.get("Path"):
        return [(op, parameter(p["Path"]))]
    return [(op, "*" if op == "DescribeParameters" else None)]


_METRIC_OPS = {"PutMetricData", "GetMetricData", "GetMetricStatistics", "ListMetrics"}


def _cloudwatch(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    if op in _METRIC_OPS:
        return [(op, "*")]
    names: Iterable[Any] = [p["AlarmName"]] if p.get("AlarmName") else p.get("AlarmNames") or []
    return [(op, at.arn("cloudwatch", f"alarm:{n}")) for n in names] or [(op, None)]


def _xray(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    return [(op, "*")]  # X-Ray's actions have no resource types but groups and rules


def _sts(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    if op == "GetCallerIdentity":
        return []  # no permission needed, even under an explicit Deny (STS API reference)
    return [(op, str(p["RoleArn"]) if p.get("RoleArn") else None)]


_RESOLVERS: dict[str, Callable[[str, Mapping[str, Any], Place, SecretLookup], Resolved]] = {
    "sqs": _sqs,
    "sns": _sns,
    "dynamodb": _dynamodb,
    "kinesis": _kinesis,
    "events": _events,
    "lambda": _lambda,
    "logs": _logs,
    "states": _states,
    "secretsmanager": _secretsmanager,
    "ssm": _ssm,
    "monitoring": _cloudwatch,
    "xray": _xray,
    "sts": _sts,
}


def _unmapped(op: str, p: Mapping[str, Any], at: Place, _: SecretLookup) -> Resolved:
    return [(op, None)]


def resolve(request: Request, signing: str, at: Place, secret: SecretLookup) -> Call | None:
    """The call a request makes, with the checks IAM makes on it; None when its operation
    cannot be told. `secret` turns a Secrets Manager SecretId into the secret's ARN."""
    found = operation_of(request, signing)
    if found is None:
        return None
    protocol, operation, params = found
    prefix = _IAM_PREFIX.get(signing, signing)
    resolved = _RESOLVERS.get(signing, _unmapped)(operation, params, at, secret)
    checks = tuple(
        Check(action if ":" in action else f"{prefix}:{action}", resource)
        for action, resource in resolved
    )
    return Call(signing, protocol, operation, checks)
