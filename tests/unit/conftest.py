"""Fixtures for the Pulumi program tests: whole-program runs under RecordingMocks.

Each stack is run once per session (about 2-3 s each) and shared by
test_program.py and test_policy.py; component tests build single components.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components import packaging
from localcloud.deploy import RecordingMocks, run_program

PROJECT_DIR = Path(__file__).resolve().parents[2]


@dataclass
class ProgramRun:
    stack: str
    outputs: dict[str, Any]
    mocks: RecordingMocks
    layer_builds: list[Path]


def _fake_layer_build(calls: list[Path], out_dir: Path) -> Callable[[Path, Path], Path]:
    # The dev stack builds the layer with pip for Lambda's platform: network, so unit
    # tests replace only that step and check the program wires what it returns.
    def build(requirements: Path, build_dir: Path) -> Path:
        calls.append(requirements)
        (out_dir / "python").mkdir(parents=True, exist_ok=True)
        return out_dir

    return build


@pytest.fixture(scope="session")
def program_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ProgramRun]:
    """program_run(stack) -> ProgramRun, cached per stack for the session."""
    cache: dict[str, ProgramRun] = {}

    def run(stack: str) -> ProgramRun:
        if stack not in cache:
            mocks = RecordingMocks()
            calls: list[Path] = []
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(
                    packaging,
                    "build_layer",
                    _fake_layer_build(calls, tmp_path_factory.mktemp("layer")),
                )
                outputs = run_program(PROJECT_DIR, stack, mocks)
            cache[stack] = ProgramRun(stack, outputs, mocks, calls)
        return cache[stack]

    return run
