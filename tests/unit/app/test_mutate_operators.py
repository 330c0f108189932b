"""Each mutation operator changes exactly what it says, on every instance it matches.

The real program runs under the mock runtime with the operators' transformations (on every
matching resource at once); the recorded graph must equal the correct program's graph
except for the expected change on each target. Operators whose targets are disjoint share
one run, so the catalog costs a few program runs, not one per operator.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.mutate.graph import Graph, Node, record
from app.mutate.mutants import Mutant, transformations
from app.mutate.operators import CATALOG, Operator, by_id
from localcloud.deploy.engine import normalize

PROJECT_DIR = Path(__file__).resolve().parents[3]
STACK = "local"

DLQ_ALARMS = {
    "queue-worker-dlq-alarm",
    "async-function-subscription-dlq-alarm",
    "async-function-dlq-alarm",
    "async-function-on-failure-alarm",
    "ride-records-dlq-alarm",
    "ride-records-subscription-dlq-alarm",
    "event-pipeline-target-dlq-alarm",
    "event-pipeline-delivery-dlq-alarm",
    "event-pipeline-flow-target-dlq-alarm",
    "event-pipeline-flow-delivery-dlq-alarm",
    "stream-processor-on-failure-alarm",
    "fan-out-orders-dlq-alarm",
    "fan-out-refunds-dlq-alarm",
    "fan-out-orders-subscription-dlq-alarm",
    "fan-out-refunds-subscription-dlq-alarm",
}
WORKER_QUEUES = {"queue-worker-queue", "fan-out-orders-queue", "fan-out-refunds-queue"}
MAPPED_QUEUES = WORKER_QUEUES | {"event-pipeline-flow-buffer"}
Props = dict[str, Any]
Expect = Callable[[Props, Graph], Props]


def _without(props: Props, *keys: str) -> Props:
    return {k: v for k, v in props.items() if k not in keys}


def _redrive(props: Props, count: int) -> Props:
    policy = json.loads(props["redrivePolicy"])
    return {**props, "redrivePolicy": {**policy, "maxReceiveCount": count}}


def _visibility(props: Props, graph: Graph) -> Props:
    (mapping,) = [
        m
        for m in graph.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
        if m.props["eventSourceArn"] == props["arn"]
    ]
    fn = graph.function(mapping.props["functionName"])
    return {**props, "visibilityTimeoutSeconds": fn.props["timeout"]}


def _source_queue_name(props: Props, graph: Graph) -> Props:
    dlq = next(
        q
        for q in graph.of_type("aws:sqs/queue:Queue")
        if q.props["name"] == props["dimensions"]["QueueName"]
    )
    (source,) = [
        q
        for q in graph.of_type("aws:sqs/queue:Queue")
        if json.loads(q.props.get("redrivePolicy") or "{}").get("deadLetterTargetArn")
        == dlq.props["arn"]
    ]
    return {**props, "dimensions": {**props["dimensions"], "QueueName": source.props["name"]}}


def _definition(props: Props, edit: Callable[[dict[str, Any]], None]) -> Props:
    doc = json.loads(props["definition"])
    for state in doc["States"].values():
        edit(state)
    return {**props, "definition": doc}


def _plus_one_retry(state: dict[str, Any]) -> None:
    for retrier in state.get("Retry", []):
        if retrier["MaxAttempts"] > 0:
            retrier["MaxAttempts"] += 1


def _env(props: Props, **extra: str) -> Props:
    variables = {**props["environment"]["variables"], **extra}
    return {**props, "environment": {**props["environment"], "variables": variables}}


def _statements(props: Props) -> list[dict[str, Any]]:
    return json.loads(props["policy"])["Statement"]


def _policy(props: Props, statements: list[dict[str, Any]]) -> Props:
    return {**props, "policy": {**json.loads(props["policy"]), "Statement": statements}}


def _no_send(props: Props, graph: Graph) -> Props:
    # The components grant the failure path's sends in a statement of their own.
    kept = [st for st in _statements(props) if st["Action"] != ["sqs:SendMessage"]]
    assert len(kept) < len(_statements(props))
    return _policy(props, kept)


def _without_action(action: str) -> Expect:
    def expect(props: Props, graph: Graph) -> Props:
        out = []
        for st in _statements(props):
            if action in st["Action"] and st["Resource"][0].startswith("arn:aws:sqs:"):
                st = {**st, "Action": [a for a in st["Action"] if a != action]}
            out.append(st)
        assert out != _statements(props)
        return _policy(props, out)

    return expect


def _owner_only(props: Props, graph: Graph) -> Props:
    (st,) = _statements(props)
    owner = {
        "Sid": "Owner",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "sqs:*",
        "Resource": st["Resource"],
    }
    return _policy(props, [owner])


SUBSCRIPTION_DLQ_POLICIES = {
    "async-function-subscription-dlq-policy",
    "ride-records-subscription-dlq-policy",
    "fan-out-orders-subscription-dlq-policy",
    "fan-out-refunds-subscription-dlq-policy",
}
SQS_CONSUMER_POLICIES = {
    "queue-worker-worker-access",
    "fan-out-orders-worker-access",
    "fan-out-refunds-worker-access",
    "event-pipeline-flow-delivery-access",
}

# operator id -> (the resources it must change in this program, the change it must make)
EXPECTED: dict[str, tuple[set[str], Expect]] = {
    "dlq-alarm-gt-1": (
        DLQ_ALARMS,
        lambda p, g: {**p, "comparisonOperator": "GreaterThanThreshold", "threshold": 1},
    ),
    "buffer-no-redrive": (
        {"event-pipeline-flow-buffer"},
        lambda p, g: _without(p, "redrivePolicy"),
    ),
    "queue-no-redrive": (WORKER_QUEUES, lambda p, g: _without(p, "redrivePolicy")),
    "max-receive-count-plus-1": (
        MAPPED_QUEUES,
        lambda p, g: _redrive(p, json.loads(p["redrivePolicy"])["maxReceiveCount"] + 1),
    ),
    "visibility-below-6x": (MAPPED_QUEUES, _visibility),
    "mapping-no-batch-failures": (
        {
            "queue-worker-mapping",
            "fan-out-orders-mapping",
            "fan-out-refunds-mapping",
            "event-pipeline-flow-mapping",
        },
        lambda p, g: {**p, "functionResponseTypes": []},
    ),
    "kinesis-bisect-off": (
        {"stream-processor-mapping"},
        lambda p, g: {**p, "bisectBatchOnFunctionError": False},
    ),
    "kinesis-retries-plus-1": (
        {"stream-processor-mapping"},
        lambda p, g: {**p, "maximumRetryAttempts": p["maximumRetryAttempts"] + 1},
    ),
    "async-retries-changed": (
        {
            "async-function-invoke-config",
            "ride-records-invoke-config",
            "event-pipeline-invoke-config",
        },
        lambda p, g: {**p, "maximumRetryAttempts": p["maximumRetryAttempts"] - 1},
    ),
    "async-no-on-failure": (
        {"async-function-invoke-config"},
        lambda p, g: _without(p, "destinationConfig"),
    ),
    "function-dlq-removed": (
        {"async-function-worker", "ride-records-writer", "event-pipeline-delivery"},
        lambda p, g: _without(p, "deadLetterConfig"),
    ),
    "dlq-alarm-watches-source": (
        {
            "queue-worker-dlq-alarm",
            "event-pipeline-flow-delivery-dlq-alarm",
            "fan-out-orders-dlq-alarm",
            "fan-out-refunds-dlq-alarm",
        },
        _source_queue_name,
    ),
    "alarm-no-actions": (DLQ_ALARMS, lambda p, g: {**p, "alarmActions": []}),
    "sfn-retry-attempts-plus-1": (
        {"workflow-state-machine"},
        lambda p, g: _definition(p, _plus_one_retry),
    ),
    "sfn-catch-removed": (
        {"workflow-state-machine"},
        lambda p, g: _definition(p, lambda state: state.pop("Catch", None)),
    ),
    "eventbridge-target-no-dlq": (
        {"event-pipeline-target", "event-pipeline-flow-target"},
        lambda p, g: _without(p, "deadLetterConfig"),
    ),
    "eventbridge-retries-plus-1": (
        {"event-pipeline-target", "event-pipeline-flow-target"},
        lambda p, g: {
            **p,
            "retryPolicy": {
                **p["retryPolicy"],
                "maximumRetryAttempts": p["retryPolicy"]["maximumRetryAttempts"] + 1,
            },
        },
    ),
    "sns-subscription-no-dlq": (
        {"async-function-subscription", "ride-records-subscription"},
        lambda p, g: _without(p, "redrivePolicy"),
    ),
    "fan-out-filter-broadened": (
        {"fan-out-orders-subscription", "fan-out-refunds-subscription"},
        lambda p, g: {**p, "filterPolicy": {"kind": ["order", "refund"]}},
    ),
    "idempotency-disabled": (
        {
            "queue-worker-worker",
            "fan-out-orders-worker",
            "fan-out-refunds-worker",
            "event-pipeline-flow-delivery",
            "event-pipeline-delivery",
            "stream-processor-processor",
            "async-function-worker",
            "ride-records-writer",
        },
        lambda p, g: _env(p, POWERTOOLS_IDEMPOTENCY_DISABLED="true"),
    ),
    "table-provisioned-no-autoscaling": (
        {"ride-records-rides"},
        lambda p, g: {**p, "billingMode": "PROVISIONED", "readCapacity": 1, "writeCapacity": 1},
    ),
    "usage-plan-unthrottled": (
        {"slow-api-plan"},
        lambda p, g: {**p, "throttleSettings": {"rateLimit": 10000, "burstLimit": 5000}},
    ),
    "redriver-no-sources": ({"dlq-redriver-function"}, lambda p, g: _env(p, REDRIVE_SOURCES="{}")),
    "async-send-grant-removed": (
        {
            "async-function-worker-access",
            "ride-records-writer-access",
            "event-pipeline-delivery-access",
        },
        _no_send,
    ),
    "sqs-mapping-receive-grant-removed": (
        SQS_CONSUMER_POLICIES,
        _without_action("sqs:ReceiveMessage"),
    ),
    "sqs-mapping-delete-grant-removed": (
        SQS_CONSUMER_POLICIES,
        _without_action("sqs:DeleteMessage"),
    ),
    "stream-on-failure-grant-removed": ({"stream-processor-processor-access"}, _no_send),
    "sns-dlq-policy-no-sns": (SUBSCRIPTION_DLQ_POLICIES, _owner_only),
    "eventbridge-dlq-policy-no-events": (
        {"event-pipeline-target-dlq-policy", "event-pipeline-flow-target-dlq-policy"},
        _owner_only,
    ),
}


def comparable(props: Props) -> Props:
    """Inputs as the deploy compares them (archives by content), JSON documents parsed."""
    out = normalize(props, PROJECT_DIR)
    for key in ("redrivePolicy", "definition", "filterPolicy", "policy"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out


def inputs(node: Node) -> Props:
    # Outputs the mocks invent (arn, url) are the same in both runs; only inputs can differ.
    return comparable(node.props)


def mutants_of(op: Operator, graph: Graph) -> list[Mutant]:
    return [
        Mutant(op, n.type, n.name, "", (), params)
        for n in graph
        if (params := op.params(graph, n)) is not None
    ]


def batches(graph: Graph) -> list[list[Operator]]:
    """Operators grouped so that no two in a group change the same resource."""
    groups: list[tuple[set[str], list[Operator]]] = []
    for op in CATALOG:
        targets = {m.name for m in mutants_of(op, graph)}
        for used, members in groups:
            if not used & targets:
                used |= targets
                members.append(op)
                break
        else:
            groups.append((set(targets), [op]))
    return [members for _, members in groups]


@pytest.fixture(scope="module")
def baseline() -> Graph:
    return record(STACK, PROJECT_DIR)


@pytest.fixture(scope="module")
def mutated(baseline: Graph) -> dict[str, Graph]:
    """operator id -> the graph of the program with its batch's transformations."""
    out: dict[str, Graph] = {}
    for group in batches(baseline):
        mutants = [m for op in group for m in mutants_of(op, baseline)]
        graph = record(STACK, PROJECT_DIR, transformations(mutants))
        out |= {op.id: graph for op in group}
    return out


def diff(before: Graph, after: Graph, expected: dict[str, Expect]) -> list[str]:
    """Where `after` differs from `before` with each target's expected change applied."""
    problems = []
    for node in before:
        got = inputs(after.get(node.type, node.name))
        want = (
            comparable(expected[node.name](node.props, before))
            if node.name in expected
            else (inputs(node))
        )
        if got != want:
            keys = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
            problems.append(f"{node.type} {node.name}: {keys}")
    return problems


def test_the_catalog_has_at_least_15_operators_covering_both_seed_bugs():
    # GIVEN the catalog / WHEN counted / THEN at least 15, seed bugs 1 and 2 among them
    assert len(CATALOG) >= 15
    assert {op.seed_bug for op in CATALOG} >= {1, 2}
    assert set(EXPECTED) == {op.id for op in CATALOG}, "every operator has an expectation"


@pytest.mark.parametrize("operator_id", [op.id for op in CATALOG])
def test_operator_matches_exactly_its_instances(baseline, operator_id):
    # GIVEN the correct program's graph
    op = by_id(operator_id)
    # WHEN the operator's predicate is asked about every resource
    matched = {m.name for m in mutants_of(op, baseline)}
    # THEN it picks every instance of its bug's place in this program, and nothing else
    assert matched == EXPECTED[operator_id][0]


@pytest.mark.parametrize("operator_id", [op.id for op in CATALOG])
def test_operator_changes_its_targets_as_intended_and_nothing_else(baseline, mutated, operator_id):
    # GIVEN the program run with the operator's batch of transformations
    after = mutated[operator_id]
    batch = [op for op in CATALOG if mutated[op.id] is after]
    expected = {m.name: EXPECTED[op.id][1] for op in batch for m in mutants_of(op, baseline)}
    # WHEN the recorded graph is compared with the correct one
    problems = diff(baseline, after, expected)
    # THEN the targets changed exactly as intended, every other resource is unchanged
    assert problems == []
    assert {(n.type, n.name) for n in after} == {(n.type, n.name) for n in baseline}


def test_the_comparison_sees_a_change_it_was_not_told_of(baseline, mutated):
    # GIVEN a graph mutated by dlq-alarm-gt-1, compared as if nothing was expected to change
    after = mutated["dlq-alarm-gt-1"]
    # WHEN diffed / THEN every DLQ alarm shows up as an unexpected change
    problems = diff(baseline, after, {})
    assert {p.split()[1].rstrip(":") for p in problems} >= DLQ_ALARMS


def test_an_operator_matches_a_forks_own_instance():
    # GIVEN a program with a queue worker of a name this program never uses
    from components.queue_worker import QueueWorker
    from tests.unit.components.comp_helpers import build, common, function

    mocks, _ = build(
        lambda: QueueWorker(
            "orders-intake", {"function": function("queue_worker", 5), **common("orders")}
        )
    )
    graph = Graph.from_registrations(mocks.registrations)
    # WHEN the queue and alarm operators look for their places
    queues = {m.name for m in mutants_of(by_id("queue-no-redrive"), graph)}
    alarms = {m.name for m in mutants_of(by_id("dlq-alarm-gt-1"), graph)}
    # THEN they find the fork's resources by type and properties
    assert queues == {"orders-intake-queue"}
    assert alarms == {"orders-intake-dlq-alarm"}


# ---- the policy gate of the emulated deploy ---------------------------------------------
UNREACHABLE = "http://127.0.0.1:9"  # the gate refuses before any call to a cloud

GATE_PROGRAM = """
import pulumi_aws as aws

for name in ("orders", "refunds", "audit"):
    aws.sqs.Queue(name, visibility_timeout_seconds=30)
"""
GATE_PACK = """
from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str
    message: str

    def __str__(self):
        return f"[{self.policy}] {self.resource}: {self.message}"


def check_all(resources):
    return [
        Violation("queue-redrive", r.name, "no redrive policy")
        for r in resources
        if r.type == "aws:sqs/queue:Queue" and not r.props.get("redrivePolicy")
        and r.name != "audit"
    ]
"""


@pytest.fixture
def gate_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from localcloud.deploy import cli

    # A CLI that checks its endpoint answers first (main's) is told this one does: the
    # gate is what is under test, and it runs before any call to the cloud.
    monkeypatch.setattr(cli, "_check_endpoint", lambda endpoint: None, raising=False)
    (tmp_path / "Pulumi.yaml").write_text("name: gate\nruntime: python\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (tmp_path / "__main__.py").write_text(GATE_PROGRAM)
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "policy" / "invariants.py").write_text(GATE_PACK)
    return tmp_path


def _cli(project: Path, *extra: str) -> list[str]:
    return ["preview", "--stack", "test", "--cwd", str(project), "--endpoint", UNREACHABLE, *extra]


def test_the_deploy_refuses_a_program_that_violates_the_pack(gate_project, capsys):
    from localcloud.deploy.cli import main

    # GIVEN a program two of whose queues violate its policy pack
    # WHEN it is previewed (the gate runs before anything is planned or created)
    code = main(_cli(gate_project))
    # THEN exit 2, one line per violation naming rule and resource, and nothing written
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err[:2] == [
        "[queue-redrive] orders: no redrive policy",
        "[queue-redrive] refunds: no redrive policy",
    ]
    assert len(err) == 3 and "--allow-policy-violations" in err[2]
    assert not (gate_project / ".localcloud").exists()


def test_the_flag_deploys_a_violating_program_anyway_with_warnings(gate_project, capsys):
    from localcloud.deploy.cli import main

    # GIVEN the same violating program
    # WHEN previewed with the explicit flag
    code = main(_cli(gate_project, "--allow-policy-violations"))
    # THEN it goes ahead (every queue planned) and prints each violation as a warning
    out, err = capsys.readouterr()
    assert code == 0
    # (the SDK registers from a thread pool: the plan's order is not the program's)
    planned = sorted(line for line in out.splitlines() if "aws:sqs/queue:Queue" in line)
    assert planned == [
        f" + create   aws:sqs/queue:Queue  {name}" for name in ("audit", "orders", "refunds")
    ]
    assert err.count("warning: policy violation deployed anyway: [queue-redrive]") == 2


def test_the_engine_gate_runs_the_projects_pack_on_the_transformed_program():
    from localcloud.deploy import Engine, PolicyViolations, load_policy_pack

    # GIVEN the real program with seed bug 1 put into the queue worker's DLQ alarm
    graph = record(STACK, PROJECT_DIR)
    op = by_id("dlq-alarm-gt-1")
    target = graph.get("aws:cloudwatch/metricAlarm:MetricAlarm", "queue-worker-dlq-alarm")
    mutant = Mutant(op, target.type, target.name, "queue-worker", ("queue_worker",), {})
    engine = Engine(
        PROJECT_DIR,
        STACK,
        UNREACHABLE,
        state_dir=PROJECT_DIR / "no-such-dir",
        transformations=transformations([mutant]),
        policy=load_policy_pack(PROJECT_DIR / "policy"),
    )
    # WHEN the deploy engine is asked to preview it
    with pytest.raises(PolicyViolations) as refused:
        engine.preview()
    # THEN the project's own pack refuses it, naming the rule and the DLQ it leaves unwatched
    assert [(v.policy, v.resource) for v in refused.value.violations] == [
        ("dlq-alarm-on-one", "queue-worker-dlq")
    ]
    # AND the correct program passes the same gate
    assert (
        Engine(
            PROJECT_DIR, STACK, UNREACHABLE, policy=load_policy_pack(PROJECT_DIR / "policy")
        ).policy_violations()
        == []
    )


# ---- planning: mutants, covering experiments, waves --------------------------------------
def test_one_mutant_per_operator_by_default_and_per_component_with_all(baseline):
    from app.mutate.mutants import enumerate_mutants

    # GIVEN the catalog and the program
    # WHEN mutants are enumerated by default and with --all
    default = enumerate_mutants(baseline, CATALOG)
    every = enumerate_mutants(baseline, CATALOG, every_instance=True)
    # THEN one per operator, or one per (operator, top-level component) it matches
    assert [m.operator.id for m in default] == [op.id for op in CATALOG]
    pairs = [(m.operator.id, m.component) for m in every]
    assert len(pairs) == len(set(pairs))
    assert {c for op, c in pairs if op == "dlq-alarm-gt-1"} == {
        "queue-worker",
        "async-function",
        "ride-records",
        "event-pipeline",
        "event-pipeline-flow",
        "stream-processor",
        "fan-out",
    }


def test_experiments_are_chosen_by_pattern_and_by_the_outputs_they_read():
    from app.mutate.mutants import covering
    from chaos.experiments import CATALOG as EXPERIMENTS

    # GIVEN the experiment catalog
    # WHEN asked which experiments exercise the redriver and the queue worker
    redriver = {e.name for e in covering(EXPERIMENTS, ["dlq_redriver"])}
    worker = covering(EXPERIMENTS, ["queue_worker"])
    # THEN the redriver is exercised by the experiment that invokes it, under another pattern
    assert redriver == {"dlq-redrive-brings-all-home"}
    assert worker and all(e.pattern == "queue_worker" for e in worker)


def test_a_wave_never_holds_two_mutants_of_one_pattern_or_experiment(baseline):
    from app.mutate.mutants import enumerate_mutants, plan_waves
    from app.mutate.runner import experiments_for, for_program

    # GIVEN every mutant of the catalog
    mutants = enumerate_mutants(baseline, CATALOG, every_instance=True)
    catalog = for_program(baseline)
    # WHEN planned into waves
    waves = plan_waves(mutants, lambda m: experiments_for(m, fast=False, catalog=catalog))
    # THEN every mutant is in exactly one wave, and within a wave patterns and experiments
    # are disjoint, so each experiment sees exactly one bug
    assert sorted(m.id for w in waves for m in w) == sorted(m.id for m in mutants)
    for wave in waves:
        pats = [p for m in wave for p in m.patterns]
        names = [e.name for m in wave for e in experiments_for(m, fast=False, catalog=catalog)]
        assert len(pats) == len(set(pats)) and len(names) == len(set(names))


def test_the_check_that_caught_a_mutant_is_the_first_failing_verdict():
    from app.mutate.runner import _first_failure

    # GIVEN an experiment result whose second verdict failed
    result = {
        "verdict": "fail",
        "verdicts": [
            "envelope sqs_redrive: PASS (checked=2)",
            "conservation: FAIL (sent=10, lost=2)\n  - 2 lost (seen nowhere): a, b",
            "alarm x -> ALARM: FAIL (expected_within_s=48.0)",
        ],
    }
    # WHEN named / THEN it is every failing verdict's name, in order
    assert _first_failure(result) == "conservation, alarm x -> ALARM"
    # AND preflight findings come after the verdicts about events
    result["verdicts"].insert(0, "preflight: dlq-alarm-on-one: FAIL (pattern=queue_worker)")
    assert _first_failure(result) == "conservation, alarm x -> ALARM, preflight: dlq-alarm-on-one"


def test_a_fresh_deploy_names_each_grant_mutant_lambda_refuses_and_resumes_without_it():
    from botocore.exceptions import ClientError

    from app.mutate.runner import fresh_deploy
    from localcloud.deploy import ResourceError

    # GIVEN two grant mutants, and a cloud that refuses the function of the first and the
    # mapping of the second, as Lambda does without the grant
    def refusal(key: str, message: str) -> ResourceError:
        error = {"Error": {"Code": "InvalidParameterValueException", "Message": message}}
        return ResourceError(f"urn:pulumi:local::p::t::{key}", "create", ClientError(error, "C"))

    ups: list[int] = []
    outcomes = [
        refusal(
            "fn", "The provided execution role does not have permissions to call SendMessage on SQS"
        ),
        refusal(
            "mapping",
            "The provided execution role does not have permissions to call ReceiveMessage on SQS",
        ),
        None,
    ]

    class Engine:
        def __init__(self, transformations: list[Any]) -> None:
            self.mutants = len(transformations) - 1  # the registry comes first

        def up(self) -> None:
            ups.append(self.mutants)
            outcome = outcomes[len(ups) - 1]
            if outcome is not None:
                raise outcome

    class Session:
        def engine(self, **options: Any) -> Engine:
            return Engine(options["transformations"])

    op = by_id("async-send-grant-removed")
    first = Mutant(op, "t", "fn-access", "a", (), {"grants": [], "checked_by": ["fn"]})
    second = Mutant(op, "t", "w-access", "b", (), {"grants": [], "checked_by": ["mapping"]})
    rows: dict[str, dict[str, Any]] = {first.id: {}, second.id: {}}
    # WHEN the stack is first deployed with both
    fresh_deploy(Session(), [first, second], rows, lambda _m: None)
    # THEN each refusal is recorded with the cloud's code and message, the `up` resumed
    # without the refused mutant each time, and the last `up` (nothing left) succeeded
    assert ups == [2, 1]
    assert rows[first.id]["fresh_deploy"] == (
        "cloud: InvalidParameterValueException: The provided execution role does not have"
        " permissions to call SendMessage on SQS"
    )
    assert "call ReceiveMessage on SQS" in rows[second.id]["fresh_deploy"]
    # AND a failure at a resource no mutant names judges none of them
    ups.clear()
    outcomes[:] = [refusal("elsewhere", "boom")]
    rows = {first.id: {}, second.id: {}}
    fresh_deploy(Session(), [first, second], rows, lambda _m: None)
    assert all(r["fresh_deploy"].startswith("not judged") for r in rows.values())


def test_an_instance_selects_one_mutant_per_operator_in_it_and_a_wrong_one_says_so(baseline):
    from app.mutate.runner import NoMutants, select

    # GIVEN operators that match several instances, and one that matches one
    ops = [by_id("sqs-mapping-delete-grant-removed"), by_id("queue-no-redrive")]
    # WHEN the selection names an instance / THEN every mutant is in it, one per operator
    chosen = select(ops, fast=False, every_instance=False, graph=baseline, instance="queue-worker")
    assert sorted((m.operator.id, m.component) for m in chosen) == [
        ("queue-no-redrive", "queue-worker"),
        ("sqs-mapping-delete-grant-removed", "queue-worker"),
    ]
    # AND an instance the operators never match is refused, naming those they do
    with pytest.raises(NoMutants, match="instances they match: stream-processor"):
        select(
            [by_id("stream-on-failure-grant-removed")],
            fast=False,
            every_instance=False,
            graph=baseline,
            instance="queue-worker",
        )
