"""The Lambda Invoke API over HTTP, answered by the runtime instead of moto.

moto would answer "error running docker" (or echo the payload with
use_docker=false, even for a function that does not exist).
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from localcloud.lambda_.types import LambdaApiError, RequestEntityTooLarge

if TYPE_CHECKING:
    from localcloud.lambda_.runtime import LambdaRuntime
    from localcloud.server import LocalCloud

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
_INVOKE_ASYNC_PATH = re.compile(r"^/2014-11-13/functions/(?P<name>[^/]+)/invoke-async/?$")
LOG_TAIL_BYTES = 4096
# Lambda's invocation payload quotas (request body): 6 MB synchronous, 1 MB asynchronous
# (Invoke API reference); InvokeAsync, deprecated, keeps its 256 KB.
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 1024 * 1024
LEGACY_ASYNC_PAYLOAD_LIMIT = 256 * 1024


def check_payload_size(size: int, invocation_type: str, *, legacy: bool = False) -> None:
    """Raise AWS's 413 for a request body over the quota of its invocation type."""
    if invocation_type == "Event":
        limit = LEGACY_ASYNC_PAYLOAD_LIMIT if legacy else ASYNC_PAYLOAD_LIMIT
        if size > limit:
            raise RequestEntityTooLarge(
                f"{size} byte payload is too large for the Event invocation type"
                f" (limit {limit} bytes)"
            )
    elif size > SYNC_PAYLOAD_LIMIT:
        raise RequestEntityTooLarge(
            f"Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the InvokeFunction"
            " operation"
        )


def error_response(exc: LambdaApiError) -> Response:
    response = Response(json.dumps(exc.body()), status=exc.status, content_type="application/json")
    response.headers["x-amzn-ErrorType"] = exc.code
    return response


def install_http_api(cloud: LocalCloud, runtime: LambdaRuntime) -> None:
    runtime.dead_letter.install()

    def intercept(request: Request) -> Response | None:
        if request.method != "POST":
            return None
        match = _INVOKE_PATH.match(request.path)
        legacy = None if match else _INVOKE_ASYNC_PATH.match(request.path)
        if not match and not legacy:
            return None
        name = unquote((match or legacy)["name"])  # type: ignore[index]
        invocation_type = (
            "Event" if legacy else request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        )
        try:
            check_payload_size(len(request.get_data()), invocation_type, legacy=bool(legacy))
            result = runtime.invoke(
                name,
                request.get_data(),
                invocation_type=invocation_type,
                qualifier=request.args.get("Qualifier"),
            )
        except LambdaApiError as exc:
            return error_response(exc)
        response = Response(
            result.payload, status=result.status_code, content_type="application/json"
        )
        response.headers["X-Amz-Executed-Version"] = result.executed_version
        response.headers["x-amzn-RequestId"] = result.request_id
        if result.function_error:
            response.headers["X-Amz-Function-Error"] = result.function_error
        if request.headers.get("X-Amz-Log-Type") == "Tail" and invocation_type == "RequestResponse":
            tail = result.log_tail.encode()[-LOG_TAIL_BYTES:]
            response.headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        if legacy:
            response.status_code = 202
            response.set_data(json.dumps({"Status": 202}))
        return response

    cloud.add_interceptor(intercept)
