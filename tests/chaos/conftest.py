"""The chaos suite: fixtures come from the failmodes pytest plugin (chaos/pytest_plugin.py).

`make test` runs the fast CI subset against a local stack the session deploys itself;
`--chaos-full` (used by `make demo`) runs every experiment; `--stack dev` targets a real stack.
"""

from __future__ import annotations

import pytest

from chaos.experiments import ci_subset

CI = {e.name for e in ci_subset()}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    full = config.getoption("--chaos-full")
    for item in items:
        if "tests/chaos/" not in str(item.path).replace("\\", "/"):
            continue
        item.add_marker(pytest.mark.chaos)
        name = getattr(getattr(item, "callspec", None), "params", {}).get("name")
        if name and name not in CI and not full:
            # Marked at collection, so a skipped experiment never deploys the stack.
            item.add_marker(
                pytest.mark.skip(
                    reason="not in the fast CI subset: runs with --chaos-full (make demo)"
                )
            )
