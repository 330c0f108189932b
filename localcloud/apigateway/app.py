"""The execute-api endpoint: deployed REST API stages answered over HTTP (a WSGI app).

Order, as API Gateway applies it: route (resource + method, else 403 Missing
Authentication Token) -> API key (apiKeyRequired: 403 Forbidden when missing,
wrong, disabled or not in a usage plan of this stage) -> usage plan throttle
(token bucket rate/burst per key: 429 Too Many Requests) and quota (429 Limit
Exceeded) -> integration (AWS_PROXY to Lambda, HTTP / HTTP_PROXY, MOCK) with the
integration timeout (default and maximum 29 s: 504).

Not modelled: the resource tree is served as it is now, not as snapshotted by
the deployment; stage and method throttling settings; authorizers; request
validation; VTL mapping templates (a MOCK answers its response template as is).
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from localcloud.apigateway import MOUNT_PREFIX
from localcloud.apigateway.router import match_route
from localcloud.apigateway.throttle import TokenBucket
from localcloud.moto_reach import apigateway as apigateway_reach

logger = logging.getLogger(__name__)

MAX_INTEGRATION_TIMEOUT = 29.0
QUOTA_SECONDS = {"DAY": 86_400, "WEEK": 7 * 86_400, "MONTH": 30 * 86_400}
LAMBDA_URI = re.compile(r"functions/(?P<fn>[^/]+)/invocations")


def error(status: int, message: str, error_type: str | None = None) -> Response:
    response = Response(
        json.dumps({"message": message}), status=status, content_type="application/json"
    )
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    if error_type:
        response.headers["x-amzn-ErrorType"] = error_type
    return response


class ExecuteApi:
    """WSGI app mounted at MOUNT_PREFIX: /{api_id}/{stage}/{path}."""

    def __init__(self, cloud: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.cloud = cloud
        self.clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._quota: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()
        # One worker per request in flight (threads start on demand): a capped pool would
        # queue requests and count the queueing against the 29 s integration timeout.
        self._pool = concurrent.futures.ThreadPoolExecutor(1024, thread_name_prefix="apigw")

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.handle(request)
        except Exception:
            logger.exception("execute-api failed on %s %s", request.method, request.path)
            response = error(500, "Internal server error")
        return response(environ, start_response)

    # -- pipeline ------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        rest = request.path[len(MOUNT_PREFIX) :].lstrip("/")
        api_id, _, rest = rest.partition("/")
        stage_name, _, path = rest.partition("/")
        path = "/" + path
        with self.cloud.lock:
            backend = apigateway_reach.apigateway_backend(self.cloud.account_id, self.cloud.region)
            api = backend.apis.get(api_id)
            stage = api.stages.get(stage_name) if api is not None else None
            if api is None or stage is None:
                return error(403, "Forbidden", "ForbiddenException")
            route = match_route(api.resources.values(), path, request.method)
            if route is None:
                return error(
                    403, "Missing Authentication Token", "MissingAuthenticationTokenException"
                )
            resource, method, path_params = route
            key = None
            if method.api_key_required:
                key = self._api_key(backend, request, api_id, stage_name)
                if key is None:
                    return error(403, "Forbidden", "ForbiddenException")
            integration = method.method_integration
            stage_vars = dict(stage.variables or {})
        if key is not None:
            limited = self._throttle(key)
            if limited is not None:
                return limited
        if integration is None:
            return error(500, "Internal server error")
        event = self._event(
            request, api_id, stage_name, resource, path, path_params, stage_vars, key
        )
        timeout = MAX_INTEGRATION_TIMEOUT
        if integration.timeout_in_millis:
            timeout = min(timeout, int(integration.timeout_in_millis) / 1000.0)
        kind = integration.integration_type
        if kind == "AWS_PROXY":
            call: Callable[[], Response] = lambda: self._lambda_proxy(integration.uri, event)  # noqa: E731
        elif kind in ("HTTP", "HTTP_PROXY"):
            call = lambda: self._http(integration, request, path_params, timeout)  # noqa: E731
        elif kind == "MOCK":
            return self._mock(integration)
        else:
            logger.warning("integration type %s is not served locally", kind)
            return error(500, "Internal server error")
        future = self._pool.submit(call)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            return error(504, "Endpoint request timed out")

    def _api_key(
        self, backend: Any, request: Request, api_id: str, stage: str
    ) -> tuple[str, Any] | None:
        """(usage plan id, key) for the request's x-api-key, or None (-> 403)."""
        value = request.headers.get("x-api-key")
        if not value:
            return None
        key = next((k for k in backend.keys.values() if k.value == value), None)
        if key is None or not key.enabled:
            return None
        for plan in backend.usage_plans.values():
            stages = [(s.get("apiId"), s.get("stage")) for s in plan.api_stages or []]
            if (api_id, stage) in stages and key.id in backend.usage_plan_keys.get(plan.id, {}):
                return plan.id, (key, dict(plan.throttle or {}), dict(plan.quota or {}))
        return None

    def _throttle(self, key: tuple[str, Any]) -> Response | None:
        plan_id, (api_key, throttle, quota) = key
        slot = (plan_id, api_key.id)
        rate = throttle.get("rateLimit")
        burst = throttle.get("burstLimit")
        if rate is not None:
            rate, size = float(rate), float(burst if burst is not None else rate)
            with self._lock:
                bucket = self._buckets.get(slot)
                if bucket is None or (bucket.rate, bucket.capacity) != (rate, size):
                    bucket = self._buckets[slot] = TokenBucket(rate, size, clock=self.clock)
            if not bucket.try_take(1.0):
                return error(429, "Too Many Requests", "TooManyRequestsException")
        if quota.get("limit") is not None:
            window = QUOTA_SECONDS.get(str(quota.get("period", "DAY")).upper(), 86_400)
            with self._lock:
                began, used = self._quota.get(slot, (self.clock(), 0))
                if self.clock() - began >= window:
                    began, used = self.clock(), 0
                if used >= int(quota["limit"]):
                    return error(429, "Limit Exceeded", "LimitExceededException")
                self._quota[slot] = (began, used + 1)
        return None

    # -- integrations --------------------------------------------------------------------
    def _event(
        self,
        request: Request,
        api_id: str,
        stage: str,
        resource: Any,
        path: str,
        path_params: dict[str, str],
        stage_vars: dict[str, str],
        key: tuple[str, Any] | None,
    ) -> dict[str, Any]:
        """The Lambda proxy integration event (payload format 1.0)."""
        body_bytes = request.get_data()
        text: str | None
        try:
            text, encoded = (body_bytes.decode("utf-8"), False) if body_bytes else (None, False)
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body_bytes).decode(), True
        headers = {k: v for k, v in request.headers.items()}
        multi_headers: dict[str, list[str]] = {}
        for k, v in request.headers.items():
            multi_headers.setdefault(k, []).append(v)
        query = {k: request.args.getlist(k)[-1] for k in request.args}
        multi_query = {k: request.args.getlist(k) for k in request.args}
        now = datetime.now(UTC)
        request_id = str(uuid.uuid4())
        return {
            "resource": resource.get_path(),
            "path": path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": stage_vars or None,
            "requestContext": {
                "resourceId": resource.id,
                "resourcePath": resource.get_path(),
                "httpMethod": request.method,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{stage}{path}",
                "accountId": self.cloud.account_id,
                "protocol": "HTTP/1.1",
                "stage": stage,
                "domainPrefix": request.host.split(":")[0],
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request_id,
                "identity": {
                    "sourceIp": request.remote_addr or "127.0.0.1",
                    "userAgent": request.headers.get("User-Agent"),
                    "apiKey": key[1][0].value if key else None,
                    "apiKeyId": key[1][0].id if key else None,
                },
                "domainName": request.host,
                "apiId": api_id,
            },
            "body": text,
            "isBase64Encoded": encoded,
        }

    def _lambda_proxy(self, uri: str, event: dict[str, Any]) -> Response:
        found = LAMBDA_URI.search(uri or "")
        if found is None:
            logger.warning("AWS_PROXY integration uri %r names no Lambda function", uri)
            return error(500, "Internal server error")
        from localcloud.lambda_.types import LambdaApiError

        try:
            ctx = event["requestContext"]
            # The method's ARN, as the function's resource policy names it (execute-api).
            source_arn = (
                f"arn:aws:execute-api:{self.cloud.region}:{self.cloud.account_id}:"
                f"{ctx['apiId']}/{ctx['stage']}/{ctx['httpMethod']}{ctx['resourcePath']}"
            )
            result = self.cloud.lambdas.invoke_as(
                "apigateway.amazonaws.com",
                found["fn"],
                json.dumps(event).encode(),
                source_arn=source_arn,
                invocation_type="RequestResponse",
            )
        except LambdaApiError as exc:
            logger.warning("Lambda proxy invoke of %s failed: %s", found["fn"], exc)
            # A throttled (429) or failed invoke is an integration failure: 500, as on AWS.
            return error(500, "Internal server error")
        if result.function_error:
            # AWS's execution log: "Lambda execution failed with status 200 due to customer
            # function error"; here with the error itself, for whoever reads the cloud's log.
            logger.warning(
                "Lambda proxy: %s failed (%s): %s",
                found["fn"],
                result.function_error,
                (result.payload or b"")[:300].decode("utf-8", "replace"),
            )
            return error(502, "Internal server error")
        try:
            answer = json.loads(result.payload or b"null")
            status = int(answer.get("statusCode", 200))
            body = answer.get("body") or ""
            if not isinstance(body, str):
                raise ValueError("body is not a string")
            data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        except (ValueError, AttributeError, TypeError) as exc:
            # API Gateway answers 502 on a malformed Lambda proxy response.
            logger.warning("malformed Lambda proxy response from %s: %s", found["fn"], exc)
            return error(502, "Internal server error")
        response = Response(data, status=status)
        response.headers.pop("Content-Type", None)
        for name, value in (answer.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(name, str(value))
        response.headers.setdefault("Content-Type", "application/json")
        return response

    def _http(
        self, integration: Any, request: Request, params: dict[str, str], timeout: float
    ) -> Response:
        import requests

        url = integration.uri or ""
        for name, value in params.items():
            url = url.replace("{" + name.rstrip("+") + "}", value).replace("{" + name + "}", value)
        if request.query_string:
            url += ("&" if "?" in url else "?") + request.query_string.decode()
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        try:
            upstream = requests.request(
                integration.http_method or request.method,
                url,
                headers=headers,
                data=request.get_data(),
                timeout=timeout,
            )
        except requests.Timeout:
            return error(504, "Endpoint request timed out")
        except requests.RequestException as exc:
            logger.warning("HTTP integration %s failed: %s", url, exc)
            return error(500, "Internal server error")
        status = upstream.status_code
        if integration.integration_type == "HTTP" and integration.integration_responses:
            status = int(_select_response(integration, str(status)).status_code)
        response = Response(upstream.content, status=status)
        for name in ("Content-Type",):
            if name in upstream.headers:
                response.headers[name] = upstream.headers[name]
        return response

    def _mock(self, integration: Any) -> Response:
        templates = integration.request_templates or {}
        template = templates.get("application/json", "")
        try:
            status = str(json.loads(template or "{}").get("statusCode", 200))
        except (ValueError, AttributeError):
            status = "200"
        responses = integration.integration_responses or {}
        chosen = responses.get(status) or _select_response(integration, status)
        body = ""
        if chosen is not None:
            body = (chosen.response_templates or {}).get("application/json", "") or ""
            status = str(chosen.status_code)
        return Response(body, status=int(status), content_type="application/json")


def _select_response(integration: Any, status: str) -> Any:
    """The integration response whose selectionPattern matches `status`, else the default."""
    default = None
    for candidate in (integration.integration_responses or {}).values():
        pattern = candidate.selection_pattern
        if not pattern:
            default = candidate
        elif re.fullmatch(pattern, status):
            return candidate
    return default
