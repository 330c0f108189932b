"""A fork that adds one instance line gets, and passes, that instance's experiments on the
local cloud: the program's contract is what chaos enumerates, not a list in chaos/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.local

PROJECT_DIR = Path(__file__).resolve().parents[2]
FIRST = 'queue_worker = QueueWorker("queue-worker", queue_worker_args)\n'
ADDED = 'QueueWorker("payments", queue_worker_args)\n'
COMMAND_TIMEOUT = 600  # seconds: start, deploy, one SQS experiment, destroy (about 90 s)


def test_a_second_queue_worker_gets_and_passes_its_experiment(tmp_path: Path) -> None:
    # GIVEN the program with one more QueueWorker line, and nothing else changed
    fork = tmp_path / "fork"
    fork.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.local.yaml"):
        shutil.copy(PROJECT_DIR / name, fork / name)
    for name in ("functions", "policy"):
        (fork / name).symlink_to(PROJECT_DIR / name)
    main = (PROJECT_DIR / "__main__.py").read_text()
    assert FIRST in main
    (fork / "__main__.py").write_text(main.replace(FIRST, FIRST + ADDED))
    # WHEN the main job runs the new instance's experiment on it
    reports = tmp_path / "reports"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "demo",
            "--cwd",
            str(fork),
            "--experiment",
            "sqs-poison-to-dlq[payments]",
            "--reports",
            str(reports),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    # THEN it ran on the payments worker's own queue and DLQ, and passed, nothing lost
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = [p for p in reports.glob("*/report.json") if not p.parent.is_symlink()]  # "latest"
    (doc,) = [json.loads(p.read_text()) for p in runs]
    (result,) = doc["experiments"]
    assert result["name"] == "sqs-poison-to-dlq[payments]" and result["instance"] == "payments"
    assert result["pattern"] == "payments" and result["component"] == "queue_worker"
    assert result["verdict"] == "pass" and result["lost"] == 0 and result["sent"] > 0
