"""The chaos suite: fixtures come from the failmodes pytest plugin (chaos/pytest_plugin.py).

`make test` runs the fast CI subset against a local stack the session deploys itself;
`--chaos-full` (used by `make demo`) runs every experiment; `--stack dev` targets a real stack.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chaos/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.chaos)
