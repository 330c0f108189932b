"""Both seed scenarios at a tiny scale on one deployed stack: the reports' counts add up.

One local cloud and one emulated deploy serve both scenarios (a deploy of the whole
program is most of the time here); each scenario switches the stack's config with
an `up` carrying its overrides, as the scenario commands do on their own cloud.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios import base, observability, reliability

# Opt-in (`make test-scenarios`): these start a second local cloud in the pytest process,
# and two clouds in one process share moto's backends, so the session cloud's pollers and
# evaluators act on this one's resources too; and on a 2-core CI host they took 9-13 min.
pytestmark = [
    pytest.mark.local,
    pytest.mark.skipif(
        os.environ.get("FAILMODES_SCENARIO_TESTS") != "1",
        reason="seed scenario tests are opt-in: run `make test-scenarios` "
        "(own process and cloud; several minutes)",
    ),
]

# Tiny: the observability profile compressed 200x (about 60 requests in 5 s), the reliability
# one 30x (about 50 rides in 6 s). The time scale shortens AWS's async retry delays alike.
OBSERVABILITY_COMPRESS = 200.0
RELIABILITY_COMPRESS = 30.0
TIME_SCALE = 1 / OBSERVABILITY_COMPRESS


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[base.Deployment]:
    state_dir = tmp_path_factory.mktemp("scenario-state")
    # No destroy: the cloud holds everything in memory and the state directory is thrown away.
    with base.local_deployment(time_scale=TIME_SCALE, state_dir=state_dir,
                               destroy=False) as deployed:
        yield deployed


def _adds_up(variant: dict) -> None:
    assert variant["sent"] == (variant["delivered"] + variant["dead_lettered"]
                               + variant["buffered"] + variant["lost"]), variant


def test_observability_counts_add_up(deployment: base.Deployment, tmp_path: Path) -> None:
    # GIVEN the seed profile compressed 200x, WHEN both variants run
    params = observability.parameters(OBSERVABILITY_COMPRESS)
    doc = observability.run(deployment, params, variants=["direct", "flow"],
                            drain_seconds=30, say=lambda _: None)
    # THEN every accepted request is delivered, dead-lettered, buffered or lost, and the
    # flow-controlled variant lost nothing
    for name, variant in doc["variants"].items():
        _adds_up(variant)
        assert variant["sent"] > 0, name
        assert variant["requests"] == variant["sent"] + variant["rejected_by_notifier_api"]
        assert variant["delivered"] > 0, f"{name}: nothing delivered: {variant}"
    assert doc["variants"]["flow"]["lost"] == 0, doc["variants"]["flow"]
    assert doc["variants"]["flow"]["peak_concurrency"] <= params["overrides"][
        "pipelineMaximumConcurrency"]
    assert observability.passed(doc)
    report = base.write_report(tmp_path, doc, observability.markdown(doc, None))
    assert "| flow |" in report.with_name("report.md").read_text()


def test_reliability_counts_add_up(deployment: base.Deployment) -> None:
    # GIVEN the workshop's load compressed 30x, WHEN it runs at 1 WCU and then on demand
    params = reliability.parameters(RELIABILITY_COMPRESS)
    doc = reliability.run(deployment, params, variants=["provisioned", "on_demand"],
                          say=lambda _: None)
    provisioned, on_demand = doc["variants"]["provisioned"], doc["variants"]["on_demand"]
    # THEN at 1 WCU failures land in the function's DLQ and none is lost; on demand none fails
    for variant in (provisioned, on_demand):
        _adds_up(variant)
        assert variant["lost"] == 0, variant
    assert provisioned["billing_mode"] == "PROVISIONED"
    assert provisioned["dead_lettered"] > 0, provisioned
    assert on_demand["billing_mode"] == "PAY_PER_REQUEST"
    assert on_demand["dlq_arrivals"] == 0 and on_demand["delivered"] == on_demand["sent"]
    assert reliability.passed(doc)
