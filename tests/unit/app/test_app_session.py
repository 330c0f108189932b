"""The local stack session always tears down: destroy once (also after a failed `up`), stop
once, whoever asks first; the cloud and the deploy engine are fakes here."""

from __future__ import annotations

from typing import Any

import pytest

from app import session as app_session


class FakeCloud:
    endpoint = "http://127.0.0.1:1"

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def stop(self) -> None:
        self.calls.append("stop")


class FakeResult:
    outputs = {"region": "us-east-1"}
    steps: list[Any] = []


def fakes(monkeypatch: pytest.MonkeyPatch, *, up_fails: bool = False) -> list[str]:
    calls: list[str] = []

    class FakeState:
        resources: dict[str, Any] = {}

    class FakeEngine:
        def __init__(self, *_args: Any, config_overrides: Any = None, **_options: Any) -> None:
            self.overrides = config_overrides

        def load_state(self) -> FakeState:
            return FakeState()

        def up(self) -> FakeResult:
            calls.append(f"up {self.overrides}")
            if up_fails:
                raise RuntimeError("up failed half way")
            return FakeResult()

        def destroy(self) -> None:
            calls.append("destroy")

    monkeypatch.setattr(app_session.localcloud, "start", lambda **_kw: FakeCloud(calls))
    monkeypatch.setattr(app_session, "Engine", FakeEngine)
    return calls


def test_a_session_deploys_once_per_overrides_and_tears_down_once(monkeypatch) -> None:
    calls = fakes(monkeypatch)
    timings: dict[str, float] = {}
    with app_session.local_stack("local", timings=timings) as session:
        assert session.stack is not None and session.stack.name == "local"
        session.deploy()  # the overrides it is deployed with: nothing to do
        session.deploy({"functionTimeout": "4"})
        session.destroy()  # the caller's teardown (the demo's, with progress)
        session.stop()
    assert calls == ["up {}", "up {'failmodes:functionTimeout': '4'}", "destroy", "stop"]
    assert {"start_s", "deploy_s", "destroy_s", "stop_s"} <= set(timings)


def test_a_failed_up_is_destroyed_and_the_cloud_stopped(monkeypatch) -> None:
    calls = fakes(monkeypatch, up_fails=True)
    with pytest.raises(RuntimeError, match="half way"):
        with app_session.local_stack("local"):
            pass
    assert calls == ["up {}", "destroy", "stop"]


def test_a_session_never_deployed_only_stops_the_cloud(monkeypatch) -> None:
    calls = fakes(monkeypatch)
    with pytest.raises(KeyError):
        with app_session.local_stack("local", deploy=False):
            raise KeyError("the caller failed")
    assert calls == ["stop"]


def test_a_waived_policy_is_let_through_and_any_other_still_refuses(caplog) -> None:
    # GIVEN a pack that finds a table-capacity and an iam violation
    from dataclasses import dataclass

    @dataclass
    class Found:
        policy: str

    def pack(_registrations: list[Any]) -> list[Any]:
        return [Found("table-capacity"), Found("iam-no-wildcards")]

    # WHEN table-capacity is waived, THEN only the other is left to refuse the deploy, and the
    # waived one is said
    check = app_session._waiving(pack, frozenset({"table-capacity"}))
    assert check([]) == [Found("iam-no-wildcards")]
    assert "waived policy" in caplog.text and "table-capacity" in caplog.text


def test_own_process_spawns_the_cloud_and_stops_it(monkeypatch, tmp_path) -> None:
    # GIVEN a session asked for a cloud of its own process (what the pytest plugin asks)
    calls = fakes(monkeypatch)
    spawned: list[dict] = []

    def spawn(**kwargs):
        spawned.append(kwargs)
        return FakeCloud(calls)

    monkeypatch.setattr(app_session, "spawn", spawn)
    monkeypatch.setattr(
        app_session.localcloud, "start", lambda **_kw: pytest.fail("in-process cloud started")
    )
    # WHEN it runs
    with app_session.local_stack("local", state_dir=tmp_path, own_process=True):
        pass
    # THEN the cloud was spawned with its log in the state directory, and stopped at the end
    assert [s["log_path"] for s in spawned] == [tmp_path / "localcloud.log"]
    assert calls == ["up {}", "destroy", "stop"]
