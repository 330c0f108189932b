"""`python -m chaos list|run|rollback --cwd DIR` (as `pulumi -C DIR`): the stack outputs and the
journal are those of the program in DIR, not of the directory the command runs in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos import cli

DEAD = "http://127.0.0.1:1"  # nothing listens on port 1


@pytest.fixture
def program(tmp_path: Path, monkeypatch, aws_env) -> Path:
    """A program directory with a deployed stack `s`; the command runs from elsewhere."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr("shutil.which", lambda _name: None)  # local stacks only
    root = tmp_path / "program"
    state = root / ".localcloud" / "s" / "state.json"
    state.parent.mkdir(parents=True)
    outputs = {"chaos_enabled": True, "stack": "s", "fan_out": {"subscribers": {"vip": {}}}}
    state.write_text(json.dumps({"outputs": outputs}))
    return root


def test_list_reads_the_stack_of_the_program_in_dir(program: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table row per experiment, names unwrapped
    # GIVEN a stack deployed from DIR, whose fan-out has one subscriber "vip"
    # WHEN its experiments are listed from another directory
    status = cli.main(["list", "--stack", "s", "--cwd", str(program)])
    # THEN they are the ones as they run on that stack (fan-out ones per subscriber)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "of stack s" in out and "/vip]" in out


def test_without_cwd_the_stack_is_looked_for_here(program: Path, capsys) -> None:
    status = cli.main(["list", "--stack", "s"])
    err = capsys.readouterr().err
    assert status == 2 and "unknown stack 's'" in err and err.count("\n") == 1


def test_run_reads_the_stack_of_the_program_in_dir(program: Path, capsys) -> None:
    # GIVEN / WHEN a run on DIR's stack, aimed at a port nothing listens on
    status = cli.main(["run", "--stack", "s", "--cwd", str(program), "--endpoint", DEAD])
    # THEN the stack was found (in DIR) and only the endpoint is refused, before any change
    err = capsys.readouterr().err
    assert status == 2 and "cannot reach" in err, err
    assert not (program / ".chaos").exists() and not Path(".chaos").exists()


def test_rollback_uses_the_journal_of_the_program_in_dir(program: Path, capsys) -> None:
    # GIVEN a journal of stack s in DIR only
    journal = program / ".chaos" / "s" / "journal.jsonl"
    journal.parent.mkdir(parents=True)
    journal.write_text("")
    # WHEN its pending changes are discarded from elsewhere THEN DIR's journal is archived
    status = cli.main(["rollback", "--stack", "s", "--cwd", str(program), "--discard"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert not journal.exists() and str(program / ".chaos") in out.replace("\n", "")
    assert not Path(".chaos").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "--stack", "s", "--cwd", "nosuch"], "--cwd nosuch: no such directory"),
        (["list", "--stack", "s", "--cwd", "nosuch"], "--cwd nosuch: no such directory"),
        (["rollback", "--stack", "s", "--cwd", "nosuch"], "--cwd nosuch: no such directory"),
        (["list", "--cwd", "PROGRAM"], "allowed: --stack NAME"),
    ],
)
def test_a_bad_cwd_is_one_line(program: Path, capsys, argv: list[str], needle: str) -> None:
    argv = [str(program) if a == "PROGRAM" else a for a in argv]
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
