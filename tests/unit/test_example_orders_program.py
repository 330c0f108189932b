"""examples/orders under mocks: its own handlers packed with the decorator's library, one
ledger partition per instance, its exports, and a graph the policy pack passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from components import outputs as keys
from localcloud.deploy import run_program
from localcloud.deploy.mocks import RecordingMocks
from localcloud.deploy.program import project_policy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "orders"
FUNCTION = "aws:lambda/function:Function"
INSTANCES = {"orders": "QueueWorker", "payments": "QueueWorker", "receipts": "AsyncFunction"}


@pytest.fixture(scope="module")
def run():
    mocks = RecordingMocks()
    return run_program(EXAMPLE, "local", mocks), mocks


def test_each_instance_and_the_stack_keys_are_exported(run) -> None:
    outputs, _ = run
    stack_keys = {
        keys.CHAOS_ENABLED,
        keys.STACK,
        keys.REGION,
        keys.LEDGER_TABLE,
        keys.IDEMPOTENCY_TABLE,
        keys.ALARM_TOPIC_ARN,
        keys.ALARM_INBOX_QUEUE_URL,
        keys.LAYER_ARN,
        keys.INSTANCES,
        keys.ROUTES,
    }
    assert set(outputs) == stack_keys | set(INSTANCES)
    # Its contract: each instance with its type, own ledger partition and business event.
    index = outputs[keys.INSTANCES]
    assert {k: (v["type"], v["ledger_pattern"]) for k, v in index.items()} == {
        "orders": (keys.QUEUE_WORKER, "orders"),
        "payments": (keys.QUEUE_WORKER, "payments"),
        "receipts": (keys.ASYNC_FUNCTION, "receipts"),
    }
    assert all(v["event"] and "id" not in v["event"] for v in index.values())
    assert outputs[keys.ROUTES]["payments"]["poison"]["queue_url"] == outputs["payments"]["dlq_url"]
    assert outputs[keys.CHAOS_ENABLED] is True and outputs[keys.STACK] == "local"
    assert outputs["orders"]["max_receive_count"] == 2
    assert outputs["payments"]["batch_size"] == 1


def test_the_functions_run_the_examples_handlers_in_their_own_partitions(run) -> None:
    _, mocks = run
    functions = {r.name: r.props for r in mocks.of_type(FUNCTION)}
    for name in INSTANCES:
        (props,) = [p for fn, p in functions.items() if fn.startswith(f"{name}-")]
        assert props["handler"] == f"handlers.{name}.handler"
        assert props["environment"]["variables"]["LEDGER_PATTERN"] == name


def test_the_code_carries_the_handlers_and_the_decorators_library() -> None:
    from components.packaging import program_code

    archive = program_code(EXAMPLE / "handlers", ROOT / "functions")
    names = set(archive.assets)
    assert {"handlers/__init__.py", "handlers/orders.py", "functions/__init__.py"} <= names
    assert "functions/faults/decorator.py" in names and "functions/common/ledger.py" in names
    # Only the library: no function package of the root program rides along.
    assert not any(n.startswith("functions/queue_worker/") for n in names)
    assert not any("__pycache__" in n for n in names)


def test_the_policy_pack_gates_it_and_passes_it(run) -> None:
    _, mocks = run
    check = project_policy(EXAMPLE)
    assert check is not None, "examples/orders/policy must be the project's pack"
    assert check(list(mocks)) == []
