"""The local cloud's answers to over-quota invokes and unknown actions, as AWS gives them
(the same code paths run end to end in tests/local/test_server.py and test_lambda_sync.py)."""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from localcloud.lambda_.http_api import (
    ASYNC_PAYLOAD_LIMIT,
    SYNC_PAYLOAD_LIMIT,
    check_payload_size,
)
from localcloud.lambda_.types import RequestEntityTooLarge
from localcloud.server import _unknown_operation


@pytest.mark.parametrize(
    ("size", "kind", "limit"),
    [
        (SYNC_PAYLOAD_LIMIT + 1, "RequestResponse", "smaller than 6291456 bytes"),
        (ASYNC_PAYLOAD_LIMIT + 1, "Event", "(limit 1048576 bytes)"),
    ],
)
def test_over_quota_is_413_request_entity_too_large(size: int, kind: str, limit: str) -> None:
    # GIVEN / WHEN a body one byte over the quota of its invocation type
    with pytest.raises(RequestEntityTooLarge) as err:
        check_payload_size(size, kind)
    # THEN AWS's status, code and message
    assert err.value.status == 413 and err.value.code == "RequestEntityTooLargeException"
    assert limit in err.value.message


def test_at_the_quota_is_accepted() -> None:
    # GIVEN / WHEN / THEN exactly the quota passes, for both types
    check_payload_size(SYNC_PAYLOAD_LIMIT, "RequestResponse")
    check_payload_size(ASYNC_PAYLOAD_LIMIT, "Event")
    check_payload_size(ASYNC_PAYLOAD_LIMIT + 1, "RequestResponse")  # a sync call may be larger


def _request(**kwargs) -> Request:
    return Request(EnvironBuilder(method="POST", **kwargs).get_environ())


def test_an_unknown_query_action_is_invalid_action() -> None:
    request = _request(data={"Action": "NoSuchAction"})
    answer = _unknown_operation(request, "sns")
    assert answer is not None and answer.status_code == 400
    assert b"<Code>InvalidAction</Code>" in answer.get_data()
    # a known one goes on to moto
    assert _unknown_operation(_request(data={"Action": "ListTopics"}), "sns") is None


def test_an_unknown_json_target_is_unknown_operation() -> None:
    bad = _request(data="{}", headers={"X-Amz-Target": "DynamoDB_20120810.NoSuch"})
    answer = _unknown_operation(bad, "dynamodb")
    assert answer is not None and answer.status_code == 400
    assert b"UnknownOperationException" in answer.get_data()
    good = _request(data="{}", headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"})
    assert _unknown_operation(good, "dynamodb") is None


def test_rest_and_unsigned_requests_are_left_to_moto() -> None:
    # GIVEN a REST-JSON call (Lambda names operations by path) and an unsigned request
    # THEN this check does not judge them
    assert _unknown_operation(_request(data="{}", path="/2015-03-31/functions"), "lambda") is None
    assert _unknown_operation(_request(data={"Action": "X"}), "") is None
