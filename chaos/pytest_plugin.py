"""pytest plugin for the chaos suite (registered through the pytest11 entry point).

`pytest tests/chaos --stack local|dev`: for `local` (the default) the plugin asks the
`pytest_failmodes_local_stack` hook (chaos/pytest_hooks.py; app/pytest_plugin.py answers
it) for a stack deployed on a local cloud once per session, destroyed at the end; any
other stack is read from `.localcloud/<stack>/state.json` or `pulumi stack output`.
Fixtures: `chaos_stack`, `stack_outputs`, `faults` (a tracker undone at teardown),
`chaos_expect` (expectations as assertions), `chaos_results` (the selected experiments, run
once per session, concurrently across patterns). Every session that ran experiments writes
reports/<run-id>/.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chaos import expectations, probes, report
from chaos.errors import ExpectationFailedError, StackError
from chaos.experiments import CATALOG, Experiment, ci_subset
from chaos.faults import Faults, rollback
from chaos.journal import Journal
from chaos.preflight import preflight
from chaos.session import prepare, run_all
from chaos.stack import Stack, load_stack, validate_stack_name

logger = logging.getLogger(__name__)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from chaos import pytest_hooks

    pluginmanager.add_hookspecs(pytest_hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("failmodes chaos suite")
    group.addoption(
        "--stack",
        default="local",
        help="stack the chaos suite runs against (default: local, deployed by the run)",
    )
    group.addoption(
        "--chaos-force",
        action="store_true",
        help="run on a stack whose chaos_enabled output is not true",
    )
    group.addoption(
        "--chaos-full",
        action="store_true",
        help="every experiment (make demo), not only the fast CI subset",
    )
    group.addoption("--chaos-reports", default=report.REPORTS_DIR, help="where run reports go")
    group.addoption(
        "--chaos-serial",
        action="store_true",
        help="one experiment at a time (default: patterns run concurrently)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """A bad `--stack` is bad input: one line naming it and what is allowed, exit 2, before
    any test runs (not an error repeated by every test that needs the stack)."""
    try:
        validate_stack_name(config.getoption("--stack"))
    except StackError as exc:
        pytest.exit(f"--stack: {exc}", returncode=2)


def selected_experiments(config: pytest.Config) -> tuple[Experiment, ...]:
    return CATALOG if config.getoption("--chaos-full") else ci_subset()


@dataclass
class ChaosSession:
    stack: Stack
    journal_root: Path
    reports_root: str
    cloud_info: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    resources: ExitStack = field(default_factory=ExitStack)
    _run_dir: Path | None = None
    closed: bool = False

    def close(self) -> None:
        """Write the report, then destroy the local stack and stop its cloud. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            path = self.write_report()
            if path:
                logger.warning("chaos report: %s", path)
        finally:
            self.resources.close()

    @property
    def run_dir(self) -> Path:
        if self._run_dir is None:
            self._run_dir = report.new_run_dir(self.reports_root)
        return self._run_dir

    def write_report(self) -> Path | None:
        if not self.results:
            return None
        meta = {
            "stack": self.stack.name,
            "endpoint": self.stack.endpoint,
            "time_compressed": bool(self.cloud_info),
            "time_scale": self.cloud_info.get("time_scale", 1.0) if self.cloud_info else 1.0,
            "compressed_delays": _delays(self.cloud_info),
            "setup": self.timings,
        }
        return report.write_report(self.run_dir, meta, self.results)


def _delays(info: dict[str, Any]) -> list[str]:
    delays = info.get("compressed_delays") or []
    return [str(d) for d in delays] if isinstance(delays, list) else [str(k) for k in delays]


@pytest.fixture(scope="session")
def chaos_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChaosSession]:
    config = request.config
    name = config.getoption("--stack")
    resources = ExitStack()
    try:
        if name == "local" and not os.environ.get("CHAOS_ENDPOINT_URL"):
            timings: dict[str, float] = {}
            state_dir = tmp_path_factory.mktemp("localcloud-state")
            local = config.hook.pytest_failmodes_local_stack(
                config=config, name=name, state_dir=state_dir, timings=timings
            )
            if local is None:
                pytest.skip(
                    "local chaos suite needs a plugin implementing pytest_failmodes_local_stack"
                    " (app.pytest_plugin, registered by pyproject's pytest addopts)"
                )
            try:
                stack = resources.enter_context(local)
            except StackError as exc:
                pytest.fail(f"local stack could not be deployed: {exc}", pytrace=False)
            journal_root = tmp_path_factory.mktemp("chaos-journal")
        else:
            try:
                stack = load_stack(name)
                stack.check_reachable()
            except StackError as exc:
                pytest.fail(str(exc), pytrace=False)
            timings, journal_root = {}, Path(".")
        try:
            stack.require_chaos_enabled(config.getoption("--chaos-force"))
        except StackError as exc:
            pytest.fail(str(exc), pytrace=False)
    except BaseException:
        resources.close()
        raise
    session = ChaosSession(
        stack,
        journal_root,
        config.getoption("--chaos-reports"),
        probes.local_cloud_info(stack.endpoint),
        timings,
        resources=resources,
    )
    config.stash[_SESSION] = session
    try:
        yield session
    finally:
        session.close()


_SESSION = pytest.StashKey[ChaosSession]()
_LAST_USER = pytest.StashKey[str]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remember the last test that needs the chaos stack: the stack is destroyed and its
    cloud stopped right after it, not at the end of the whole run, so it holds no workers
    and pollers while the rest runs (its cloud runs in a process of its own: no test's
    outcome depends on where in the run it ends)."""
    users = [
        item
        for item in items
        if "chaos_session" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("skip") is None
    ]
    if users:
        config.stash[_LAST_USER] = users[-1].nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # the test's own fixtures (the fault tracker) are undone first
    if item.nodeid == item.config.stash.get(_LAST_USER, None):
        session = item.config.stash.get(_SESSION, None)
        if session is not None:
            session.close()


@pytest.fixture(scope="session")
def chaos_stack(chaos_session: ChaosSession) -> Stack:
    return chaos_session.stack


@pytest.fixture(scope="session")
def stack_outputs(chaos_session: ChaosSession) -> dict[str, Any]:
    return chaos_session.stack.outputs


class FaultTracker:
    """What a test changed, undone in reverse order at teardown (like pytest-mock's mocker)."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self.tokens: list[str] = []

    def inject(self, function: str, **faults: Any) -> str:
        return self._track(self._faults.inject(function, **faults))

    def set_env(self, function: str, values: dict[str, str | None]) -> str:
        return self._track(self._faults.set_env(function, values))

    def clear(self, function: str) -> str:
        return self._track(self._faults.clear(function))

    def set_reserved_concurrency(self, function: str, value: int | None) -> str:
        return self._track(self._faults.set_reserved_concurrency(function, value))

    def set_mapping_enabled(self, uuid: str, enabled: bool) -> str:
        return self._track(self._faults.set_mapping_enabled(uuid, enabled))

    def undo_all(self) -> None:
        while self.tokens:
            self._faults.undo(self.tokens.pop())

    def _track(self, token: str) -> str:
        self.tokens.append(token)
        return token


@pytest.fixture
def faults(chaos_session: ChaosSession) -> Iterator[FaultTracker]:
    journal = Journal(chaos_session.stack.name, chaos_session.journal_root)
    tracker = FaultTracker(Faults(chaos_session.stack, journal))
    try:
        yield tracker
    finally:
        try:
            tracker.undo_all()
        finally:
            # Belt and braces: anything journalled but not tracked (a crash mid-action) too.
            rollback(chaos_session.stack, journal)


class Expect:
    """The expectations of chaos.expectations, raising AssertionError with readable messages."""

    def conservation(self, *args: Any, **kwargs: Any) -> expectations.Verdict:
        return expectations.conservation(*args, **kwargs).assert_ok()

    def envelope_fields(self, *args: Any, **kwargs: Any) -> expectations.Verdict:
        return expectations.envelope_fields(*args, **kwargs).assert_ok()

    def alarm_within(self, *args: Any, **kwargs: Any) -> expectations.Verdict:
        return expectations.alarm_within(*args, **kwargs).assert_ok()

    def alarm_quiet(self, *args: Any, **kwargs: Any) -> expectations.Verdict:
        return expectations.alarm_quiet(*args, **kwargs).assert_ok()

    @staticmethod
    def passed(result: dict[str, Any]) -> None:
        """An experiment result passed, else every failing verdict in the message."""
        if result["verdict"] != "pass":
            raise ExpectationFailedError(
                f"experiment {result['name']} ({result['pattern']}): {result['verdict']}\n"
                + "\n".join(result["verdicts"])
            )


@pytest.fixture(scope="session")
def chaos_expect() -> Expect:
    return Expect()


@pytest.fixture(scope="session")
def chaos_results(
    request: pytest.FixtureRequest, chaos_session: ChaosSession
) -> dict[str, dict[str, Any]]:
    """The selected experiments, run once, concurrently across patterns (each pattern's own
    experiments in order). name -> result row of the report."""
    # The checks and the lease of `python -m chaos run`: identity, unrolled or foreign faults,
    # another run on the stack; the lease is given up when the runs end, whatever happened.
    faults_ = prepare(
        chaos_session.stack,
        force=request.config.getoption("--chaos-force"),
        root=chaos_session.journal_root,
    )
    try:
        results = run_all(
            chaos_session.stack,
            selected_experiments(request.config),
            faults=faults_,
            run_dir=chaos_session.run_dir,
            cloud_info=chaos_session.cloud_info,
            preflight=preflight,
        )
    finally:
        if faults_.lease is not None:
            faults_.lease.release()
    chaos_session.results.extend(results)
    return {r["name"]: r for r in results}
