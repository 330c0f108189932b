"""The program's failure contract comes from its component instances: one added instance line
is one more exported instance, with its routes and its own ledger partition."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components import contract
from components import outputs as keys
from localcloud.deploy import RecordingMocks, run_program

PROJECT_DIR = Path(__file__).resolve().parents[2]
ADDED = 'QueueWorker("payments", queue_worker_args)\n'


def test_every_pattern_instance_is_in_the_contract(program_run):
    out = program_run("local").outputs
    index = out[keys.INSTANCES]
    assert set(index) == set(keys.PATTERNS)  # the program's first instance of each type
    for key, entry in index.items():
        assert entry["type"] == key and entry["ledger_pattern"] == key
        assert contract.instance_key(entry["name"]) == key
        assert key in out and key in out[keys.ROUTES]


@pytest.fixture(scope="module")
def fork(tmp_path_factory) -> dict:
    """The program with one more QueueWorker line, run under the mocks."""
    root = tmp_path_factory.mktemp("fork")
    for name in ("Pulumi.yaml", "Pulumi.local.yaml"):
        shutil.copy(PROJECT_DIR / name, root / name)
    (root / "functions").symlink_to(PROJECT_DIR / "functions")
    main = (PROJECT_DIR / "__main__.py").read_text()
    first = 'queue_worker = QueueWorker("queue-worker", queue_worker_args)\n'
    assert first in main
    (root / "__main__.py").write_text(main.replace(first, first + ADDED))
    return run_program(root, "local", RecordingMocks())


def test_one_added_instance_line_is_one_more_instance(fork):
    index = fork[keys.INSTANCES]
    assert index["payments"] == {
        "type": keys.QUEUE_WORKER,
        "name": "payments",
        "ledger_pattern": "payments",
        "ledger_records": "side_effects",
    }
    assert set(index) == {*keys.PATTERNS, "payments"}
    payments, first = fork["payments"], fork[keys.QUEUE_WORKER]
    assert payments["queue_url"] and payments["queue_url"] != first["queue_url"]
    routes = fork[keys.ROUTES]["payments"]
    assert routes["none"] == {
        **routes["none"],
        "envelope": "processed",
        "ledger_pattern": "payments",
    }
    assert routes["poison"]["envelope"] == "sqs_redrive"
    assert routes["poison"]["queue_url"] == payments["dlq_url"] != first["dlq_url"]
    # The redriver redrives every queue worker's DLQ declared before it, the new one too.
    sources = fork[keys.DLQ_REDRIVER]["sources"]
    assert sources[payments["dlq_url"]] == payments["queue_url"]
    assert sources[first["dlq_url"]] == first["queue_url"]


def test_an_instance_name_that_cannot_be_a_key_is_refused():
    with pytest.raises(contract.ContractError, match="allowed letters"):
        contract.instance_key("9lives")
    with pytest.raises(contract.ContractError, match="routes"):
        contract.instance_key("routes")
    assert contract.instance_key("Queue-Worker") == "queue_worker"
