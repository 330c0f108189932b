"""Execution roles enforced: a call signed with a role session's key is judged by the role's
identity-based policies before moto sees it, and one the role does not allow is answered
AccessDenied in the service's own protocol, as AWS answers it.

Who is judged: only requests signed with the temporary credentials of a role session the
cloud handed out (STS AssumeRole, watched by localcloud/iam/roles.py), which is what a
function's worker holds. Requests signed with any other key (the operator's "testing"
credentials, the cloud's own clients, the emulated deploy, the chaos suite) are the
account's root and are not judged, as moto judges none.

What is judged: the action and the resources of each call, resolved by
localcloud/iam/operations.py (the Service Authorization Reference), against the role's
inline and attached policies (localcloud/iam/identity_policy.py, IAM User Guide "Policy
evaluation logic": an explicit Deny wins, otherwise an Allow grants, otherwise the call is
implicitly denied). Not judged: resource-based policies granting a role session
(same-account grants on a queue or topic policy), permissions boundaries, session
policies and SCPs. STS GetCallerIdentity is always allowed, as on AWS.

Also modelled here: CreateFunction and UpdateFunctionConfiguration with a role Lambda cannot
assume (it does not exist, or its trust policy does not let lambda.amazonaws.com in) answer
400 InvalidParameterValueException, as Lambda does; moto checks only that it exists, at
create.

Cost: a judged call costs a scope parse, a dict lookup, the resolution and the evaluation
against the role's cached policies; no HTTP call once the role's policies are cached
(until the next IAM write).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from localcloud.iam.identity_policy import Decision
from localcloud.iam.operations import Call, Check, Place, operation_of, resolve
from localcloud.iam.roles import RoleSession
from localcloud.sigv4 import Scope, scope_of, service_model

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

logger = logging.getLogger(__name__)

__all__ = ["Enforcement", "denial_message", "install"]

# The error code a query-protocol service answers a denied call with (its API reference's
# common errors); every other query service says AccessDenied.
_QUERY_CODE = {"sns": "AuthorizationError"}
_ROLE_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/.+")
_SECRETS_READS = ("Get", "List", "Describe", "BatchGet")
CANNOT_ASSUME = "The role defined for the function cannot be assumed by Lambda."


def denial_message(session: RoleSession, check: Check, decision: Decision) -> str:
    """IAM's AccessDenied message for a role session's call."""
    resource = check.resource or "*"
    head = (
        f"User: {session.arn} is not authorized to perform: {check.action} on resource: {resource}"
    )
    if decision is Decision.EXPLICIT_DENY:
        return f"{head} with an explicit deny in an identity-based policy"
    return f"{head} because no identity-based policy allows the {check.action} action"


def _cbor_text(value: str) -> bytes:
    data = value.encode()
    return _cbor_head(3, len(data)) + data


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for size, extra in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | extra]) + length.to_bytes(size, "big")
    raise ValueError(f"{length} is too long for CBOR")


def _cbor_map(fields: dict[str, str]) -> bytes:
    """A CBOR map of text to text (RFC 8949), all an error body of rpc-v2-cbor needs."""
    out = _cbor_head(5, len(fields))
    for key, value in fields.items():
        out += _cbor_text(key) + _cbor_text(value)
    return out


def error_response(
    signing: str, protocol: str, code: str, message: str, *, status: int | None = None
) -> Response:
    """An error as a service of `protocol` answers it, parsed by botocore into `code`."""
    model = service_model(signing)
    query_compatible = model is not None and "awsQueryCompatible" in model.metadata
    if protocol == "query":
        code = _QUERY_CODE.get(signing, code)
        xml = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            "<RequestId>0</RequestId></ErrorResponse>"
        )
        return Response(xml, status=status or 403, content_type="text/xml")
    if protocol == "rest-xml":
        xml = f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        return Response(xml, status=status or 403, content_type="application/xml")
    exception = code if code.endswith("Exception") else f"{code}Exception"
    if protocol == "smithy-rpc-v2-cbor":
        response = Response(
            _cbor_map({"__type": exception, "message": message}),
            status=status or 400,
            content_type="application/cbor",
        )
        response.headers["smithy-protocol"] = "rpc-v2-cbor"
    elif protocol == "rest-json":
        response = Response(
            json.dumps({"Type": "User", "message": message}),
            status=status or 403,
            content_type="application/json",
        )
        response.headers["x-amzn-ErrorType"] = exception
    else:
        response = Response(
            json.dumps({"__type": f"com.amazon.coral.service#{exception}", "message": message}),
            status=status or 400,
            content_type="application/x-amz-json-1.0",
        )
    if query_compatible:
        # SQS and CloudWatch moved from the query protocol and keep its error codes there.
        response.headers["x-amzn-query-error"] = f"{code};Sender"
    return response


def _scope(request: Request) -> Scope | None:
    scope = scope_of(request.headers.get("Authorization"))
    if scope is None and "X-Amz-Credential" in request.args:  # a presigned URL
        return scope_of("Credential=" + request.args["X-Amz-Credential"])
    return scope


class Enforcement:
    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self._secret_arns: dict[str, str] = {}
        self._lock = threading.Lock()
        self._secrets: Any = None

    def install(self) -> None:
        self.cloud.add_interceptor(self.judge)
        self.cloud.add_interceptor(self.check_function_role)
        self.cloud.add_observer(self._observe)

    # ---- judging a role session's call -------------------------------------------------
    def judge(self, request: Request) -> Response | None:
        scope = _scope(request)
        session = self.cloud.iam.session_of(scope.access_key_id) if scope else None
        if scope is None or session is None:
            return None
        call = resolve(
            request, scope.service, Place(scope.region, session.account_id), self.secret_arn
        )
        if call is None:
            logger.warning(
                "%s %s signed for %s by %s: operation not known here, not judged",
                request.method,
                request.path,
                scope.service,
                session.arn,
            )
            return None
        return self.decide(session, call)

    def decide(self, session: RoleSession, call: Call) -> Response | None:
        """None when the role allows every check of `call`, else AWS's AccessDenied."""
        for check in call.checks:
            decision = self.cloud.iam.decide(session.role_arn, check.action, check.resource)
            if decision is not Decision.ALLOW:
                message = denial_message(session, check, decision)
                logger.info("access denied: %s", message)
                return error_response(call.service, call.protocol, "AccessDenied", message)
        return None

    def secret_arn(self, secret_id: str) -> str:
        """A Secrets Manager SecretId (a name or an ARN, full or partial) as the secret's ARN,
        which ends in a random suffix; kept until the next Secrets Manager write."""
        with self._lock:
            known = self._secret_arns.get(secret_id)
        if known is not None:
            return known
        if self._secrets is None:
            self._secrets = self.cloud.internal_client("secretsmanager")
        try:
            arn = str(self._secrets.describe_secret(SecretId=secret_id)["ARN"])
        except self._secrets.exceptions.ResourceNotFoundException:
            # No such secret: judged on the ARN it would have without its suffix.
            return (
                secret_id
                if secret_id.startswith("arn:")
                else Place(self.cloud.region, self.cloud.account_id).arn(
                    "secretsmanager", f"secret:{secret_id}"
                )
            )
        with self._lock:
            self._secret_arns[secret_id] = arn
        return arn

    def _observe(self, request: Request, response: Response) -> None:
        target = request.headers.get("X-Amz-Target", "")
        if target.startswith("secretsmanager.") and not target[15:].startswith(_SECRETS_READS):
            with self._lock:
                self._secret_arns.clear()

    # ---- a function's execution role --------------------------------------------------
    def check_function_role(self, request: Request) -> Response | None:
        """Lambda refuses a function whose role it cannot assume (Lambda developer guide,
        "Lambda execution role"; CreateFunction API reference, InvalidParameterValueException)."""
        if request.method not in ("POST", "PUT") or "/functions" not in request.path:
            return None
        scope = _scope(request)
        if scope is None or scope.service != "lambda":
            return None
        found = operation_of(request, "lambda")
        if found is None or found[1] not in ("CreateFunction", "UpdateFunctionConfiguration"):
            return None
        role = found[2].get("Role")
        if not isinstance(role, str) or not _ROLE_ARN.match(role):
            return None  # no role change, or one moto refuses by its format
        if self.cloud.iam.trusts(role):
            return None
        return error_response(
            "lambda", "rest-json", "InvalidParameterValueException", CANNOT_ASSUME, status=400
        )


def install(cloud: LocalCloud) -> Enforcement:
    enforcement = Enforcement(cloud)
    enforcement.install()
    return enforcement
