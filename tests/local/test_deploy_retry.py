"""Emulated deploy: a create that already happened is adopted, not failed on, when the
resource is provably this stack's own (a botocore retry of the create call, or a create an
interrupted run left pending); any other name conflict still fails the run.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from localcloud.deploy import Engine, InterruptedDeploy, ResourceError
from tests.local.deploy_programs.readback import mismatches

TABLE = "aws:dynamodb/table:Table"

pytestmark = pytest.mark.local


def _send_out_of_band(request: Any) -> None:
    """Deliver botocore's prepared request ourselves, so the cloud acts on it once."""
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    body = request.body.encode() if isinstance(request.body, str) else request.body
    req = urllib.request.Request(request.url, data=body, headers=headers, method=request.method)
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200, resp.read()


def _factory_with_first_create_table(cloud: Any, first: Callable[[Any], None]):
    """Clients from the session cloud, except a dynamodb client (with botocore's standard
    retries, as the deploy's own) whose first CreateTable attempt goes to `first`."""
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=cloud.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    attempts: list[Any] = []

    def before_send(request: Any, **_: Any) -> None:
        attempts.append(request)
        if len(attempts) == 1:
            first(request)

    ddb.meta.events.register("before-send.dynamodb.CreateTable", before_send)
    return (lambda service: ddb if service == "dynamodb" else cloud.client(service)), attempts


def _table(engine: Engine) -> Any:
    return next(r for r in engine.load_state().resources.values() if r.type == TABLE)


def _tables(engine: Engine, prefix: str) -> list[str]:
    pages = engine.ctx.client("dynamodb").get_paginator("list_tables").paginate()
    return [n for page in pages for n in page["TableNames"] if n.startswith(prefix)]


def test_create_retried_after_its_response_was_lost_adopts_the_table(engine_for, cloud) -> None:
    # GIVEN CreateTable reaches the cloud, but its response is lost (a read timeout)
    def lose_response(request: Any) -> None:
        _send_out_of_band(request)
        raise ReadTimeoutError(endpoint_url=request.url)

    factory, attempts = _factory_with_first_create_table(cloud, lose_response)
    engine = engine_for(client_factory=factory)
    # WHEN up runs THEN botocore's retry meets "Table already exists" and the table is adopted
    result = engine.up()
    assert len(attempts) == 2
    table = _table(engine)
    assert any(s.key == table.key and s.action == "create" for s in result.steps)
    assert mismatches(table, engine.ctx.client) == []
    assert _tables(engine, "rides-") == [table.id]
    assert engine.up().changes == 0


def test_genuine_name_conflict_still_fails(engine_for, cloud) -> None:
    # GIVEN a table of the very name appears just before the create (no retry, no pending op)
    factory, attempts = _factory_with_first_create_table(cloud, _send_out_of_band)
    engine = engine_for(client_factory=factory)
    # THEN up fails naming the conflict, and the table is not claimed by the state
    with pytest.raises(ResourceError, match="ResourceInUseException"):
        engine.up()
    assert len(attempts) == 1  # not retried: nothing proves the table is this run's
    assert not any(r.type == TABLE for r in engine.load_state().resources.values())
    for name in _tables(engine, "rides-"):
        engine.ctx.client("dynamodb").delete_table(TableName=name)


def test_create_an_interrupted_run_left_pending_is_adopted(engine_for, cloud) -> None:
    # GIVEN an up that crashed while creating the table: it exists in the cloud, the state
    # file holds only the pending create of its name
    def crash(key: str, action: str) -> None:
        if key.endswith("::rides"):
            raise InterruptedDeploy(f"test hook: stop after {key}")

    engine = engine_for(hook=crash)
    with pytest.raises(InterruptedDeploy):
        engine.up()
    state = engine.load_state()
    crashed = state.resources.pop(_table(engine).key)
    state.pending = [{"key": crashed.key, "op": "create", "physical_name": crashed.id}]
    state.save()
    # WHEN up runs again THEN it reuses the pending name and adopts the table
    engine.hook = None
    engine.up()
    table = _table(engine)
    assert table.id == crashed.id and engine.load_state().pending == []
    assert mismatches(table, engine.ctx.client) == []
    assert _tables(engine, "rides-") == [table.id]
    assert engine.up().changes == 0
