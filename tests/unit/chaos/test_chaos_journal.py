"""The journal cannot wedge: torn tails repaired, identity checked, vanished targets closed,
pending entries of a gone stack discarded (archived), and a dead local cloud's left behind."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import boto3
import pytest

from chaos import cli
from chaos.errors import IdentityMismatchError, JournalClosedError, JournalError
from chaos.faults import Faults, rollback
from chaos.journal import Journal
from chaos.session import prepare
from chaos.stack import Stack
from functions.faults import settings
from tests.unit.chaos.chaos_unit_helpers import REGION, make_function

MOTO_ACCOUNT = "123456789012"


def lam():
    return boto3.client("lambda", region_name=REGION)


def test_torn_tail_is_cut_before_the_next_append(tmp_path: Path, caplog) -> None:
    # GIVEN a journal whose last write was torn by a kill -9 (no newline at the end)
    journal = Journal("s", tmp_path)
    journal.begin("env", "f", {"env": {}}, {"env": {}})
    with journal.path.open("a") as fh:
        fh.write('{"op": "begin", "tok')
    # WHEN the next change is journalled
    with caplog.at_level(logging.WARNING, logger="chaos.journal"):
        journal.begin("env", "g", {"env": {}}, {"env": {}})
    # THEN the torn bytes are gone, every line is whole, and the warning names the file
    lines = journal.path.read_text().splitlines()
    assert [json.loads(line)["target"] for line in lines] == ["f", "g"]
    assert journal.path.read_text().endswith("\n")
    assert str(journal.path) in caplog.text and "torn" in caplog.text
    assert len(journal.pending()) == 2


def test_undone_after_a_torn_tail_does_not_wedge_the_journal(tmp_path: Path) -> None:
    # GIVEN a torn last line, as the issue's probe left it
    journal = Journal("s", tmp_path)
    token = journal.begin("env", "f", {"env": {}}, {"env": {}})
    with journal.path.open("a") as fh:
        fh.write('{"op": "beg')
    # WHEN a rollback closes the entry and later runs read the journal
    journal.undone(token)
    # THEN it still reads (the old code raised "line 2 is not JSON" from here on)
    assert journal.pending() == []


def test_a_whole_corrupt_line_in_the_middle_is_still_an_error(tmp_path: Path) -> None:
    # GIVEN a line that is complete (newline-terminated) but not JSON: not a kill, corruption
    journal = Journal("s", tmp_path)
    journal.begin("env", "f", {"env": {}}, {"env": {}})
    with journal.path.open("a") as fh:
        fh.write("garbage\n")
    # WHEN / THEN reading it names the line
    with pytest.raises(JournalError, match="line 2 is not JSON"):
        journal.pending()


def test_rollback_refuses_entries_of_another_identity_naming_both(
    stack: Stack, tmp_path: Path
) -> None:
    # GIVEN a change journalled on the stack at another endpoint
    fn = make_function("id1", {"A": "1"})
    journal = Journal(stack.name, tmp_path, identity={**stack.identity(), "endpoint": "http://x:1"})
    Faults(stack, journal).inject(fn, failure_rate=1.0)
    # WHEN a rollback is pointed at this stack (AWS, no endpoint)
    with pytest.raises(IdentityMismatchError) as err:
        rollback(stack, journal)
    # THEN it refuses, naming where the changes were made and where it is pointed, and
    # nothing was restored
    assert "http://x:1" in str(err.value) and "at AWS" in str(err.value)
    assert MOTO_ACCOUNT in str(err.value)
    assert len(journal.pending()) == 1
    env = lam().get_function_configuration(FunctionName=fn)["Environment"]["Variables"]
    assert env[settings.MASTER] == "on"


def test_identity_is_stored_with_every_begin(stack: Stack, tmp_path: Path) -> None:
    # GIVEN / WHEN a change is made through Faults
    fn = make_function("id2")
    faults = Faults(stack, Journal(stack.name, tmp_path))
    faults.set_reserved_concurrency(fn, 0)
    # THEN the entry carries name, endpoint, account and region
    (entry,) = faults.journal.pending()
    assert entry["stack"] == {
        "name": "unit",
        "endpoint": None,
        "account": MOTO_ACCOUNT,
        "region": REGION,
    }


def test_a_vanished_function_counts_as_rolled_back_and_is_reported(
    stack: Stack, tmp_path: Path
) -> None:
    # GIVEN faults on two functions, one of which is then deleted
    keep, gone = make_function("keep", {"A": "1"}), make_function("gone")
    faults = Faults(stack, Journal(stack.name, tmp_path))
    faults.inject(keep, failure_rate=1.0)
    faults.set_reserved_concurrency(gone, 0)
    lam().delete_function(FunctionName=gone)
    # WHEN the journal is rolled back
    restored = rollback(stack, faults.journal)
    # THEN both are closed, the gone one marked vanished, the other restored
    assert {(e["target"], bool(e.get("vanished"))) for e in restored} == {
        (keep, False),
        (gone, True),
    }
    assert faults.journal.pending() == []
    assert lam().get_function_configuration(FunctionName=keep)["Environment"]["Variables"] == {
        "A": "1"
    }


def test_other_errors_still_keep_the_journal(stack: Stack, tmp_path: Path, monkeypatch) -> None:
    # GIVEN a restore that fails for a reason other than "not found"
    fn = make_function("stuck")
    faults = Faults(stack, Journal(stack.name, tmp_path))
    faults.set_reserved_concurrency(fn, 0)
    client = stack.client("lambda")

    def denied(**_: object) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "x")

    monkeypatch.setattr(client, "delete_function_concurrency", denied)
    # WHEN / THEN the rollback fails and the entry stays pending
    with pytest.raises(Exception, match="AccessDenied"):
        rollback(stack, faults.journal)
    assert len(faults.journal.pending()) == 1


def test_cli_discard_archives_the_pending_entries(tmp_path: Path, monkeypatch, capsys) -> None:
    # GIVEN a journal with a pending change of a stack that is gone (no state file)
    monkeypatch.chdir(tmp_path)
    journal = Journal("gone-stack")
    journal.begin("concurrency", "fn-x", {"reserved": None}, {"reserved": 0})
    # WHEN `chaos rollback --discard` runs
    status = cli.main(["rollback", "--stack", "gone-stack", "--discard"])
    # THEN the pending entries are forgotten, the file archived (not deleted), and one line
    # says what was discarded
    out = capsys.readouterr().out
    assert status == 0
    assert "discarded 1 pending change(s) of stack gone-stack" in out and "fn-x" in out
    assert journal.pending() == []
    (archived,) = journal.path.parent.glob("journal.discarded.*.jsonl")
    assert json.loads(archived.read_text().splitlines()[0])["target"] == "fn-x"


def test_cli_rollback_names_a_bad_stack_name(tmp_path: Path, monkeypatch, capsys) -> None:
    # GIVEN / WHEN a stack name that is a path
    monkeypatch.chdir(tmp_path)
    status = cli.main(["rollback", "--stack", "../x", "--discard"])
    # THEN exit 2 with one line, and nothing written outside .chaos
    assert status == 2
    assert "invalid stack name '../x'" in capsys.readouterr().err
    assert not (tmp_path.parent / "x").exists() and not (tmp_path / ".chaos").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_prepare_discards_the_entries_of_a_dead_local_cloud(
    stack: Stack, tmp_path: Path, caplog, ledger_stack: Stack
) -> None:
    # GIVEN a journal left by a killed demo: its local cloud (a loopback port) is gone
    dead = f"http://127.0.0.1:{_closed_port()}"
    old = Journal(
        ledger_stack.name, tmp_path, identity={**ledger_stack.identity(), "endpoint": dead}
    )
    old.begin("concurrency", "fn-of-dead-cloud", {"reserved": None}, {"reserved": 0})
    # WHEN the next run prepares
    with caplog.at_level(logging.WARNING):
        faults = prepare(ledger_stack, root=tmp_path)
    faults.lease.release()
    # THEN the entries are archived with a warning naming the gone cloud, and the run starts
    assert dead in caplog.text and "discarded" in caplog.text
    assert Journal(ledger_stack.name, tmp_path).pending() == []
    assert list((tmp_path / ".chaos" / ledger_stack.name).glob("journal.discarded.*"))


def test_prepare_refuses_entries_of_a_live_other_endpoint(
    tmp_path: Path, ledger_stack: Stack
) -> None:
    # GIVEN pending entries made on an endpoint that still answers (a listening socket)
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        live = f"http://127.0.0.1:{srv.getsockname()[1]}"
        journal = Journal(
            ledger_stack.name, tmp_path, identity={**ledger_stack.identity(), "endpoint": live}
        )
        journal.begin("concurrency", "fn", {"reserved": None}, {"reserved": 0})
        # WHEN / THEN prepare refuses, naming that endpoint: its faults may still be in place
        with pytest.raises(JournalError, match=live.replace(".", r"\.")):
            prepare(ledger_stack, root=tmp_path)
    assert len(journal.pending()) == 1


def test_a_closed_journal_refuses_new_changes(stack: Stack, tmp_path: Path) -> None:
    # GIVEN a run that is stopping
    fn = make_function("late", {"A": "1"})
    faults = Faults(stack, Journal(stack.name, tmp_path))
    faults.set_reserved_concurrency(fn, 0)
    restored = faults.stop("SIGTERM received")
    # WHEN an experiment thread tries one more change
    with pytest.raises(JournalClosedError, match="SIGTERM"):
        faults.inject(fn, failure_rate=1.0)
    # THEN the earlier change is rolled back and the function untouched by the late one
    assert len(restored) == 1
    assert "ReservedConcurrentExecutions" not in lam().get_function_concurrency(FunctionName=fn)
    assert lam().get_function_configuration(FunctionName=fn)["Environment"]["Variables"] == {
        "A": "1"
    }
