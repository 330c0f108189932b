"""The hook through which the chaos plugin gets a stack deployed on a local cloud.

The chaos package does not start clouds or deploy programs: for `--stack local` the plugin
asks this hook, which the layer above implements (app/pytest_plugin.py, registered by the
project's pytest config), as chaostoolkit-aws plugs into chaoslib and never the reverse.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from chaos.stack import Stack


@pytest.hookspec(firstresult=True)
def pytest_failmodes_local_stack(
    config: pytest.Config, name: str, state_dir: Path, timings: dict[str, float]
) -> contextlib.AbstractContextManager[Stack] | None:
    """A context manager that deploys stack `name` on a local cloud (state under
    `state_dir`, phase seconds into `timings`), yields its Stack, and tears it down at exit;
    None when this plugin cannot."""
