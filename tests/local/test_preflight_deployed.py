"""Preflight over the real program deployed by the emulated deploy: no false alarms.

The emulated deploy does not run the policy pack, so this is the path preflight
exists for: every rule, judged on what the local cloud holds for every pattern.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaos.preflight import live_resources, preflight
from chaos.stack import Stack
from components import outputs as keys
from localcloud.deploy import Engine
from policy.invariants import CHECKS
from policy.model import (
    ALARM,
    EVENT_TARGET,
    FUNCTION,
    INVOKE_CONFIG,
    MAPPING,
    PERMISSION,
    QUEUE,
    ROLE_POLICY,
    SUBSCRIPTION,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Declared settings each pattern's outputs hold (components/outputs.py), checked live.
DECLARED_AT_LEAST = {
    keys.QUEUE_WORKER: 4,  # maxReceiveCount, DLQ, visibility, batch size
    keys.ASYNC_FUNCTION: 5,  # retries, event age, OnFailure, function DLQ, subscription DLQ
    keys.RIDE_RECORDS: 3,  # billing mode, function DLQ, subscription DLQ
    keys.EVENT_PIPELINE: 6,  # target retries, age, DLQ; delivery retries, age, DLQ
    keys.EVENT_PIPELINE_FLOW: 5,  # target retries, age, DLQ; buffer maxReceiveCount, DLQ
    keys.SLOW_API: 2,  # usage plan rate and burst
    keys.STREAM_PROCESSOR: 4,  # retries, record age, bisect, OnFailure
    keys.WORKFLOW: 3,  # Retry MaxAttempts, IntervalSeconds, BackoffRate
    keys.FAN_OUT: 6,  # per subscriber (two): redrive DLQ, filter policy, subscription DLQ
    keys.DLQ_REDRIVER: 1,  # REDRIVE_SOURCES
}

pytestmark = pytest.mark.local


@pytest.fixture(scope="module")
def deployed(cloud_process: Any, tmp_path_factory: pytest.TempPathFactory):
    engine = Engine(
        PROJECT_DIR, "local", cloud_process.endpoint, state_dir=tmp_path_factory.mktemp("pf")
    )
    outputs = dict(engine.up().outputs)
    yield Stack(
        name="local",
        outputs=outputs,
        endpoint=cloud_process.endpoint,
        region=str(outputs.get(keys.REGION) or "us-east-1"),
        source=f"emulated deploy on {cloud_process.endpoint}",
    )
    engine.destroy()


@pytest.mark.parametrize("pattern", keys.PATTERNS)
def test_every_pattern_of_the_deployed_program_passes_preflight(deployed: Stack, pattern: str):
    # GIVEN the program deployed without the policy pack WHEN preflight reads it back
    verdicts = preflight(deployed, pattern)
    # THEN every rule has its verdict and none fails
    assert len(verdicts) == len(CHECKS) + 1
    failures = [v.message() for v in verdicts if not v.passed]
    assert failures == [], "\n".join(failures)
    # AND the settings the pattern's outputs declare were compared with the cloud's
    declared = verdicts[-1]
    assert declared.name == "preflight: declared-settings"
    assert declared.figures["settings_checked"] >= DECLARED_AT_LEAST[pattern]


def test_preflight_reads_every_kind_of_setting_the_rules_judge(deployed: Stack):
    # GIVEN every pattern WHEN read back THEN each resource type some rule reads was found
    read = {r.type for pattern in keys.PATTERNS for r in live_resources(deployed, pattern)}
    assert read >= {QUEUE, FUNCTION, MAPPING, INVOKE_CONFIG, PERMISSION, SUBSCRIPTION}
    assert read >= {EVENT_TARGET, ALARM, ROLE_POLICY}


def test_the_seeds_flow_buffer_without_redrive_fails_on_the_deployed_stack(deployed: Stack):
    # GIVEN the flow-control buffer's redrive policy removed (the seed's bug), in the cloud only
    sqs = deployed.client("sqs")
    url = deployed.get(f"{keys.EVENT_PIPELINE_FLOW}.buffer_queue_url")
    before = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})
    try:
        # WHEN preflight runs on that pattern
        failed = {v.name: v.problems for v in preflight(deployed, keys.EVENT_PIPELINE_FLOW)}
        failed = {name: problems for name, problems in failed.items() if problems}
    finally:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=before["Attributes"])
    # THEN the redrive rule names the buffer and the EventBridge target that writes to it
    (line,) = failed.pop("preflight: sqs-source-redrive")
    assert line.startswith(url.rsplit("/", 1)[-1] + ":") and "written by rule" in line
    # AND the buffer's declared maxReceiveCount and DLQ read absent
    drift = failed.pop("preflight: declared-settings")
    assert [d.split(":", 1)[0] for d in drift] == [
        "event_pipeline_flow.max_receive_count",
        "event_pipeline_flow.delivery_dlq_url",
    ]
    assert failed == {}
