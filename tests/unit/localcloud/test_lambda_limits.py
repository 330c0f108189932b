"""The local Lambda runtime's host limits: read from the environment, bad values named."""

from __future__ import annotations

import pytest

from localcloud.lambda_ import forkserver, limits


def test_defaults_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        limits.MAX_WORKERS_ENV,
        limits.ASYNC_CONCURRENCY_ENV,
        limits.INIT_TIMEOUT_ENV,
        limits.WORKER_FORK_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    assert limits.current() == {
        "LOCALCLOUD_MAX_WORKERS": 32,
        "LOCALCLOUD_ASYNC_CONCURRENCY": 32,
        "LOCALCLOUD_INIT_TIMEOUT": 10.0,
        "LOCALCLOUD_WORKER_FORK": int(forkserver.supported()),
    }


def test_each_limit_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.MAX_WORKERS_ENV, "160")
    monkeypatch.setenv(limits.ASYNC_CONCURRENCY_ENV, "128")
    monkeypatch.setenv(limits.INIT_TIMEOUT_ENV, "2.5")
    assert (limits.max_workers(), limits.async_concurrency(), limits.init_timeout_seconds()) == (
        160,
        128,
        2.5,
    )


@pytest.mark.parametrize("name", [limits.MAX_WORKERS_ENV, limits.ASYNC_CONCURRENCY_ENV])
@pytest.mark.parametrize("bad", ["0", "-4", "many", "2.5"])
def test_a_bad_count_names_the_variable_and_value(monkeypatch, name: str, bad: str) -> None:
    monkeypatch.setenv(name, bad)
    with pytest.raises(ValueError, match=rf"\${name}='{bad}'"):
        limits.current()


@pytest.mark.parametrize("bad", ["0", "-1", "soon", "nan"])
def test_a_bad_init_timeout_names_the_variable_and_value(monkeypatch, bad: str) -> None:
    monkeypatch.setenv(limits.INIT_TIMEOUT_ENV, bad)
    with pytest.raises(ValueError, match=rf"\$LOCALCLOUD_INIT_TIMEOUT='{bad}'"):
        limits.init_timeout_seconds()


@pytest.mark.parametrize(("raw", "expected"), [("0", False), ("1", True)])
def test_the_fork_switch(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv(limits.WORKER_FORK_ENV, raw)
    assert limits.worker_fork() is (expected and forkserver.supported())


@pytest.mark.parametrize("bad", ["yes", "true", "2", " 1"])
def test_a_bad_fork_switch_names_the_variable_and_what_is_allowed(monkeypatch, bad: str) -> None:
    monkeypatch.setenv(limits.WORKER_FORK_ENV, bad)
    with pytest.raises(ValueError, match=r"\$LOCALCLOUD_WORKER_FORK=.* must be 1 \(on\) or 0"):
        limits.current()
