"""examples/orders, a program with handlers of its own, passes the chaos suite's CI subset on
the local cloud: each of its instances gets its component type's experiments."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.local

PROJECT_DIR = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT_DIR / "examples" / "orders"
COMMAND_TIMEOUT = 900  # seconds: start, deploy, ten experiments (two at once), destroy


def test_every_instance_of_the_example_passes_its_experiments(tmp_path: Path) -> None:
    # GIVEN a copy of the example (its state and journal stay out of the repository)
    program = tmp_path / "orders"
    shutil.copytree(EXAMPLE, program, symlinks=True, ignore=shutil.ignore_patterns(".*"))
    (program / "policy").unlink()
    (program / "policy").symlink_to(PROJECT_DIR / "policy")
    # WHEN the main job runs the CI subset on it
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "app", "demo", "--cwd", str(program), "--ci"]
        + ["--reports", str(reports)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    runs = [p for p in reports.glob("*/report.json") if not p.parent.is_symlink()]
    assert runs, proc.stdout[-3000:] + proc.stderr[-3000:]
    (doc,) = [json.loads(p.read_text()) for p in runs]
    results = {r["name"]: r for r in doc["experiments"]}
    # THEN each instance got its type's experiments: both queue workers, the async function
    instances = {r["instance"]: r["component"] for r in results.values()}
    assert instances == {
        "orders": "queue_worker",
        "payments": "queue_worker",
        "receipts": "async_function",
    }
    assert "sqs-poison-to-dlq[orders]" in results and "sqs-poison-to-dlq[payments]" in results
    # (none that judges repeated side effects: the example's ledger counts events handled)
    assert not [n for n in results if "crash-after-write" in n]
    # AND every one passed, nothing lost, and the run says so
    for name, result in results.items():
        assert result["verdict"] == "pass" and result["lost"] == 0, (name, result["verdicts"])
    assert proc.returncode == 0, proc.stdout[-3000:]
