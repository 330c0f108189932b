"""Fault actions: journalled before the change, undone to the prior state, safe to undo twice."""

from __future__ import annotations

import boto3
import pytest

from chaos.errors import ChaosError, FaultValueError
from chaos.faults import Faults, rollback
from chaos.journal import Journal
from chaos.stack import Stack
from functions.faults import settings
from tests.unit.chaos.chaos_unit_helpers import REGION, make_function, queue


@pytest.fixture
def faults(stack: Stack, tmp_path) -> Faults:
    return Faults(stack, Journal(stack.name, tmp_path))


def env_of(name: str) -> dict[str, str]:
    conf = boto3.client("lambda", region_name=REGION).get_function_configuration(FunctionName=name)
    return conf["Environment"]["Variables"]


def test_inject_merges_and_undo_restores_the_prior_env(faults: Faults) -> None:
    # GIVEN a function with its own env and a leftover fault variable
    fn = make_function("f1", {"LEDGER_TABLE": "t", settings.SEED: "1"})
    # WHEN faults are injected
    token = faults.inject(fn, failure_rate=1.0, match="chaos_target", timeout=True)
    # THEN they are merged into the env, the rest untouched
    env = env_of(fn)
    assert env["LEDGER_TABLE"] == "t" and env[settings.SEED] == "1"
    assert env[settings.MASTER] == "on" and env[settings.FAILURE_RATE] == "1.0"
    assert env[settings.TIMEOUT] == "on" and env[settings.MATCH] == "chaos_target"
    # AND the journal holds the prior state until the undo
    (entry,) = faults.journal.pending()
    assert entry["kind"] == "env" and entry["prior"]["env"][settings.MASTER] is None
    faults.undo(token)
    assert env_of(fn) == {"LEDGER_TABLE": "t", settings.SEED: "1"}
    assert faults.journal.pending() == []
    faults.undo(token)  # twice: a no-op
    assert env_of(fn) == {"LEDGER_TABLE": "t", settings.SEED: "1"}


def test_nested_changes_roll_back_newest_first(faults: Faults) -> None:
    fn = make_function("f2", {"A": "1"})
    faults.inject(fn, failure_rate=0.5)
    faults.inject(fn, failure_rate=1.0, latency="fixed:2s")
    faults.set_env(fn, {"A": "2"})
    restored = faults.rollback()
    assert len(restored) == 3
    assert env_of(fn) == {"A": "1"}
    assert faults.rollback() == []


def test_reserved_concurrency_restores_the_previous_value(faults: Faults) -> None:
    lam = boto3.client("lambda", region_name=REGION)
    fn = make_function("f3")
    lam.put_function_concurrency(FunctionName=fn, ReservedConcurrentExecutions=7)
    token = faults.set_reserved_concurrency(fn, 0)
    assert lam.get_function_concurrency(FunctionName=fn)["ReservedConcurrentExecutions"] == 0
    faults.undo(token)
    assert lam.get_function_concurrency(FunctionName=fn)["ReservedConcurrentExecutions"] == 7
    fn2 = make_function("f4")
    faults.undo(faults.set_reserved_concurrency(fn2, 0))
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=fn2)


def test_disabling_a_mapping_and_undo(faults: Faults) -> None:
    lam = boto3.client("lambda", region_name=REGION)
    fn = make_function("f5")
    arn = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=queue("src"), AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn)["UUID"]
    token = faults.set_mapping_enabled(uuid, False)
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    faults.undo(token)
    faults.undo(token)
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled"


def test_bad_values_are_refused_before_anything_changes(faults: Faults) -> None:
    fn = make_function("f6", {"A": "1"})
    with pytest.raises(FaultValueError, match="unknown fault"):
        faults.inject(fn, failure_rat=1.0)
    with pytest.raises(FaultValueError, match="reserved concurrency"):
        faults.set_reserved_concurrency(fn, -1)
    with pytest.raises(FaultValueError, match="FAILMODES_FAILURE_RATE"):
        faults.inject(fn, failure_rate=1.5)
    with pytest.raises(FaultValueError, match="FAILMODES_LATENCY"):
        faults.inject(fn, latency="sometimes")
    with pytest.raises(FaultValueError, match="FAILMODES_MATCH"):
        faults.inject(fn, match="payload.[")
    assert env_of(fn) == {"A": "1"} and faults.journal.pending() == []


def test_a_missing_function_names_it(faults: Faults) -> None:
    with pytest.raises(ChaosError, match="no-such-fn"):
        faults.inject("no-such-fn", failure_rate=1.0)


def test_journal_is_written_before_the_change(faults: Faults, monkeypatch) -> None:
    # GIVEN an update that dies half way (as a crash would)
    fn = make_function("f7", {"A": "1"})
    client = faults.stack.client("lambda")

    def boom(**_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "update_function_configuration", boom)
    with pytest.raises(KeyboardInterrupt):
        faults.inject(fn, failure_rate=1.0)
    # THEN the journal already has the prior state, and rollback is harmless
    assert len(faults.journal.pending()) == 1
    monkeypatch.undo()
    assert len(rollback(faults.stack, faults.journal)) == 1
    assert env_of(fn) == {"A": "1"}


def test_torn_last_line_is_ignored_but_corruption_is_not(tmp_path) -> None:
    journal = Journal("s", tmp_path)
    journal.begin("env", "f", {"env": {}}, {"env": {}})
    with journal.path.open("a") as fh:
        fh.write('{"op": "beg')
    assert len(journal.pending()) == 1
    with journal.path.open("a") as fh:
        fh.write('\n{"op": "undone", "token": "x"}\n')
    with pytest.raises(ChaosError, match="line 2 is not JSON"):
        journal.pending()
