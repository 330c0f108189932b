"""`python -m localcloud up|preview|destroy|outputs`: every bad input is one line on stderr,
exit status 2, no traceback, and nothing written (no state file, no resource)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from localcloud.__main__ import main

ROOT = Path(__file__).resolve().parents[3]
DEAD = "http://127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.local.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    err = capsys.readouterr().err
    return status, err


def assert_one_line_error(status: int, err: str, *needles: str) -> None:
    assert status == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("functionTimeout=abc", ("functionTimeout='abc'", "an integer 1..900")),
        ("functionTimeout=0", ("functionTimeout='0'", "1..900")),
        ("queueMaxReceiveCount=0", ("queueMaxReceiveCount='0'", "1..1000")),
        ("chaosEnabled=maybe", ("chaosEnabled='maybe'", "true or false")),
        ("aws:region=xx-nowhere-1", ("aws:region='xx-nowhere-1'", "us-east-1")),
        ("noSuchKey=1", ("noSuchKey", "not declared")),
        ("novalue", ("expected KEY=VALUE",)),
    ],
)
def test_bad_config_is_refused_before_anything(
    project: Path, capsys, override: str, needles: tuple[str, ...]
) -> None:
    # GIVEN / WHEN `up` with a bad -c (the endpoint is not even needed to say so)
    status, err = run_cli(capsys, "up", "-C", str(project), "-c", override, "--endpoint", DEAD)
    # THEN one line names the key, the value and what is allowed; no state was written
    assert_one_line_error(status, err, *needles)
    assert not (project / ".localcloud").exists()


@pytest.mark.parametrize(
    ("endpoint", "needle"),
    [("notaurl", "is not a URL"), (DEAD, "no local cloud answers at http://127.0.0.1:1")],
)
def test_a_bad_endpoint_is_one_line(project: Path, capsys, endpoint: str, needle: str) -> None:
    # GIVEN / WHEN up against an endpoint that is not a URL, or where nothing listens
    status, err = run_cli(capsys, "up", "-C", str(project), "--endpoint", endpoint)
    # THEN
    assert_one_line_error(status, err, needle)
    assert not (project / ".localcloud").exists()


@pytest.mark.parametrize("command", ["destroy", "outputs"])
def test_an_unknown_stack_is_an_error(project: Path, capsys, command: str) -> None:
    # GIVEN no state for stack "nosuch"
    # WHEN destroy / outputs is asked for it
    status, err = run_cli(
        capsys, command, "-C", str(project), "--stack", "nosuch", "--endpoint", DEAD
    )
    # THEN it is an error, and destroy wrote no state file
    assert_one_line_error(status, err, "unknown stack 'nosuch'")
    assert not (project / ".localcloud").exists()


@pytest.mark.parametrize("command", ["up", "destroy", "outputs", "preview"])
def test_a_stack_name_that_is_a_path_is_refused(project: Path, capsys, command: str) -> None:
    # GIVEN / WHEN a stack name with ../
    status, err = run_cli(
        capsys, command, "-C", str(project), "--stack", "../escape", "--endpoint", DEAD
    )
    # THEN nothing is written outside (or inside) .localcloud
    assert_one_line_error(status, err, "invalid stack name '../escape'")
    assert not (project / "escape").exists() and not (project / ".localcloud").exists()


@pytest.mark.parametrize(
    "doc",
    [[1, 2], {"version": 1, "resources": [{"nope": 1}]}, {"version": 1, "resources": 5}],
)
def test_a_state_file_of_the_wrong_shape_is_one_line(project: Path, capsys, doc) -> None:
    # GIVEN a state file that is JSON but not a state
    state = project / ".localcloud" / "local" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps(doc))
    # WHEN outputs reads it
    status, err = run_cli(capsys, "outputs", "-C", str(project))
    # THEN one line names the file; the file is left as it was
    assert_one_line_error(status, err, "is not a state file")
    assert json.loads(state.read_text()) == doc


@pytest.mark.parametrize(
    ("argv", "needle"),
    [(["up", "--stack"], "expected one argument"), (["nosuch"], "unknown command 'nosuch'")],
)
def test_a_usage_error_is_one_line_on_stderr(capsys, argv, needle) -> None:
    # GIVEN / WHEN argparse (or the dispatcher) rejects the command line
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    # THEN one line on stderr, exit 2
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and needle in err, err
