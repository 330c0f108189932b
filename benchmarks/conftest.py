"""Shared helpers for the benchmarks: figures go to benchmarks/results.json with the machine.

Any benchmark module can call record_results("<name>", {...}) (or use the
`bench_results` fixture, which is that function); entries from
other modules are kept, so one `make bench` run fills in the whole file.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

RESULTS_PATH = Path(__file__).with_name("results.json")


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def record_results(name: str, figures: dict[str, Any], path: Path = RESULTS_PATH) -> dict[str, Any]:
    """Merge one benchmark's figures into the results file (atomically); returns the whole file."""
    try:
        doc = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        doc = {}
    doc.setdefault("results", {})[name] = {
        **figures,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(tmp, path)
    return doc


@pytest.fixture(scope="session")
def bench_results():
    """record_results as a fixture, so benchmark modules need not import conftest by name."""
    return record_results
