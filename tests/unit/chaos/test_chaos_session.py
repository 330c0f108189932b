"""An experiment end to end on moto, with a fake worker in a thread standing in for Lambda."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator

import boto3
import pytest

from chaos.experiments.model import AwaitSettled, Budget, Expect, Experiment, Send
from chaos.faults import Faults
from chaos.journal import Journal
from chaos.session import run_experiment
from chaos.stack import Stack
from tests.unit.chaos.chaos_unit_helpers import REGION, queue

EXP = Experiment(
    name="unit-poison",
    pattern="queue_worker",
    title="t",
    fault="poison",
    method=(Send("sqs", "queue_worker.queue_url", healthy=4, poison=2), AwaitSettled()),
    expect=Expect(),
    budget=Budget("none"),
    extra_seconds=4,
)


@pytest.fixture
def deployed(stack: Stack) -> Stack:
    src, dlq = queue("src"), queue("dlq")
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="ledger",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "pattern", "KeyType": "HASH"},
            {"AttributeName": "event_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pattern", "AttributeType": "S"},
            {"AttributeName": "event_id", "AttributeType": "S"},
        ],
    )
    stack.outputs.update(
        {
            "ledger_table": "ledger",
            "queue_worker": {"queue_url": src, "dlq_url": dlq},
            "routes": {
                "queue_worker": {
                    "none": {
                        "envelope": "processed",
                        "queue_url": None,
                        "ledger_pattern": "qw",
                        "also": [],
                    },
                    "poison": {
                        "envelope": "sqs_redrive",
                        "queue_url": dlq,
                        "ledger_pattern": None,
                        "also": [],
                    },
                }
            },
        }
    )
    return stack


def worker(stack: Stack, stop: threading.Event, drop: list[str]) -> None:
    """Processes healthy events into the ledger, moves poison to the DLQ (as redrive would)."""
    sqs, ddb = boto3.client("sqs", region_name=REGION), boto3.client("dynamodb", region_name=REGION)
    src, dlq = stack.get("queue_worker.queue_url"), stack.get("queue_worker.dlq_url")
    while not stop.is_set():
        for m in sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10).get("Messages", []):
            event = json.loads(m["Body"])
            if event.get("poison"):
                sqs.send_message(QueueUrl=dlq, MessageBody=m["Body"])
            elif not drop or event["id"] != drop[0]:
                ddb.put_item(
                    TableName="ledger",
                    Item={
                        "pattern": {"S": "qw"},
                        "event_id": {"S": event["id"]},
                        "count": {"N": "1"},
                    },
                )
            sqs.delete_message(QueueUrl=src, ReceiptHandle=m["ReceiptHandle"])
        stop.wait(0.05)


@pytest.fixture
def run(deployed: Stack, tmp_path) -> Iterator:
    stop = threading.Event()
    drop: list[str] = []
    thread = threading.Thread(target=worker, args=(deployed, stop, drop), daemon=True)
    thread.start()

    def go(exp: Experiment = EXP) -> dict:
        return run_experiment(
            deployed,
            exp,
            faults=Faults(deployed, Journal("unit", tmp_path)),
            run_dir=tmp_path / "run",
            cloud_info={},
        )

    go.drop = drop  # type: ignore[attr-defined]
    yield go
    stop.set()
    thread.join(timeout=5)


def test_every_event_accounted_for(run, deployed: Stack, tmp_path) -> None:
    result = run()
    assert result["verdict"] == "pass", "\n".join(result["verdicts"])
    assert (result["sent"], result["processed"], result["dead_lettered"], result["lost"]) == (
        6,
        4,
        2,
        0,
    )
    # the DLQ was drained into the run directory, so the next experiment starts empty
    assert len((tmp_path / "run" / "dlq" / "unit-poison.jsonl").read_text().splitlines()) == 2
    assert result["timeline"]["sent"] and len(result["timeline"]["dlq"]) == 2


def test_a_dropped_event_is_reported_lost_by_id(run, monkeypatch) -> None:
    import chaos.runner as runner

    real_new_event = runner.new_event

    def new_event(**kw):
        event = real_new_event(**kw)
        if not kw.get("poison") and not run.drop:
            run.drop.append(event["id"])  # the fake worker will silently drop this one
        return event

    monkeypatch.setattr(runner, "new_event", new_event)
    result = run()
    assert result["verdict"] == "fail"
    assert result["lost"] == 1 and result["lost_ids"] == run.drop
    assert any(f"1 lost (seen nowhere): {run.drop[0]}" in v for v in result["verdicts"])


def test_a_guard_alarm_stops_the_experiment_and_faults_are_undone(
    run, deployed: Stack, tmp_path
) -> None:
    # GIVEN a function the experiment faults, and a guard alarm that fires mid-experiment
    from chaos.experiments.model import Inject
    from tests.unit.chaos.chaos_unit_helpers import make_function

    fn = make_function("guarded", {"KEEP": "1"})
    deployed.outputs["queue_worker"]["function"] = {"name": fn}
    cw = boto3.client("cloudwatch", region_name=REGION)
    cw.put_metric_alarm(
        AlarmName="guard",
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    exp = Experiment(
        name="guarded",
        pattern="queue_worker",
        title="t",
        fault="f",
        method=(
            Inject("queue_worker.function.name", {"failure_rate": 1.0}),
            Send("sqs", "queue_worker.queue_url", healthy=2),
            AwaitSettled(),
        ),
        expect=Expect(),
        extra_seconds=30,
    )
    run.drop.append("never-sent")  # keeps the fake worker from finishing the experiment early
    deployed.outputs["queue_worker"]["queue_url"] = queue("nobody-reads-this")

    def fire() -> None:
        cw.set_alarm_state(AlarmName="guard", StateValue="ALARM", StateReason="test")

    timer = threading.Timer(1.0, fire)
    timer.start()
    # WHEN it runs with that guard
    t0 = time.monotonic()
    result = run_experiment(
        deployed,
        exp,
        faults=Faults(deployed, Journal("unit", tmp_path)),
        run_dir=tmp_path / "run",
        cloud_info={},
        extra_guards=["guard"],
    )
    timer.join()
    # THEN it stopped well before its budget, said why, and undid the fault
    assert time.monotonic() - t0 < 20
    assert result["verdict"] == "stopped"
    assert "guard alarm(s) in ALARM" in result["error"]
    env = boto3.client("lambda", region_name=REGION).get_function_configuration(FunctionName=fn)[
        "Environment"
    ]["Variables"]
    assert env == {"KEEP": "1"}
    assert Journal("unit", tmp_path).pending() == []


def test_ctrl_c_cancels_the_wait_and_rolls_back(run, deployed: Stack, tmp_path) -> None:
    from chaos.experiments.model import Inject
    from tests.unit.chaos.chaos_unit_helpers import make_function

    fn = make_function("cancelled", {"KEEP": "1"})
    deployed.outputs["queue_worker"]["function"] = {"name": fn}
    deployed.outputs["queue_worker"]["queue_url"] = queue("nobody-reads-this-either")
    exp = Experiment(
        name="cancel",
        pattern="queue_worker",
        title="t",
        fault="f",
        method=(
            Inject("queue_worker.function.name", {"failure_rate": 1.0}),
            Send("sqs", "queue_worker.queue_url", healthy=1),
            AwaitSettled(),
        ),
        expect=Expect(),
        extra_seconds=30,
    )
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    t0 = time.monotonic()
    result = run_experiment(
        deployed,
        exp,
        faults=Faults(deployed, Journal("unit", tmp_path)),
        run_dir=tmp_path / "run",
        cloud_info={},
        cancel=cancel,
    )
    assert time.monotonic() - t0 < 20 and "cancelled" in result["error"]
    env = boto3.client("lambda", region_name=REGION).get_function_configuration(FunctionName=fn)[
        "Environment"
    ]["Variables"]
    assert env == {"KEEP": "1"} and Journal("unit", tmp_path).pending() == []


def test_a_budget_from_a_missing_redrive_policy_fails_before_any_traffic(run) -> None:
    # GIVEN an experiment whose budget needs the source queue's maxReceiveCount, on a queue
    # without a redrive policy (the fixture's queues have none)
    exp = dataclasses.replace(
        EXP, name="unit-no-redrive", budget=Budget("sqs", "queue_worker.queue_url")
    )
    # WHEN it runs
    result = run(exp)
    # THEN it fails on the missing setting, naming it, and sends nothing
    assert result["verdict"] != "pass"
    assert any(
        v.startswith("budget from live settings: FAIL") and "no RedrivePolicy maxReceiveCount" in v
        for v in result["verdicts"]
    ), result["verdicts"]
    assert result["sent"] == 0


def test_settling_past_the_budget_fails_the_experiment(run, monkeypatch) -> None:
    import chaos.session as session

    # GIVEN the method settles, but later than the budget (computed 0 s + 4 s slack)
    real = session.run_method

    def slow(ctx, timeout):
        observed = real(ctx, timeout)
        ctx.settled_after[-1] = 4.5
        return observed

    monkeypatch.setattr(session, "run_method", slow)
    # WHEN judged
    result = run()
    # THEN late is a failing verdict with both numbers, not a note
    assert result["verdict"] == "fail"
    late = [v for v in result["verdicts"] if v.startswith("settled within budget: FAIL")]
    assert late and "0.0s from the stack's settings + 4.0s slack" in late[0]


def test_a_failing_preflight_fails_the_experiment_and_its_traffic_still_runs(
    run, deployed, tmp_path
) -> None:
    from chaos.expectations import Verdict

    # GIVEN a preflight that finds the stack misconfigured
    def preflight(stack, pattern):
        assert pattern == "queue_worker"
        return [Verdict("preflight dlq alarm threshold", False, ["threshold 2"])]

    # WHEN the experiment runs with it
    result = run_experiment(
        deployed,
        EXP,
        faults=Faults(deployed, Journal("unit", tmp_path)),
        run_dir=tmp_path / "run",
        cloud_info={},
        preflight=preflight,
    )
    # THEN the preflight verdict is reported and fails the experiment, whose events were
    # still sent and judged (what the finding does to them is the other half of the report)
    assert result["verdict"] == "fail" and result["sent"] > 0
    assert any(v.startswith("preflight dlq alarm threshold: FAIL") for v in result["verdicts"])
    assert any(v.startswith("conservation: ") for v in result["verdicts"])


def test_the_groups_whose_settings_let_them_take_longest_start_first(monkeypatch, tmp_path):
    import chaos.session as session

    # GIVEN three patterns whose settle budgets (from the live settings) add up to 5, 30, 12 s
    budgets = {"short": 5.0, "long": 30.0, "middle": 12.0}
    exps = [
        dataclasses.replace(EXP, name=f"{p}-{i}", pattern=p)
        for p in ("short", "long", "middle")
        for i in range(2)
    ]
    monkeypatch.setattr(session, "for_stack", lambda _stack, e: list(e))
    monkeypatch.setattr(session, "_expected_seconds", lambda _s, exp, *_a: budgets[exp.pattern] / 2)
    started: list[str] = []
    begun = threading.Condition()
    hold = 0  # the first `hold` experiments keep their threads until that many have begun

    def fake_run(_stack, exp, **_kw):
        with begun:
            started.append(exp.pattern)
            begun.notify_all()
            assert begun.wait_for(lambda: len(started) >= hold, timeout=10)
        return {"name": exp.name}

    monkeypatch.setattr(session, "run_experiment", fake_run)

    def run(**kw):
        started.clear()
        session.run_all(None, exps, faults=None, run_dir=tmp_path, cloud_info={}, **kw)
        return list(dict.fromkeys(started))

    # WHEN two run at once (both threads taken before either goes on)
    hold = 2
    order = run(max_parallel=2)
    # THEN the longest two groups take the threads first, the short last
    assert order[2] == "short"
    assert set(order[:2]) == {"long", "middle"}
    hold = 0
    # AND one at a time keeps the catalogue's order
    assert run(parallel=False) == ["short", "long", "middle"]
