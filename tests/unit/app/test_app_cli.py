"""`python -m app demo|mutate`: bad input is one line on stderr, exit 2, nothing started."""

from __future__ import annotations

import pytest

from app.__main__ import main
from chaos import stack as chaos_stack
from localcloud.deploy import config as localcloud_config


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--stack", "../x"],
        ["demo", "--stack=../x"],
        ["mutate", "--stack", "../x"],
        ["mutate", "--stack=../x", "--fast"],
    ],
)
def test_a_stack_name_that_is_a_path_is_refused(capsys, argv, tmp_path, monkeypatch) -> None:
    # GIVEN / WHEN a command is given a path as stack name
    monkeypatch.chdir(tmp_path)
    status = main(argv)
    # THEN it stops before a cloud starts or any state is written
    err = capsys.readouterr().err
    assert status == 2 and "invalid stack name '../x'" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_command_names_the_allowed_ones(capsys) -> None:
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == "error: unknown command 'serve'; allowed: demo, mutate\n"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["mutate", "--stack", "prod", "--fast"], "unknown stack 'prod'"),
        (["mutate", "--stack", "local", "--operator", "nope"], "unknown operator 'nope'"),
    ],
)
def test_mutate_refuses_an_unknown_stack_or_operator_before_any_cloud(capsys, argv, needle):
    # GIVEN / WHEN a stack with no Pulumi.<stack>.yaml, or an operator not in the catalog
    status = main(argv)
    # THEN one line naming it, exit 2
    err = capsys.readouterr().err
    assert status == 2 and needle in err and err.count("\n") == 1, err


def test_chaos_and_the_emulated_deploy_state_the_same_stack_name_rule() -> None:
    # chaos imports no localcloud, so each states Pulumi's rule; they must not drift apart
    assert chaos_stack.STACK_NAME_RE.pattern == localcloud_config.STACK_NAME_RE.pattern
    assert chaos_stack.STACK_NAME_RULE == localcloud_config.STACK_NAME_RULE
