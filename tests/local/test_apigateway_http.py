"""API Gateway REST APIs over HTTP on the local cloud: proxy, keys, usage plan, timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from localcloud.apigateway import invoke_url
from tests.local.helpers import unique

pytestmark = pytest.mark.local

ECHO = """
import json
def handler(event, context):
    body = {"params": event["pathParameters"], "body": event["body"],
            "stage": event["requestContext"]["stage"], "query": event["queryStringParameters"]}
    headers = {"X-Resource": event["resource"]}
    return {"statusCode": 201, "headers": headers, "body": json.dumps(body)}
"""
SLOW = """
import time
def handler(event, context):
    time.sleep(3)
    return {"statusCode": 200, "body": "late"}
"""


def lambda_uri(cloud: Any, function_name: str) -> str:
    arn = f"arn:aws:lambda:{cloud.region}:{cloud.account_id}:function:{function_name}"
    return f"arn:aws:apigateway:{cloud.region}:lambda:path/2015-03-31/functions/{arn}/invocations"


def build_api(
    cloud: Any, gw: Any, routes: list[tuple[str, str, dict[str, Any], bool]]
) -> tuple[str, str]:
    """A REST API with (path part, method, integration kwargs, api key required) under root."""
    api_id = gw.create_rest_api(name=unique("api"))["id"]
    root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
    parents: dict[str, str] = {"": root}
    for path, method, integration, key_required in routes:
        parent = ""
        for part in path.strip("/").split("/"):
            here = f"{parent}/{part}"
            if here not in parents:
                parents[here] = gw.create_resource(
                    restApiId=api_id, parentId=parents[parent], pathPart=part
                )["id"]
            parent = here
        resource = parents[parent]
        gw.put_method(
            restApiId=api_id,
            resourceId=resource,
            httpMethod=method,
            authorizationType="NONE",
            apiKeyRequired=key_required,
        )
        gw.put_integration(restApiId=api_id, resourceId=resource, httpMethod=method, **integration)
    gw.create_deployment(restApiId=api_id, stageName="dev")
    return api_id, invoke_url(cloud.endpoint, api_id, "dev")


def plan_key(gw: Any, api_id: str, rate: float, burst: int) -> str:
    key = gw.create_api_key(name=unique("key"), enabled=True)
    plan = gw.create_usage_plan(
        name=unique("plan"),
        apiStages=[{"apiId": api_id, "stage": "dev"}],
        throttle={"rateLimit": rate, "burstLimit": burst},
    )
    gw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return str(key["value"])


def execute_arn(cloud: Any, api_id: str, tail: str) -> str:
    return f"arn:aws:execute-api:{cloud.region}:{cloud.account_id}:{api_id}/{tail}"


def test_lambda_proxy_round_trip_and_api_key(
    cloud: Any, aws: Any, make_function: Callable[..., str], allow_service: Callable[..., None]
) -> None:
    # GIVEN an API whose /items/{id} needs a key and proxies to a Lambda function
    gw = aws("apigateway")
    echo = make_function(ECHO)
    proxy = {"type": "AWS_PROXY", "integrationHttpMethod": "POST", "uri": lambda_uri(cloud, echo)}
    api_id, url = build_api(cloud, gw, [("items/{id}", "POST", proxy, True)])
    key = plan_key(gw, api_id, rate=100, burst=100)
    # (without the function's grant to this API's method, API Gateway answers 500)
    denied = requests.post(url + "items/42", data="{}", headers={"x-api-key": key}, timeout=30)
    assert (denied.status_code, denied.json()) == (500, {"message": "Internal server error"})
    allow_service(echo, "apigateway.amazonaws.com", execute_arn(cloud, api_id, "*/POST/items/*"))

    # WHEN called with the key THEN the function's answer comes back as the HTTP response
    answer = requests.post(
        url + "items/42?verbose=1", data='{"id": "e1"}', headers={"x-api-key": key}, timeout=30
    )
    assert answer.status_code == 201
    assert answer.headers["X-Resource"] == "/items/{id}"
    assert answer.json() == {
        "params": {"id": "42"},
        "body": '{"id": "e1"}',
        "stage": "dev",
        "query": {"verbose": "1"},
    }
    # AND without a key, or with a wrong one, 403 Forbidden
    for headers in ({}, {"x-api-key": "not-a-key"}):
        denied = requests.post(url + "items/42", data="{}", headers=headers, timeout=30)
        assert (denied.status_code, denied.json()) == (403, {"message": "Forbidden"})
    # AND a path with no resource answers as API Gateway does
    missing = requests.get(url + "nothing/here", timeout=30)
    assert (missing.status_code, missing.json()) == (
        403,
        {"message": "Missing Authentication Token"},
    )


def bucket_passes(spans: list[tuple[float, float]], rate: float, burst: int, at: str) -> int:
    """How many requests a full token bucket passes, each checked at its span's start or end."""
    tokens, last, passed = float(burst), None, 0
    for began, ended in spans:
        now = began if at == "start" else ended
        if last is not None:
            tokens = min(float(burst), tokens + (now - last) * rate)
        last = now
        if tokens >= 1:
            tokens -= 1
            passed += 1
    return passed


def test_usage_plan_throttles_beyond_rate_and_burst(cloud: Any, aws: Any) -> None:
    # GIVEN a MOCK method behind a usage plan of 5 requests/s, burst 5
    gw = aws("apigateway")
    mock = {"type": "MOCK", "requestTemplates": {"application/json": '{"statusCode": 200}'}}
    api_id, url = build_api(cloud, gw, [("ping", "GET", mock, True)])
    rate, burst = 5.0, 5
    key = plan_key(gw, api_id, rate=rate, burst=burst)
    session = requests.Session()

    # WHEN requests go as fast as they can for about two seconds
    codes: list[int] = []
    spans: list[tuple[float, float]] = []
    while not spans or time.monotonic() - spans[0][0] < 2.0:
        began = time.monotonic()
        codes.append(session.get(url + "ping", headers={"x-api-key": key}, timeout=30).status_code)
        spans.append((began, time.monotonic()))

    # THEN the bucket passes its burst plus the rate over the window, and 429s the rest:
    # as many as a token bucket (rate 5, size 5) passes for these requests, each checked
    # somewhere within its own span (a stall longer than the burst loses tokens, as on AWS).
    passed = codes.count(200)
    assert set(codes) == {200, 429}
    low, high = bucket_passes(spans, rate, burst, "end"), bucket_passes(spans, rate, burst, "start")
    assert min(low, high) - 1 <= passed <= max(low, high) + 1, (passed, low, high, len(codes))
    longest = spans[-1][1] - spans[0][0]
    assert passed <= burst + rate * longest + 1  # never more than the plan allows

    # AND a throttled answer has API Gateway's body
    throttled = next(
        answer
        for answer in (
            session.get(url + "ping", headers={"x-api-key": key}, timeout=30) for _ in range(50)
        )
        if answer.status_code == 429
    )
    assert throttled.json() == {"message": "Too Many Requests"}


def test_integration_timeout_is_504_and_http_proxy_passes_through(
    cloud: Any, aws: Any, make_function: Callable[..., str], allow_service: Callable[..., None]
) -> None:
    gw = aws("apigateway")
    slow = make_function(SLOW, timeout=10)
    allow_service(slow, "apigateway.amazonaws.com", f"arn:aws:execute-api:{cloud.region}:*")
    routes = [
        (
            "slow",
            "GET",
            {
                "type": "AWS_PROXY",
                "integrationHttpMethod": "POST",
                "uri": lambda_uri(cloud, slow),
                "timeoutInMillis": 1000,
            },
            False,
        ),
        (
            "health",
            "GET",
            {
                "type": "HTTP_PROXY",
                "integrationHttpMethod": "GET",
                "uri": f"{cloud.endpoint}/_localcloud/health",
            },
            False,
        ),
    ]
    _, url = build_api(cloud, gw, routes)
    began = time.monotonic()
    answer = requests.get(url + "slow", timeout=30)
    assert (answer.status_code, answer.json()) == (504, {"message": "Endpoint request timed out"})
    assert time.monotonic() - began < 2.5
    health = requests.get(url + "health", timeout=30)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
