"""app/pytest_plugin.py answers the chaos plugin's `pytest_failmodes_local_stack` hook with
the one local stack session, through pytester; app.session.local_stack is a stand-in that
records when it is entered and left, so nothing is started or deployed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import app.session
from chaos.stack import Stack
from components import outputs as keys

pytest_plugins = ["pytester"]

EVENTS_ENV = "FAILMODES_TEST_STACK_EVENTS"


def _event(what: str) -> None:
    with open(os.environ[EVENTS_ENV], "a") as events:
        events.write(what + "\n")


@pytest.fixture
def stand_in_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """app.session.local_stack replaced: yields a chaos-enabled Stack, records enter and exit
    in the file named by $FAILMODES_TEST_STACK_EVENTS (the inner tests add theirs)."""
    calls: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def local_stack(name: str = "local", **kwargs: Any) -> Iterator[Any]:
        calls.append({"name": name, **kwargs})
        _event("enter")
        try:
            stack = Stack(name=name, outputs={keys.CHAOS_ENABLED: True}, source="stand-in")
            yield type("Session", (), {"stack": stack})()
        finally:
            _event("exit")

    monkeypatch.setattr(app.session, "local_stack", local_stack)
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "events"))
    monkeypatch.delenv("CHAOS_ENDPOINT_URL", raising=False)
    return calls


def test_the_hook_is_answered_with_the_local_stack_session(pytester, stand_in_stack, tmp_path):
    # GIVEN the app plugin beside the chaos plugin, and tests of which the first two need
    # the stack
    pytester.makepyfile(
        test_a=f"""
        import os

        def _event(what):
            with open(os.environ[{EVENTS_ENV!r}], "a") as events:
                events.write(what + "\\n")

        def test_first(chaos_stack, stack_outputs):
            _event("first")
            assert chaos_stack.name == "local" and chaos_stack.source == "stand-in"
            assert stack_outputs == {{{keys.CHAOS_ENABLED!r}: True}}

        def test_second(chaos_stack):
            _event("second")

        def test_after_the_last_user():
            _event("after")
        """
    )
    # WHEN the suite runs with --stack local
    result = pytester.runpytest("-p", "app.pytest_plugin", "--stack", "local")
    # THEN the plugin got its stack from the app's local stack session, once, with a state
    # directory and timings of the run ...
    result.assert_outcomes(passed=3)
    [call] = stand_in_stack
    assert call["name"] == "local"
    assert Path(call["state_dir"]).is_dir() and call["timings"] == {}
    assert call["own_process"] is True  # no moto backends shared with the tests beside it
    # ... and tore it down right after its last user, before the next test
    events = (tmp_path / "events").read_text().split()
    assert events == ["enter", "first", "second", "exit", "after"]


def test_the_stack_is_torn_down_when_a_test_using_it_fails(pytester, stand_in_stack, tmp_path):
    pytester.makepyfile("def test_fails(chaos_stack):\n    raise AssertionError('boom')\n")
    result = pytester.runpytest("-p", "app.pytest_plugin")
    result.assert_outcomes(failed=1)
    assert (tmp_path / "events").read_text().split() == ["enter", "exit"]


def test_a_stack_not_chaos_enabled_fails_the_tests_and_is_still_torn_down(
    pytester, stand_in_stack, tmp_path, monkeypatch
):
    # GIVEN the local stack's outputs without chaos_enabled
    monkeypatch.setattr(Stack, "chaos_enabled", property(lambda self: False))
    pytester.makepyfile("def test_needs_it(chaos_stack):\n    pass\n")
    # WHEN a test needs it THEN it errors, naming the output and --chaos-force
    result = pytester.runpytest("-p", "app.pytest_plugin")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{keys.CHAOS_ENABLED}*--force*"])
    assert (tmp_path / "events").read_text().split() == ["enter", "exit"]


def test_without_the_app_plugin_nothing_answers(pytester, stand_in_stack):
    pytester.makepyfile("def test_needs_it(chaos_stack):\n    pass\n")
    pytester.runpytest().assert_outcomes(skipped=1)
    assert stand_in_stack == []


def test_a_report_is_written_only_when_experiments_ran(pytester, stand_in_stack):
    pytester.makepyfile("def test_needs_it(chaos_stack):\n    pass\n")
    pytester.runpytest("-p", "app.pytest_plugin", "--chaos-reports", "reports")
    assert not (pytester.path / "reports").exists()
