"""The execute-api WSGI app over moto's API Gateway backend, with a fake Lambda runtime."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from werkzeug.test import Client

from localcloud.apigateway import invoke_url
from localcloud.apigateway.app import ExecuteApi
from localcloud.apigateway.router import match_route
from localcloud.apigateway.throttle import TokenBucket

FN_ARN = "arn:aws:lambda:us-east-1:123456789012:function:echo"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN_ARN}/invocations"


class FakeLambdas:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.callers: list[tuple[str, str | None]] = []

    def invoke(self, name: str, payload: bytes, **_: Any) -> Any:
        event = json.loads(payload)
        self.events.append(event)
        body = json.dumps({"path": event["path"], "params": event["pathParameters"]})
        answer = {"statusCode": 201, "headers": {"X-Echo": "yes"}, "body": body}
        return SimpleNamespace(payload=json.dumps(answer).encode(), function_error=None)

    def invoke_as(self, service: str, name: str, payload: bytes, **kwargs: Any) -> Any:
        # The function's grant to API Gateway is the runtime's concern (tests/local).
        self.callers.append((service, kwargs.get("source_arn")))
        return self.invoke(name, payload, **kwargs)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> Iterator[dict[str, Any]]:
    with mock_aws():
        gw = boto3.client("apigateway", region_name="us-east-1")
        api_id = gw.create_rest_api(name="t")["id"]
        root = gw.get_resources(restApiId=api_id)["items"][0]["id"]
        items = gw.create_resource(restApiId=api_id, parentId=root, pathPart="items")["id"]
        item = gw.create_resource(restApiId=api_id, parentId=items, pathPart="{id}")["id"]
        proxy = gw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
        for resource, key in ((item, True), (proxy, False)):
            gw.put_method(
                restApiId=api_id,
                resourceId=resource,
                httpMethod="ANY",
                authorizationType="NONE",
                apiKeyRequired=key,
            )
            gw.put_integration(
                restApiId=api_id,
                resourceId=resource,
                httpMethod="ANY",
                type="AWS_PROXY",
                integrationHttpMethod="POST",
                uri=URI,
            )
        gw.create_deployment(restApiId=api_id, stageName="dev")
        key = gw.create_api_key(name="k", enabled=True)
        plan = gw.create_usage_plan(
            name="p",
            apiStages=[{"apiId": api_id, "stage": "dev"}],
            throttle={"rateLimit": 2.0, "burstLimit": 3},
        )
        gw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        lambdas = FakeLambdas()
        cloud = SimpleNamespace(
            lock=threading.RLock(), account_id="123456789012", region="us-east-1", lambdas=lambdas
        )
        clock = Clock()
        app = ExecuteApi(cloud, clock=clock)
        yield {
            "client": Client(app),
            "api_id": api_id,
            "key": key["value"],
            "clock": clock,
            "lambdas": lambdas,
        }


def test_lambda_proxy_round_trip_with_path_params(api: dict[str, Any]) -> None:
    url = f"/_aws/execute-api/{api['api_id']}/dev/items/42?x=1"
    response = api["client"].post(url, data=b'{"id": "e1"}', headers={"x-api-key": api["key"]})
    assert response.status_code == 201
    assert response.headers["X-Echo"] == "yes"
    assert response.get_json() == {"path": "/items/42", "params": {"id": "42"}}
    event = api["lambdas"].events[-1]
    # API Gateway invokes as itself, from the method's execute-api ARN
    service, source_arn = api["lambdas"].callers[-1]
    assert service == "apigateway.amazonaws.com"
    assert source_arn == (
        f"arn:aws:execute-api:us-east-1:123456789012:{api['api_id']}/dev/POST/items/{{id}}"
    )
    assert event["resource"] == "/items/{id}"
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["body"] == '{"id": "e1"}'
    assert event["requestContext"]["stage"] == "dev"
    assert event["requestContext"]["identity"]["apiKey"] == api["key"]


def test_greedy_proxy_and_missing_route(api: dict[str, Any]) -> None:
    response = api["client"].get(f"/_aws/execute-api/{api['api_id']}/dev/a/b/c")
    assert response.get_json()["params"] == {"proxy": "a/b/c"}
    response = api["client"].get(f"/_aws/execute-api/{api['api_id']}/nostage/a")
    assert response.status_code == 403


def test_api_key_missing_or_wrong_is_forbidden(api: dict[str, Any]) -> None:
    url = f"/_aws/execute-api/{api['api_id']}/dev/items/1"
    for headers in ({}, {"x-api-key": "wrong"}):
        response = api["client"].get(url, headers=headers)
        assert response.status_code == 403
        assert response.get_json() == {"message": "Forbidden"}


def test_usage_plan_burst_then_rate(api: dict[str, Any]) -> None:
    url = f"/_aws/execute-api/{api['api_id']}/dev/items/1"
    headers = {"x-api-key": api["key"]}
    codes = [api["client"].get(url, headers=headers).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]  # burst 3
    api["clock"].now += 1.0  # rate 2/s refills two tokens
    codes = [api["client"].get(url, headers=headers).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    throttled = api["client"].get(url, headers=headers)
    assert throttled.get_json() == {"message": "Too Many Requests"}


def test_token_bucket_debt_and_reconfigure() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, 5.0, initial=1.0, clock=clock)
    assert bucket.try_take(1.0) and not bucket.try_take(0.5)
    bucket.charge(2.0)
    clock.now += 2.5
    assert bucket.tokens == pytest.approx(0.5)
    bucket.reconfigure(10.0, 20.0)
    clock.now += 1.0
    assert bucket.tokens == pytest.approx(10.5)
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(-1, 1)


def test_router_precedence() -> None:
    def res(path: str) -> Any:
        return SimpleNamespace(get_path=lambda: path, resource_methods={"GET": path})

    resources = [res("/{proxy+}"), res("/items/{id}"), res("/items/new")]
    assert match_route(resources, "/items/new", "GET")[1] == "/items/new"
    assert match_route(resources, "/items/7", "GET")[2] == {"id": "7"}
    assert match_route(resources, "/other/x", "GET")[2] == {"proxy": "other/x"}
    assert match_route(resources, "/items/7", "POST") is None


def test_invoke_url_form() -> None:
    assert invoke_url("http://127.0.0.1:4566", "abc", "dev") == (
        "http://127.0.0.1:4566/_aws/execute-api/abc/dev/"
    )
    with pytest.raises(ValueError, match="stage"):
        invoke_url("http://127.0.0.1:1", "abc", "")
