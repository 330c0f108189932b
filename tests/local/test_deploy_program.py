"""The real Pulumi program (__main__.py, stack `local`) deployed by the emulated deploy on
the session's local cloud: preview, up, outputs, settings read back, a second up that
changes nothing, the API keys at work (the notifier's, the slow API's from its secret), a config
change that updates in place, and a destroy that leaves nothing.

One deployment serves the module (the program has ~200 resources); the tests run in file
order and the last one destroys it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from components import outputs as keys
from localcloud.deploy import HANDLERS, Engine
from tests.local.deploy_programs.readback import CHECKERS, mismatches
from tests.local.helpers import unique, wait_for

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.local


@pytest.fixture(scope="module")
def deployed(cloud_process: Any, tmp_path_factory: pytest.TempPathFactory):
    state_dir = tmp_path_factory.mktemp("deploy-program")
    engine = Engine(PROJECT_DIR, "local", cloud_process.endpoint, state_dir=state_dir)
    facts: dict[str, Any] = {"engine": engine, "preview": engine.preview()}
    started = time.monotonic()
    facts["up"] = engine.up()
    facts["up_seconds"] = time.monotonic() - started
    print(
        f"\nup of the whole program: {facts['up_seconds']:.1f} s, "
        f"{len(facts['up'].steps)} registrations"
    )
    yield facts
    if engine.load_state().resources:
        engine.destroy()


def test_preview_of_a_fresh_stack_creates_everything_and_matches_up(deployed) -> None:
    preview, up = deployed["preview"], deployed["up"]
    assert {s.action for s in preview.steps} == {"create"}
    # The SDK registers from a thread pool: the order varies, the set does not.
    assert sorted((s.type, s.name) for s in preview.steps) == sorted(
        (s.type, s.name) for s in up.steps
    )


def test_outputs_are_real_and_complete(deployed, cloud) -> None:
    engine: Engine = deployed["engine"]
    outputs = engine.load_state().outputs
    assert outputs == json.loads(json.dumps(deployed["up"].outputs, default=str))
    for pattern in keys.PATTERNS:
        assert outputs.get(pattern), f"pattern {pattern} not exported"
    assert outputs[keys.CHAOS_ENABLED] is True and outputs[keys.STACK] == "local"
    qw = outputs[keys.QUEUE_WORKER]
    sqs = engine.ctx.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=qw["queue_url"], AttributeNames=["All"])
    assert attrs["Attributes"]["QueueArn"] == qw["queue_arn"]
    redrive = json.loads(attrs["Attributes"]["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == qw["dlq_arn"]
    assert int(redrive["maxReceiveCount"]) == qw["max_receive_count"] == 2  # Pulumi.local.yaml
    fn = engine.ctx.client("lambda").get_function_configuration(FunctionName=qw["function"]["name"])
    assert fn["FunctionArn"] == qw["function"]["arn"] and fn["Timeout"] == 3
    assert outputs[keys.SLOW_API]["url"].startswith(cloud.endpoint)
    table = outputs[keys.LEDGER_TABLE]
    assert engine.ctx.client("dynamodb").describe_table(TableName=table)["Table"]["TableName"]


def test_every_resource_reads_back_as_the_program_asked(deployed) -> None:
    engine: Engine = deployed["engine"]
    records = [r for r in engine.load_state().resources.values() if r.custom]
    unchecked = {r.type for r in records} - set(CHECKERS)
    assert not unchecked, f"types deployed without a read-back check: {unchecked}"
    problems = [m for r in records for m in mismatches(r, engine.ctx.client)]
    assert problems == []


def test_each_notifier_api_takes_only_calls_with_its_own_key(deployed) -> None:
    outputs = deployed["engine"].load_state().outputs
    for pipeline in (keys.EVENT_PIPELINE, keys.EVENT_PIPELINE_FLOW):
        out = outputs[pipeline]
        url, key = out["api_url"], out["api_key_value"]
        # GIVEN the notifier API of a stack deployed without notifierApiOpen
        assert key and out["api_open"] is False
        # WHEN called without a key, or with another API's key THEN API Gateway refuses: 403
        for headers in ({}, {"x-api-key": outputs[keys.SLOW_API]["api_key_value"]}):
            refused = requests.post(url, json={"id": unique("no-key")}, headers=headers, timeout=30)
            assert refused.status_code == 403, (pipeline, headers, refused.text)
        # WHEN called with its key THEN the notifier takes the event
        taken = requests.post(
            url, json={"id": unique("key")}, headers={"x-api-key": key}, timeout=30
        )
        assert taken.status_code == 202, (pipeline, taken.text)


def test_delivery_reaches_the_slow_api_with_the_key_from_its_secret(deployed) -> None:
    engine: Engine = deployed["engine"]
    outputs = engine.load_state().outputs
    slow, pipeline = outputs[keys.SLOW_API], outputs[keys.EVENT_PIPELINE]
    # GIVEN the slow API's key in its secret, and delivery holding only the secret's ARN
    secret = engine.ctx.client("secretsmanager").get_secret_value(
        SecretId=slow["api_key_secret_arn"]
    )
    assert secret["SecretString"] == slow["api_key_value"]
    env = engine.ctx.client("lambda").get_function_configuration(
        FunctionName=pipeline["delivery"]["name"]
    )["Environment"]["Variables"]
    assert env["SLOW_API_KEY_SECRET"] == slow["api_key_secret_arn"]
    assert slow["api_key_value"] not in env.values()
    # WHEN an event goes in through the notifier API
    event_id = unique("delivered")
    sent = requests.post(
        pipeline["api_url"],
        json={"id": event_id},
        headers={"x-api-key": pipeline["api_key_value"]},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text
    # THEN delivery got past the slow API's key check: its side effect is in the ledger
    ledger = engine.ctx.client("dynamodb")
    partition = outputs[keys.ROUTES][keys.EVENT_PIPELINE]["none"]["ledger_pattern"]
    wait_for(
        lambda: ledger.get_item(
            TableName=outputs[keys.LEDGER_TABLE],
            Key={"pattern": {"S": partition}, "event_id": {"S": event_id}},
            ConsistentRead=True,
        ).get("Item"),
        timeout=90,
        what=f"{event_id} delivered to the slow API",
    )


def test_second_up_changes_nothing(deployed) -> None:
    engine: Engine = deployed["engine"]
    again = engine.up()
    assert again.changes == 0, [s.line() for s in again.steps if s.action != "same"]


def test_config_change_updates_redrive_in_place(deployed) -> None:
    engine: Engine = deployed["engine"]
    qw_before = engine.load_state().outputs[keys.QUEUE_WORKER]
    changed = Engine(
        PROJECT_DIR,
        "local",
        engine.endpoint,
        state_dir=engine.state_dir,
        config_overrides={"queueMaxReceiveCount": 5},
    )
    result = changed.up()
    touched = {(s.action, s.type) for s in result.steps if s.action != "same"}
    assert ("update", "aws:sqs/queue:Queue") in touched
    assert all(action == "update" for action, _ in touched), touched
    qw = result.outputs[keys.QUEUE_WORKER]
    assert qw["queue_url"] == qw_before["queue_url"]  # the same queue, updated
    attrs = engine.ctx.client("sqs").get_queue_attributes(
        QueueUrl=qw["queue_url"], AttributeNames=["RedrivePolicy"]
    )
    assert int(json.loads(attrs["Attributes"]["RedrivePolicy"])["maxReceiveCount"]) == 5
    assert qw["max_receive_count"] == 5


def test_destroy_leaves_nothing_of_the_stack(deployed) -> None:
    engine: Engine = deployed["engine"]
    records = [r for r in engine.load_state().resources.values() if r.custom]
    started = time.monotonic()
    result = engine.destroy()
    seconds = time.monotonic() - started
    print(f"\ndestroy of the whole program: {seconds:.1f} s, {len(result.steps)} records")
    assert engine.load_state().resources == {} and engine.load_state().outputs == {}
    left = [r.key for r in records if HANDLERS[r.type].exists(engine.ctx, r.id, r.outputs)]
    assert left == []
    names = {r.physical_name for r in records if r.physical_name}
    lam = engine.ctx.client("lambda")
    assert not names & {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert not names & set(engine.ctx.client("dynamodb").list_tables()["TableNames"])
    queue_urls = {r.id for r in records if r.type == "aws:sqs/queue:Queue"}
    assert not queue_urls & set(engine.ctx.client("sqs").list_queues().get("QueueUrls", []))
    alarms = engine.ctx.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert not names & {a["AlarmName"] for a in alarms}
