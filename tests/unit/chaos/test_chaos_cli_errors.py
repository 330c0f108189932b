"""`python -m chaos`: bad input is one line on stderr naming what is wrong and what is
allowed, exit status 2, no traceback, nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos import cli


@pytest.fixture
def project(tmp_path: Path, monkeypatch, aws_env) -> Path:
    monkeypatch.chdir(tmp_path)
    state = tmp_path / ".localcloud" / "s" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"outputs": {"chaos_enabled": True, "stack": "s"}}))
    return tmp_path


def one_line_error(capsys, status: int, *needles: str) -> None:
    out = capsys.readouterr()
    assert status == 2, out
    assert out.err.startswith("error: ") and out.err.count("\n") == 1, out.err
    assert "Traceback" not in out.err + out.out
    for needle in needles:
        assert needle in out.err, out.err


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["run", "--stack", "s", "--experiment", "nosuch"], ("unknown experiment 'nosuch'",)),
        (["run", "--stack", "s", "--endpoint", "notaurl"], ("'notaurl' is not a URL", "http")),
        (["rollback", "--stack", "s", "--endpoint", "notaurl"], ("is not a URL",)),
        (["run", "--stack", "../etc"], ("invalid stack name '../etc'", "letters, digits")),
        (["run", "--stack", "nosuch"], ("unknown stack 'nosuch'", "local stacks here: s")),
    ],
)
def test_bad_input_is_one_line(project: Path, capsys, argv, needles, monkeypatch) -> None:
    # GIVEN no Pulumi CLI (local stacks only) / WHEN the command runs with the bad input
    monkeypatch.setattr("shutil.which", lambda _name: None)
    status = cli.main(argv)
    # THEN one line, exit 2, and no journal or report was written
    one_line_error(capsys, status, *needles)
    assert not (project / ".chaos").exists() and not (project / "reports").exists()


def test_an_endpoint_where_nothing_listens_is_one_line(project: Path, capsys) -> None:
    # GIVEN / WHEN a run aimed at a port nothing listens on
    status = cli.main(["run", "--stack", "s", "--endpoint", "http://127.0.0.1:1"])
    # THEN it says it cannot reach it, before any change
    one_line_error(capsys, status, "cannot reach", "127.0.0.1:1")
    assert not (project / ".chaos").exists()


@pytest.mark.parametrize("doc", [[1, 2], {"outputs": []}, "text"])
def test_a_state_file_of_the_wrong_shape_is_one_line(project: Path, capsys, doc) -> None:
    # GIVEN a state file that is JSON but not of the emulated deploy's shape
    (project / ".localcloud" / "s" / "state.json").write_text(json.dumps(doc))
    # WHEN / THEN
    status = cli.main(["rollback", "--stack", "s"])
    one_line_error(capsys, status, "has no 'outputs'")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run"], "the following arguments are required: --stack"),
        (["nosuch"], "invalid choice: 'nosuch'"),
    ],
)
def test_a_usage_error_is_one_line(capsys, argv, needle) -> None:
    # GIVEN / WHEN argparse rejects the command line
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    # THEN one line (no usage block), exit 2
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and needle in err, err
