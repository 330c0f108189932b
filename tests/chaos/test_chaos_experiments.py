"""Every experiment of the catalogue: each ends with a verdict on where every event went.

The CI subset (experiments with ci=True) runs in `make test`; the rest need `--chaos-full`
(`make demo`), because they wait out the stack's own slow settings (MaximumEventAgeInSeconds,
visibility timeouts x maxReceiveCount) or load the slow API for longer.
"""

from __future__ import annotations

import pytest

from chaos.experiments import CATALOG


@pytest.mark.parametrize("name", [e.name for e in CATALOG])
def test_experiment(name: str, request: pytest.FixtureRequest) -> None:
    exp = next(e for e in CATALOG if e.name == name)
    if not exp.ci and not request.config.getoption("--chaos-full"):
        pytest.skip("not in the fast CI subset: runs with --chaos-full (make demo)")
    results = request.getfixturevalue("chaos_results")
    result = results[name]
    request.getfixturevalue("chaos_expect").passed(result)
    # THEN nothing was lost, whatever else the verdicts say
    assert result["lost"] == 0, f"lost ids: {result['lost_ids']}"
