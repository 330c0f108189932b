"""`python -m localcloud up|preview|destroy|outputs --cwd DIR` (as `pulumi -C DIR`): DIR must be
a program's directory, and its stacks' state lives in DIR, so two programs never share one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from localcloud.__main__ import main

ROOT = Path(__file__).resolve().parents[3]
DEAD = "http://127.0.0.1:1"  # nothing listens on port 1
COMMANDS = ("up", "preview", "destroy", "outputs")


def one_line(capsys, status: int, *needles: str) -> None:
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("command", COMMANDS)
def test_a_directory_that_does_not_exist_is_named(tmp_path: Path, capsys, command: str) -> None:
    missing = tmp_path / "nosuch"
    status = main([command, "--cwd", str(missing), "--endpoint", DEAD])
    one_line(capsys, status, f"--cwd {missing}: no such directory", "Pulumi.yaml")
    assert not missing.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_directory_without_a_project_file_is_named(tmp_path: Path, capsys, command) -> None:
    status = main([command, "-C", str(tmp_path), "--endpoint", DEAD])
    one_line(capsys, status, f"--cwd {tmp_path}: no Pulumi.yaml in it")
    assert list(tmp_path.iterdir()) == []


def test_each_program_directory_has_its_own_stacks(tmp_path: Path, capsys) -> None:
    # GIVEN two program directories, only the first with a deployed stack `local`
    first, second = tmp_path / "first", tmp_path / "second"
    for program in (first, second):
        program.mkdir()
        for name in ("Pulumi.yaml", "Pulumi.local.yaml"):
            shutil.copy(ROOT / name, program / name)
    state = first / ".localcloud" / "local" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"version": 1, "stack": "local", "outputs": {"stack": "first"}}))
    # WHEN each one's outputs are asked for
    assert main(["outputs", "--cwd", str(first), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"stack": "first"}
    # THEN the second has no stack of that name: the first's state is not its
    status = main(["outputs", "--cwd", str(second), "--json"])
    one_line(capsys, status, "unknown stack 'local'", str(second / ".localcloud"))


def test_a_state_file_of_another_version_is_one_line(tmp_path: Path, capsys) -> None:
    for name in ("Pulumi.yaml", "Pulumi.local.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    state = tmp_path / ".localcloud" / "local" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"version": 99, "outputs": {}}))
    one_line(capsys, main(["outputs", "-C", str(tmp_path)]), "state version 99, expected 1")
