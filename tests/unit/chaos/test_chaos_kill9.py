"""The rollback journal survives kill -9: a process sets faults, is SIGKILLed, and
`python -m chaos rollback` restores the function from the journal alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from functions.faults import settings

ROOT = Path(__file__).resolve().parents[3]
CHILD = """
import sys, threading
from chaos.faults import Faults
from chaos.stack import load_stack
stack = load_stack("k9")
faults = Faults(stack)
faults.inject("victim", failure_rate=1.0, latency="fixed:2s")
faults.set_reserved_concurrency("victim", 0)
print("ready", flush=True)
threading.Event().wait()  # until killed
"""


@pytest.fixture
def moto_server(aws_env: None):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_rollback_after_kill_9(moto_server: str, tmp_path: Path) -> None:
    # GIVEN a deployed function and a local stack state pointing at the endpoint
    kw = {"endpoint_url": moto_server, "region_name": "us-east-1"}
    role = boto3.client("iam", **kw).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    lam = boto3.client("lambda", **kw)
    from tests.unit.chaos.chaos_unit_helpers import zip_bytes

    lam.create_function(
        FunctionName="victim",
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="h.h",
        Code={"ZipFile": zip_bytes()},
        Environment={"Variables": {"KEEP": "me"}},
    )
    state = tmp_path / ".localcloud" / "k9" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"outputs": {"chaos_enabled": True, "region": "us-east-1"}}))
    env = {**os.environ, "CHAOS_ENDPOINT_URL": moto_server, "PYTHONPATH": str(ROOT)}
    # WHEN a process injects faults and is killed with SIGKILL (no finally, no atexit)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()  # blocks until the child reports (or dies: "")
        assert line.strip() == "ready", child.stderr.read()
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
        child.stderr.close()
    faulted = lam.get_function_configuration(FunctionName="victim")["Environment"]["Variables"]
    assert faulted[settings.FAILURE_RATE] == "1.0", "the fault was really in place"
    assert lam.get_function_concurrency(FunctionName="victim")["ReservedConcurrentExecutions"] == 0
    # THEN rollback from the journal restores everything
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "chaos", "rollback", "--stack", "k9"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 change(s) rolled back" in out.stdout
    assert lam.get_function_configuration(FunctionName="victim")["Environment"]["Variables"] == {
        "KEEP": "me"
    }
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="victim")
    # AND a second rollback is a no-op
    again = subprocess.run(
        [sys.executable, "-m", "chaos", "rollback", "--stack", "k9"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0 and "0 change(s) rolled back" in again.stdout
    assert time.monotonic() - t0 < 30


RUN_CHILD = """
import sys, threading
from chaos import cli

def run_all(stack, experiments, *, faults, **_):
    # An experiment thread that faults the function and then waits, as a long run would.
    def experiment():
        faults.inject("victim", failure_rate=1.0)
        faults.set_reserved_concurrency("victim", 0)
        print("ready", flush=True)
        threading.Event().wait()
    t = threading.Thread(target=experiment)
    t.start()
    t.join()

cli.run_all = run_all
sys.exit(cli.main(["run", "--stack", "k9", "--experiment", sys.argv[1], "--reports", "reports"]))
"""


def _deploy_victim(endpoint: str, tmp_path: Path) -> None:
    # The moto backends are per process, shared by every server a test starts: begin empty.
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    kw = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    role = boto3.client("iam", **kw).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    from tests.unit.chaos.chaos_unit_helpers import zip_bytes

    arn = boto3.client("lambda", **kw).create_function(
        FunctionName="victim",
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="h.h",
        Code={"ZipFile": zip_bytes()},
        Environment={"Variables": {"KEEP": "me"}},
    )["FunctionArn"]
    boto3.client("dynamodb", **kw).create_table(
        TableName="k9-ledger",
        KeySchema=[
            {"AttributeName": "pattern", "KeyType": "HASH"},
            {"AttributeName": "event_id", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pattern", "AttributeType": "S"},
            {"AttributeName": "event_id", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    outputs = {
        "chaos_enabled": True,
        "stack": "k9",
        "region": "us-east-1",
        "ledger_table": "k9-ledger",
        "queue_worker": {"function": {"name": "victim", "arn": arn, "timeout": 3}},
    }
    state = tmp_path / ".localcloud" / "k9" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"outputs": outputs}))


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_rolls_back_at_once_and_ends_the_run(
    moto_server: str, tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    # GIVEN `chaos run` with an experiment that has faulted a function and waits
    from chaos.experiments import CATALOG

    _deploy_victim(moto_server, tmp_path)
    lam = boto3.client("lambda", endpoint_url=moto_server, region_name="us-east-1")
    env = {**os.environ, "CHAOS_ENDPOINT_URL": moto_server, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", RUN_CHILD, CATALOG[0].name],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "ready", child.stderr.read()
        assert (
            lam.get_function_concurrency(FunctionName="victim")["ReservedConcurrentExecutions"] == 0
        ), "the fault was really in place"
        # WHEN the run gets the signal (a CI cancel, `timeout`, Ctrl-C)
        child.send_signal(sig)
        # THEN it ends at once with its own status, without waiting for the experiment
        assert child.wait(timeout=60) == status, child.stderr.read()
        out = child.stderr.read()  # the run's progress console is stderr
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
        child.stderr.close()
    assert f"{sig.name}: run stopped, 2 change(s) rolled back; exit {status}" in out
    # AND the faults are undone, the journal settled, the lease released, the report written
    assert lam.get_function_configuration(FunctionName="victim")["Environment"]["Variables"] == {
        "KEEP": "me"
    }
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="victim")
    ddb = boto3.client("dynamodb", endpoint_url=moto_server, region_name="us-east-1")
    key = {"pattern": {"S": "lease"}, "event_id": {"S": "chaos-run"}}
    assert "Item" not in ddb.get_item(TableName="k9-ledger", Key=key)
    report_file = tmp_path / "reports" / "latest" / "report.json"
    assert json.loads(report_file.read_text())["stopped_by"] == sig.name
    assert not (tmp_path / ".chaos" / "k9" / "journal.jsonl").exists()
