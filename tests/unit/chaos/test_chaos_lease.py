"""One run per stack (a lease in the ledger), and prepare() refuses a wrong start before any
change: foreign faults, a guard that does not exist, outputs or credentials of another stack."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from chaos.errors import (
    ForeignFaultError,
    GuardMissingError,
    IdentityMismatchError,
    LeaseHeldError,
)
from chaos.lease import LEASE_KEY, Lease
from chaos.session import prepare
from chaos.stack import Stack
from functions.faults import settings
from tests.unit.chaos.chaos_unit_helpers import REGION


def lease_item() -> dict | None:
    key = {k: {"S": v} for k, v in LEASE_KEY.items()}
    ddb = boto3.client("dynamodb", region_name=REGION)
    return ddb.get_item(TableName="unit-ledger", Key=key).get("Item")


def test_a_second_run_on_the_stack_refuses_naming_the_holder(
    ledger_stack: Stack, tmp_path: Path
) -> None:
    # GIVEN a run that holds the stack's lease
    first = prepare(ledger_stack, root=tmp_path)
    try:
        # WHEN a second run prepares on the same stack
        with pytest.raises(LeaseHeldError) as err:
            prepare(ledger_stack, root=tmp_path)
        # THEN it refuses at once, naming the holder and when the lease lapses
        assert first.lease.owner in str(err.value)
        assert "until 20" in str(err.value) and "s from now" in str(err.value)
    finally:
        first.lease.release()
    # AND once the first run released it, a run can start
    prepare(ledger_stack, root=tmp_path).lease.release()
    assert lease_item() is None


def test_a_dead_holders_lease_lapses(ledger_stack: Stack) -> None:
    # GIVEN a holder that took the lease and died (never renewed, never released)
    now = [1_000_000.0]
    dead = Lease(ledger_stack, owner="dead run", ttl=60, clock=lambda: now[0])
    dead.acquire()
    dead._stop.set()  # its renewer died with it
    # WHEN another run tries before and after the expiry
    other = Lease(ledger_stack, owner="next run", ttl=60, clock=lambda: now[0])
    now[0] += 59
    with pytest.raises(LeaseHeldError, match="dead run"):
        other.acquire()
    now[0] += 2
    other.acquire()
    # THEN the second one holds it, and the dead holder's release leaves it alone
    dead.release()
    assert lease_item()["owner"]["S"] == "next run"
    other.release()
    assert lease_item() is None


def test_renew_pushes_the_expiry_and_notices_a_takeover(ledger_stack: Stack) -> None:
    # GIVEN a lease
    now = [2_000_000.0]
    lease = Lease(ledger_stack, owner="me", ttl=30, clock=lambda: now[0])
    lease.acquire()
    lease._stop.set()
    # WHEN it is renewed later
    now[0] += 20
    assert lease.renew()
    # THEN the stored expiry moved
    assert float(lease_item()["expires_at"]["N"]) == now[0] + 30
    # AND after someone else took it over, a renewal says so instead of stealing it back
    now[0] += 31
    Lease(ledger_stack, owner="thief", ttl=30, clock=lambda: now[0]).acquire()
    assert not lease.renew() and lease.lost
    assert lease_item()["owner"]["S"] == "thief"


def test_foreign_faults_refuse_the_start_naming_function_and_flag(
    ledger_stack: Stack, tmp_path: Path
) -> None:
    # GIVEN a function someone left faulted and throttled, with an empty journal
    lam = boto3.client("lambda", region_name=REGION)
    lam.update_function_configuration(
        FunctionName="svc",
        Environment={"Variables": {settings.MASTER: "on", settings.FAILURE_RATE: "1.0"}},
    )
    lam.put_function_concurrency(FunctionName="svc", ReservedConcurrentExecutions=0)
    # WHEN a run prepares
    with pytest.raises(ForeignFaultError) as err:
        prepare(ledger_stack, root=tmp_path)
    # THEN it says what it found on which function, and releases the lease it took
    msg = str(err.value)
    assert "svc: fault flags FAILMODES_FAULTS=on, FAILMODES_FAILURE_RATE=1.0" in msg
    assert "svc: reserved concurrency 0" in msg
    assert lease_item() is None


def test_the_deployed_master_switch_off_is_not_a_fault(ledger_stack: Stack, tmp_path: Path) -> None:
    # GIVEN the function as deployed (FAILMODES_FAULTS=off) and a non-zero reservation
    boto3.client("lambda", region_name=REGION).put_function_concurrency(
        FunctionName="svc", ReservedConcurrentExecutions=5
    )
    # WHEN / THEN a run starts
    prepare(ledger_stack, root=tmp_path).lease.release()


def test_a_guard_that_does_not_exist_refuses_naming_it(ledger_stack: Stack, tmp_path: Path) -> None:
    # GIVEN one real alarm
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        AlarmName="real-guard",
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    # WHEN a run names it and a typo
    with pytest.raises(GuardMissingError, match="no-such-alarm") as err:
        prepare(ledger_stack, root=tmp_path, guards=["real-guard", "no-such-alarm"])
    # THEN only the typo is named, and no lease was taken
    assert "real-guard" not in str(err.value)
    assert lease_item() is None
    prepare(ledger_stack, root=tmp_path, guards=["real-guard"]).lease.release()


def test_outputs_of_another_stack_refuse(ledger_stack: Stack, tmp_path: Path) -> None:
    # GIVEN outputs that say they are stack "prod"'s
    ledger_stack.outputs["stack"] = "prod"
    # WHEN / THEN prepare refuses naming both
    with pytest.raises(IdentityMismatchError, match="'unit'.*'prod'"):
        prepare(ledger_stack, root=tmp_path)


def test_credentials_of_another_account_refuse(ledger_stack: Stack, tmp_path: Path) -> None:
    # GIVEN a stack whose ARNs say account 999999999999, reached with moto's 123456789012
    fn = ledger_stack.outputs["queue_worker"]["function"]
    fn["arn"] = fn["arn"].replace("123456789012", "999999999999")
    # WHEN / THEN prepare stops before any change, naming both accounts
    with pytest.raises(IdentityMismatchError, match="999999999999.*123456789012"):
        prepare(ledger_stack, root=tmp_path)
    assert lease_item() is None


def test_a_region_other_than_the_stacks_refuses(ledger_stack: Stack, tmp_path: Path) -> None:
    # GIVEN clients in eu-west-1 for a stack whose ARNs are in us-east-1
    ledger_stack.region = "eu-west-1"
    # WHEN / THEN prepare refuses
    with pytest.raises(IdentityMismatchError, match="us-east-1.*eu-west-1"):
        prepare(ledger_stack, root=tmp_path)


def test_aws_managed_arns_do_not_count_as_an_account(ledger_stack: Stack, tmp_path: Path) -> None:
    # GIVEN outputs that also name an AWS-managed policy (account "aws") and a bucket (none)
    ledger_stack.outputs["policies"] = [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:s3:::some-bucket",
    ]
    # WHEN / THEN the stack's account is still the one its own ARNs name, and the run starts
    assert ledger_stack.declared_accounts() == {"123456789012"}
    prepare(ledger_stack, root=tmp_path).lease.release()


def test_the_holder_renews_while_the_run_lasts(ledger_stack: Stack) -> None:
    from chaos.expectations import poll_until

    # GIVEN a lease with a short ttl (renewed every ttl / 3)
    lease = Lease(ledger_stack, owner="long run", ttl=0.9)
    lease.acquire()
    try:
        first = float(lease_item()["expires_at"]["N"])
        # WHEN the run goes on past the first expiry
        # THEN the stored expiry keeps moving, so no second run can take the lease
        poll_until(
            lambda: float(lease_item()["expires_at"]["N"]),
            lambda expires: expires > first + 0.9,
            timeout=10,
            what="lease renewed past its first expiry",
        )
        with pytest.raises(LeaseHeldError, match="long run"):
            Lease(ledger_stack, owner="second run").acquire()
    finally:
        lease.release()
    assert lease_item() is None
