"""The chaos suite's pytest plugin (entry point `failmodes`) and tests/chaos' conftest, run
through pytester: options, the skip of experiments outside the CI subset, and the local
stack asked of the `pytest_failmodes_local_stack` hook (tests/unit/app covers its answer).
Nothing is deployed: the experiments' results and the stack are stand-ins.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaos.experiments import CATALOG, ci_subset
from chaos.stack import STACK_NAME_RULE

pytest_plugins = ["pytester"]

PROJECT_DIR = Path(__file__).resolve().parents[3]
CHAOS_TESTS = PROJECT_DIR / "tests" / "chaos"

# Every experiment passed, without running one: chaos_results (the plugin's, which deploys
# and runs them) is overridden by the conftest of the copied tests/chaos.
PASSED_RESULTS = """

@pytest.fixture(scope="session")
def chaos_results():
    from chaos.experiments import CATALOG

    return {
        e.name: {"name": e.name, "pattern": e.pattern, "verdict": "pass", "verdicts": [],
                 "lost": 0, "lost_ids": [], "floor_s": 0.0, "wall_time_s": 1.0}
        for e in CATALOG
    }
"""


@pytest.mark.parametrize("bad", ["../etc", ".hidden", "a" * 101, "sp ace"])
def test_a_bad_stack_name_is_one_line_naming_the_rule_and_exit_2(pytester, monkeypatch, bad):
    # GIVEN a suite WHEN run with a --stack that no stack can be named (in a process of its
    # own: pytester's in-process run cannot report an exit before the session)
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")])),
    )
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError('ran')\n")
    result = pytester.runpytest_subprocess("--stack", bad)
    # THEN it stops before any test, with one line naming the value and the rule
    assert result.ret == 2
    lines = [line for line in result.errlines + result.outlines if "--stack" in line]
    assert len(lines) == 1, result.errlines + result.outlines
    assert repr(bad) in lines[0] and STACK_NAME_RULE in lines[0]
    assert "ran" not in result.stdout.str()


def test_the_options_are_registered_with_their_defaults(pytester):
    pytester.makepyfile(
        """
        def test_options(pytestconfig):
            assert pytestconfig.getoption("--stack") == "local"
            assert pytestconfig.getoption("--chaos-full") is False
            assert pytestconfig.getoption("--chaos-force") is False
            assert pytestconfig.getoption("--chaos-serial") is False
            assert pytestconfig.getoption("--chaos-reports") == "reports"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def _copy_chaos_experiments(pytester: pytest.Pytester) -> None:
    # Under tests/chaos/, the path the conftest recognises its experiments by.
    folder = pytester.mkdir("tests")
    folder = folder / "chaos"
    folder.mkdir()
    conftest = (CHAOS_TESTS / "conftest.py").read_text() + PASSED_RESULTS
    (folder / "conftest.py").write_text(conftest)
    experiments = (CHAOS_TESTS / "test_chaos_experiments.py").read_text()
    (folder / "test_chaos_experiments.py").write_text(experiments)


def test_experiments_outside_the_ci_subset_are_skipped_without_a_stack(pytester):
    # GIVEN tests/chaos' experiments, WHEN run without --chaos-full
    _copy_chaos_experiments(pytester)
    result = pytester.runpytest("-rs")
    # THEN the CI subset ran and every other experiment was skipped, saying how to run it
    ci = len(ci_subset())
    assert 0 < ci < len(CATALOG)
    result.assert_outcomes(passed=ci, skipped=len(CATALOG) - ci)
    result.stdout.fnmatch_lines(["*not in the fast CI subset: runs with --chaos-full*"])


def test_chaos_full_runs_every_experiment(pytester):
    _copy_chaos_experiments(pytester)
    pytester.runpytest("--chaos-full").assert_outcomes(passed=len(CATALOG))


def test_every_experiment_is_marked_chaos(pytester):
    _copy_chaos_experiments(pytester)
    result = pytester.runpytest("-m", "not chaos")
    result.assert_outcomes(deselected=len(CATALOG))


def test_local_stack_without_a_plugin_answering_the_hook_is_a_skip_saying_so(pytester, monkeypatch):
    # GIVEN no plugin implements pytest_failmodes_local_stack (no -p app.pytest_plugin)
    monkeypatch.delenv("CHAOS_ENDPOINT_URL", raising=False)
    pytester.makepyfile("def test_needs_the_stack(chaos_stack):\n    pass\n")
    # WHEN a test needs the local stack
    result = pytester.runpytest("-rs")
    # THEN it is skipped, naming the hook and the plugin that answers it
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*pytest_failmodes_local_stack*app.pytest_plugin*"])
