"""Emulated deploy engine on a small program with one resource of every type
(deploy_programs/every_type): settings read back, idempotence, updates, replacements,
removals, interruption and resume, stale state, and loud failures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localcloud.deploy import (
    HANDLERS,
    Engine,
    InterruptedDeploy,
    StaleState,
    UnsupportedInput,
    UnsupportedResourceType,
)
from localcloud.deploy import cli as deploy_cli
from tests.local.deploy_programs.readback import CHECKERS, mismatches

PROGRAMS = Path(__file__).parent / "deploy_programs"
EVERY_TYPE = PROGRAMS / "every_type"

pytestmark = pytest.mark.local


def _custom(engine: Engine) -> list[Any]:
    return [r for r in engine.load_state().resources.values() if r.custom]


def _assert_gone(engine: Engine, records: list[Any]) -> None:
    for record in records:
        found = HANDLERS[record.type].exists(engine.ctx, record.id, record.outputs)
        assert found in (None, False), f"{record.key} still exists after destroy"


def test_every_type_is_created_with_its_settings_rerun_then_destroyed(engine_for, cloud) -> None:
    # GIVEN a program with one resource of every handled type
    engine = engine_for()
    # WHEN it is deployed
    result = engine.up()
    # THEN every resource was created, and each reads back as the program asked
    records = _custom(engine)
    assert result.counts() == {"create": len(records)}
    # A new handler needs a resource here and a read-back check in deploy_programs/readback.py.
    assert {r.type for r in records} == set(CHECKERS) == set(HANDLERS)
    problems = [m for r in records for m in mismatches(r, engine.ctx.client)]
    assert problems == []
    # AND outputs are real values from the cloud
    out = result.outputs
    sqs = cloud.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=out["queue_url"], AttributeNames=["QueueArn"])
    assert arn["Attributes"]["QueueArn"] == out["queue_arn"]
    assert cloud.client("lambda").get_function(FunctionName=out["function"]["name"])
    assert out["function"]["timeout"] == 4  # Pulumi.local.yaml overrides the default 5
    assert out["api_url"].startswith(cloud.endpoint) and out["api_url"].endswith("/local/")
    assert out["fifo_url"].endswith(".fifo")
    # WHEN up runs again THEN nothing changes, and preview agrees
    before = engine.load_state()
    again = engine.up()
    assert again.changes == 0, [s.line() for s in again.steps if s.action != "same"]
    assert {k: (r.id, r.inputs) for k, r in engine.load_state().resources.items()} == {
        k: (r.id, r.inputs) for k, r in before.resources.items()
    }
    assert engine.preview().changes == 0
    # WHEN destroyed THEN nothing of the stack is left and the state is empty
    destroyed = engine.destroy()
    assert destroyed.counts() == {"delete": len(result.steps)}
    assert engine.load_state().resources == {}
    _assert_gone(engine, records)
    assert not [
        q
        for q in sqs.list_queues().get("QueueUrls", [])
        if q in (out["queue_url"], out["dlq_url"], out["fifo_url"])
    ]


def test_config_change_updates_in_place_replaces_and_deletes(engine_for, cloud) -> None:
    engine = engine_for()
    first = engine.up()
    queue_url = first.outputs["queue_url"]
    layer_before = next(r.id for r in _custom(engine) if r.name == "deps")
    # GIVEN a different maxReceiveCount, layer content, and no FIFO queue
    changed = engine_for(
        config_overrides={"maxReceiveCount": 5, "layerMarker": "2", "withFifo": False}
    )
    plan = {s.name: s.action for s in changed.preview().steps if s.action != "same"}
    # THEN the plan says what will happen, per resource
    assert plan["work"] == "update"
    assert plan["deps"] == "replace"  # layer versions are immutable
    assert plan["ordered"] == "delete"
    result = changed.up()
    done = {s.name: s.action for s in result.steps if s.action != "same"}
    assert done["work"] == "update" and done["deps"] == "replace" and done["ordered"] == "delete"
    assert done["worker"] == "update"  # the function now points at the new layer version
    # AND the cloud holds the new settings
    attrs = cloud.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]
    )
    assert json.loads(attrs["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == 5
    assert result.outputs["queue_url"] == queue_url  # updated in place, same queue
    assert result.outputs["fifo_url"] is None
    records = _custom(changed)
    assert [m for r in records for m in mismatches(r, changed.ctx.client)] == []
    fn = cloud.client("lambda").get_function_configuration(
        FunctionName=result.outputs["function"]["name"]
    )
    layer = next(r for r in records if r.name == "deps")
    assert [x["Arn"] for x in fn["Layers"]] == [layer.id] != [layer_before]


def test_interrupted_up_resumes_then_destroy_cleans(engine_for, cloud) -> None:
    # GIVEN an up that crashes after its 10th change
    changes: list[str] = []

    def crash(key: str, action: str) -> None:
        changes.append(key)
        if len(changes) == 10:
            raise InterruptedDeploy(f"test hook: stop after {key}")

    engine = engine_for(hook=crash)
    with pytest.raises(InterruptedDeploy):
        engine.up()
    # THEN the state file holds exactly what was created, and no stack outputs yet
    state = engine.load_state()
    assert len(state.resources) == 10 and state.pending == []
    assert state.outputs == {}
    partial = _custom(engine)
    assert [m for r in partial for m in mismatches(r, engine.ctx.client)] == []
    # WHEN up runs again THEN it creates only the rest
    engine.hook = None
    resumed = engine.up()
    counts = resumed.counts()
    assert counts["same"] == 10 and counts["create"] == len(resumed.steps) - 10
    assert resumed.outputs["queue_url"] and engine.up().changes == 0
    # AND an interrupted destroy can be finished by another destroy
    everything = _custom(engine)
    deleted: list[str] = []

    def crash_destroy(key: str, action: str) -> None:
        deleted.append(key)
        if len(deleted) == 5:
            raise InterruptedDeploy("test hook: stop destroy")

    engine.hook = crash_destroy
    with pytest.raises(InterruptedDeploy):
        engine.destroy()
    engine.hook = None
    assert len(engine.load_state().resources) == len(resumed.steps) - 5
    engine.destroy()
    assert engine.load_state().resources == {}
    _assert_gone(engine, everything)


def test_state_that_the_cloud_lost_is_refused(engine_for, cloud) -> None:
    engine = engine_for()
    engine.up()
    # GIVEN the cloud lost a resource the state lists (as after a restart)
    first = min(
        (
            r
            for r in _custom(engine)
            if HANDLERS[r.type].exists(engine.ctx, r.id, r.outputs) is not None
        ),
        key=lambda r: r.seq,
    )
    HANDLERS[first.type].delete(engine.ctx, first.id, first.outputs)
    # THEN up refuses, naming the resource and the way out
    with pytest.raises(StaleState, match="destroy"):
        engine.up()
    engine.destroy()  # missing resources are skipped
    assert engine.load_state().resources == {}


def test_unsupported_type_fails_naming_it(engine_for) -> None:
    engine = engine_for(PROGRAMS / "unsupported_type")
    with pytest.raises(UnsupportedResourceType, match=r"aws:s3/bucket:Bucket"):
        engine.up()


def test_unapplied_input_fails_naming_it(engine_for) -> None:
    engine = engine_for(PROGRAMS / "unsupported_input")
    with pytest.raises(UnsupportedInput, match="imageUri"):
        engine.up()
    assert _custom(engine) == []


def test_cli_up_outputs_json_and_destroy(cloud, tmp_path, capsys) -> None:
    common = [
        "--stack",
        "local",
        "--cwd",
        str(EVERY_TYPE),
        "--state-dir",
        str(tmp_path),
        "--endpoint",
        cloud.endpoint,
    ]
    try:
        assert deploy_cli.main(["up", *common, "--quiet"]) == 0
        capsys.readouterr()
        assert deploy_cli.main(["preview", *common]) == 0
        assert "(0 would change)" in capsys.readouterr().out
        assert deploy_cli.main(["outputs", *common, "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        saved = json.loads((tmp_path / "local" / "state.json").read_text())
        assert printed == saved["outputs"] and printed["queue_url"].startswith(cloud.endpoint)
        assert saved["endpoint"] == cloud.endpoint
    finally:
        assert deploy_cli.main(["destroy", *common, "--quiet"]) == 0
    assert json.loads((tmp_path / "local" / "state.json").read_text())["resources"] == []


def test_cli_without_endpoint_says_how_to_get_one(monkeypatch, capsys) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert deploy_cli.main(["up", "--cwd", str(EVERY_TYPE)]) == 2
    assert "AWS_ENDPOINT_URL" in capsys.readouterr().err
