"""Mutation testing end to end, on the fast subset `make test` runs (`python -m app mutate --fast`).

The command runs in its own process, as a user would: it starts its own local cloud, and
one process holds one cloud (moto's backends are process-wide), so it cannot share this
session's. The full catalog is `make mutate`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.mutate.runner import FAST

PROJECT_DIR = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 600  # seconds; the subset takes about 4 min on a loaded 2-core host

pytestmark = [pytest.mark.local, pytest.mark.timeout(COMMAND_TIMEOUT + 60)]


def test_the_fast_mutants_are_caught_or_refused_and_the_stack_is_restored(tmp_path: Path):
    # GIVEN the fast subset: seed bug 1 on the queue worker, a missing redrive on fan-out
    # WHEN `python -m app mutate --stack local --fast` runs
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "mutate",
            "--stack",
            "local",
            "--fast",
            "--reports",
            str(tmp_path),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    reports = sorted(tmp_path.glob("mutate-*/report.json"))
    assert reports, f"no report; exit {proc.returncode}\n{proc.stderr[-3000:]}"
    doc = json.loads(reports[-1].read_text())
    rows = {r["operator"]: r for r in doc["mutants"]}
    # THEN exactly the fast operators ran, each on the pattern chosen for it
    assert {op: r["patterns"][0] for op, r in rows.items()} == FAST
    # AND each was caught by an experiment or refused (the pack names its rule), none missed
    for op, row in rows.items():
        assert row["outcome"] in ("caught", "refused"), (op, row["by"], row["experiments"])
        assert row["experiments"], f"{op}: deployed and judged by no experiment"
    assert rows["dlq-alarm-gt-1"]["by"] == "policy: dlq-alarm-on-one"
    assert rows["queue-no-redrive"]["by"] == "policy: sqs-source-redrive"
    # AND the redrive bug, deployed anyway, is caught by the experiments themselves: the
    # budget they need (maxReceiveCount) is missing from the cloud, and preflight names it
    experiment, _, checks = rows["queue-no-redrive"]["caught_by"].partition(": ")
    named = checks.split(", ")
    assert experiment and "budget from live settings" in named, rows["queue-no-redrive"]
    assert "preflight: sqs-source-redrive" in named
    # AND the score, the restored stack and the exit status say so
    assert doc["mutation_score"] == 1.0 and doc["missed"] == 0
    assert doc["restored"] is True
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (reports[-1].parent / "summary.md").exists()
