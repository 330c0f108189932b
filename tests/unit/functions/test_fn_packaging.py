"""Each function imports only what its zip holds (functions/__init__, faults, common, itself)."""

from __future__ import annotations

import ast
import importlib
import io
import json
from pathlib import Path

import pytest

from functions.common.observability import tracing_disabled
from tests.unit.functions.fn_factories import FakeContext, new_id, sqs_event

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"
SHARED = {"common", "faults"}
NAMES = sorted(
    p.name for p in FUNCTIONS_DIR.iterdir() if (p / "handler.py").is_file() and p.name not in SHARED
)


def _functions_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("functions.")
        ):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(
                a.name.split(".")[1] for a in node.names if a.name.startswith("functions.")
            )
    return found


def test_all_ten_functions_exist() -> None:
    assert NAMES == sorted(
        [
            "async_worker",
            "compensation",
            "delivery",
            "dlq_redriver",
            "notifier",
            "queue_worker",
            "ride_writer",
            "slow_api",
            "stream_processor",
            "workflow_step",
        ]
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_function_imports_only_what_its_zip_holds(name: str) -> None:
    used = set()
    for path in (FUNCTIONS_DIR / name).rglob("*.py"):
        used |= _functions_imports(path)
    assert used <= SHARED | {name}, f"{name} imports {sorted(used - SHARED - {name})}"
    handler = importlib.import_module(f"functions.{name}.handler").handler
    assert callable(handler)


def test_shared_packages_never_import_a_function() -> None:
    for shared in SHARED:
        for path in (FUNCTIONS_DIR / shared).rglob("*.py"):
            assert _functions_imports(path) <= SHARED, path


def test_requirements_pin_what_the_handlers_import() -> None:
    pins = {
        line.split("==")[0].split("[")[0].strip().lower()
        for line in (FUNCTIONS_DIR / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"aws-lambda-powertools", "tenacity", "requests", "jmespath"} <= pins
    assert "boto3" not in pins and "botocore" not in pins  # the Lambda runtime provides them


def test_tracing_is_off_in_the_local_cloud_and_when_asked() -> None:
    assert tracing_disabled({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "LAMBDA_TASK_ROOT": "/x"})
    assert tracing_disabled({"POWERTOOLS_TRACE_DISABLED": "true"})
    assert not tracing_disabled({"LAMBDA_TASK_ROOT": "/var/task"})


def test_logs_carry_the_event_and_correlation_ids(aws, capsys, monkeypatch) -> None:
    from functions.common.observability import logger
    from functions.queue_worker.handler import handler

    # GIVEN the JSON log stream captured (Powertools keeps the stream it was created with)
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    # WHEN an event with a correlation id is processed without an idempotency table
    event_id = new_id()
    handler(sqs_event({"id": event_id, "correlation_id": "corr-42"}), FakeContext())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    # THEN the missing table is logged, with the event's ids on the line
    [warning] = [line for line in lines if "IDEMPOTENCY_TABLE is not set" in line["message"]]
    assert warning["event_id"] == event_id and warning["correlation_id"] == "corr-42"
    # AND the EMF metrics line (printed) is in the failmodes namespace
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert out and out[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "failmodes"
    assert out[-1]["Processed"] in ([1.0], 1.0)


def _trigger(name: str) -> dict:
    """A well-formed event for each function's trigger."""
    from tests.unit.functions.fn_factories import (
        api_event,
        eventbridge_event,
        kinesis_event,
        sns_event,
    )

    return {
        "queue_worker": sqs_event({"id": "a"}),
        "stream_processor": kinesis_event({"id": "a"}),
        "async_worker": sns_event({"id": "a"}),
        "ride_writer": sns_event({"id": "a"}),
        "notifier": api_event({"id": "a"}),
        "slow_api": api_event({"id": "a"}),
        "delivery": eventbridge_event({"id": "a"}),
        "workflow_step": {"id": "a"},
        "compensation": {"id": "a", "error": {"Error": "E", "Cause": ""}},
        "dlq_redriver": {"dlq_url": "d", "source_url": "s"},
    }[name]


@pytest.mark.parametrize("name", NAMES)
def test_every_handler_wears_the_fault_middleware(name: str, monkeypatch) -> None:
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    from functions.faults import InjectedFailure, settings

    # GIVEN every invocation (or record) fails by injection
    monkeypatch.setenv(settings.MASTER, "on")
    monkeypatch.setenv(settings.FAILURE_RATE, "1")
    handler = importlib.import_module(f"functions.{name}.handler").handler
    # WHEN the handler gets a well-formed event THEN the injected failure surfaces
    with pytest.raises((InjectedFailure, BatchProcessingError)) as caught:
        handler(_trigger(name), FakeContext())
    if isinstance(caught.value, BatchProcessingError):  # batch handlers: every record failed
        errors = [e[1] for e in caught.value.child_exceptions]
        assert errors and all(isinstance(e, InjectedFailure) for e in errors)
