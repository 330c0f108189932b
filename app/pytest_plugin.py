"""The chaos plugin's local stack (`pytest --stack local`): the one local stack session.

Registered by the project's pytest config (`-p app.pytest_plugin` in pyproject's addopts),
beside the chaos plugin (the pytest11 entry point `failmodes`), which declares the hook.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.stack import Stack


@pytest.hookimpl(optionalhook=True)
def pytest_failmodes_local_stack(
    config: pytest.Config, name: str, state_dir: Path, timings: dict[str, float]
) -> contextlib.AbstractContextManager[Stack]:
    return _deployed(name, state_dir, timings)


@contextlib.contextmanager
def _deployed(name: str, state_dir: Path, timings: dict[str, float]) -> Iterator[Stack]:
    from app.session import local_stack  # the local cloud is imported when it is needed

    # The cloud in its own process: the tests beside the chaos suite (tests/local's
    # in-process clouds, tests/unit's mock_aws) share no moto backends with it.
    with local_stack(name, state_dir=state_dir, timings=timings, own_process=True) as session:
        assert session.stack is not None  # deployed by local_stack
        yield session.stack
