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
    from chaos_unit_helpers import zip_bytes

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
