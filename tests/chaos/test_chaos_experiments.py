"""Every experiment of the catalogue: each ends with a verdict on where every event went.

The CI subset (experiments with ci=True) runs in `make test`; the rest need `--chaos-full`
(`make demo`), because they wait out the stack's own slow settings (MaximumEventAgeInSeconds,
visibility timeouts x maxReceiveCount) or load the slow API for longer. The selected
experiments run once per session, concurrently across patterns (`chaos_results`).
"""

from __future__ import annotations

import pytest

from chaos.experiments import CATALOG


@pytest.mark.parametrize("name", [e.name for e in CATALOG])
def test_experiment(name: str, chaos_results, chaos_expect) -> None:
    # A fan-out experiment ran once per subscriber ("name[sub]"): each instance is judged.
    results = [r for n, r in chaos_results.items() if n == name or n.startswith(f"{name}[")]
    assert results, f"{name} did not run"
    for result in results:
        # THEN every verdict passed (the message lists missing ids and where each was seen) ...
        chaos_expect.passed(result)
        # ... and, whatever else, nothing was lost
        assert result["lost"] == 0, f"{result['name']}: lost ids: {result['lost_ids']}"
        # AND its floor (the waits the settings imposed on its events, for the suite's
        # timing) is a lower bound: never more than the experiment took
        assert result["floor_s"] <= result["wall_time_s"], result["name"]
