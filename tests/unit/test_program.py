"""The whole program under mocks, for the dev and local stacks: graph and exports."""

from __future__ import annotations

from typing import get_type_hints

import pytest

from components import outputs as keys

STACKS = ("dev", "local")
COMPONENTS = {
    keys.QUEUE_WORKER: "QueueWorker",
    keys.ASYNC_FUNCTION: "AsyncFunction",
    keys.RIDE_RECORDS: "RideRecords",
    keys.EVENT_PIPELINE: "EventPipeline",
    keys.EVENT_PIPELINE_FLOW: "EventPipeline",
    keys.SLOW_API: "SlowApi",
    keys.STREAM_PROCESSOR: "StreamProcessor",
    keys.WORKFLOW: "Workflow",
    keys.FAN_OUT: "FanOut",
    keys.DLQ_REDRIVER: "DlqRedriver",
}
OUTPUT_TYPES = {
    keys.QUEUE_WORKER: keys.QueueWorkerOutputs,
    keys.ASYNC_FUNCTION: keys.AsyncFunctionOutputs,
    keys.RIDE_RECORDS: keys.RideRecordsOutputs,
    keys.EVENT_PIPELINE: keys.EventPipelineOutputs,
    keys.EVENT_PIPELINE_FLOW: keys.EventPipelineOutputs,
    keys.SLOW_API: keys.SlowApiOutputs,
    keys.STREAM_PROCESSOR: keys.StreamProcessorOutputs,
    keys.WORKFLOW: keys.WorkflowOutputs,
    keys.FAN_OUT: keys.FanOutOutputs,
    keys.DLQ_REDRIVER: keys.DlqRedriverOutputs,
}
FUNCTION = "aws:lambda/function:Function"


@pytest.fixture(params=STACKS)
def run(request, program_run):
    return program_run(request.param)


def test_every_top_level_key_is_exported(run):
    out = run.outputs
    top = [
        keys.CHAOS_ENABLED,
        keys.STACK,
        keys.REGION,
        keys.LEDGER_TABLE,
        keys.ALARM_TOPIC_ARN,
        keys.ALARM_INBOX_QUEUE_URL,
        keys.ROUTES,
        keys.IDEMPOTENCY_TABLE,
        keys.LAYER_ARN,
        keys.INSTANCES,
        *keys.PATTERNS,
    ]
    assert set(top) == set(out)
    assert out[keys.STACK] == run.stack and out[keys.REGION] == "us-east-1"
    assert out[keys.CHAOS_ENABLED] is True
    assert out[keys.LEDGER_TABLE] and out[keys.ALARM_INBOX_QUEUE_URL].startswith("https://sqs.")


def test_each_pattern_exports_every_field_of_its_contract(run):
    for pattern, shape in OUTPUT_TYPES.items():
        missing = set(get_type_hints(shape)) - set(run.outputs[pattern])
        assert not missing, f"{pattern} lacks {missing}"


def test_each_pattern_is_one_component_and_every_resource_has_a_parent(run):
    mocks = run.mocks
    for pattern, type_name in COMPONENTS.items():
        assert mocks.of_type(f"failmodes:index:{type_name}"), pattern
    assert len(mocks.of_type("failmodes:index:EventPipeline")) == 2
    stack_urn = f"urn:pulumi:{run.stack}::failmodes::pulumi:pulumi:Stack::failmodes-{run.stack}"
    top_level = sorted(r.name for r in mocks if r.parent == stack_urn)
    assert top_level == sorted(
        [
            "shared",
            "dependencies",
            "queue-worker",
            "async-function",
            "ride-records",
            "slow-api",
            "event-pipeline",
            "event-pipeline-flow",
            "stream-processor",
            "workflow",
            "fan-out",
            "dlq-redriver",
        ]
    )


def test_every_function_runs_python311_with_the_layer_and_its_own_role(run):
    functions = run.mocks.of_type(FUNCTION)
    layer_arn = run.outputs[keys.LAYER_ARN]
    assert len(functions) == 14
    assert {f.inputs["runtime"] for f in functions} == {"python3.11"}
    assert all(f.inputs["layers"] == [layer_arn] for f in functions)
    assert len({f.inputs["role"] for f in functions}) == len(functions)
    for f in functions:
        env = f.inputs["environment"]["variables"]
        assert env["LEDGER_TABLE"] == run.outputs[keys.LEDGER_TABLE]
        assert env["IDEMPOTENCY_TABLE"] == run.outputs[keys.IDEMPOTENCY_TABLE]
        assert env["LEDGER_PATTERN"] and env["POWERTOOLS_SERVICE_NAME"]
        package = f.inputs["handler"].split(".")[1]
        assert f"functions/{package}/handler.py" in f.inputs["code"].assets
        assert not any("__pycache__" in path for path in f.inputs["code"].assets)


def test_local_stack_is_fast_and_dev_keeps_the_safe_defaults(program_run):
    local, dev = program_run("local").outputs, program_run("dev").outputs
    assert local[keys.QUEUE_WORKER]["function"]["timeout"] == 3
    assert local[keys.QUEUE_WORKER]["visibility_timeout"] == 18
    assert local[keys.QUEUE_WORKER]["max_receive_count"] == 2
    assert local[keys.ASYNC_FUNCTION]["maximum_event_age"] == 60
    assert local[keys.STREAM_PROCESSOR]["maximum_retry_attempts"] == 2
    assert dev[keys.QUEUE_WORKER]["function"]["timeout"] == 30
    assert dev[keys.QUEUE_WORKER]["visibility_timeout"] == 180
    assert dev[keys.ASYNC_FUNCTION]["maximum_event_age"] == 21_600
    periods = {
        r.inputs["period"]
        for r in program_run("local").mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    assert periods == {10}


def test_layer_is_built_only_for_the_dev_stack(program_run):
    dev, local = program_run("dev"), program_run("local")
    assert [p.name for p in dev.layer_builds] == ["requirements.txt"]
    assert local.layer_builds == []
    local_layer = local.mocks.get("aws:lambda/layerVersion:LayerVersion", "dependencies")
    assert list(local_layer.inputs["code"].assets) == ["requirements.txt"]
    dev_layer = dev.mocks.get("aws:lambda/layerVersion:LayerVersion", "dependencies")
    assert list(dev_layer.inputs["code"].assets) == ["python"]


def test_routes_cover_every_pattern_and_name_real_queues(run):
    out = run.outputs
    routes = out[keys.ROUTES]
    assert set(keys.PATTERNS) <= set(routes)
    queue_urls = {r.outputs["url"] for r in run.mocks.of_type("aws:sqs/queue:Queue")}
    for pattern, by_failure in routes.items():
        assert by_failure["none"]["envelope"] == "processed", pattern
        for failure, route in by_failure.items():
            targets = [route, *route["also"]]
            for target in targets:
                if target["envelope"] in ("processed", "rejected"):
                    assert target["queue_url"] is None, (pattern, failure)
                else:
                    assert target["queue_url"] in queue_urls, (pattern, failure)


def test_routes_match_the_wiring_of_each_pattern(run):
    out, routes = run.outputs, run.outputs[keys.ROUTES]
    assert routes[keys.QUEUE_WORKER]["poison"]["queue_url"] == out[keys.QUEUE_WORKER]["dlq_url"]
    failed_async = routes[keys.ASYNC_FUNCTION]["function_error"]
    assert failed_async["envelope"] == "destination"
    assert failed_async["queue_url"] == out[keys.ASYNC_FUNCTION]["on_failure_queue_url"]
    assert failed_async["also"] == [
        {"envelope": "lambda_dlq", "queue_url": out[keys.ASYNC_FUNCTION]["dlq_url"]}
    ]
    assert (
        routes[keys.RIDE_RECORDS]["downstream_throttle"]["queue_url"]
        == out[keys.RIDE_RECORDS]["dlq_url"]
    )
    assert routes[keys.EVENT_PIPELINE]["target_error"]["envelope"] == "lambda_dlq"
    assert routes[keys.EVENT_PIPELINE_FLOW]["target_error"]["envelope"] == "sqs_redrive"
    assert (
        routes[keys.EVENT_PIPELINE_FLOW]["target_error"]["queue_url"]
        == out[keys.EVENT_PIPELINE_FLOW]["delivery_dlq_url"]
    )
    assert routes[keys.STREAM_PROCESSOR]["poison"]["envelope"] == "kinesis_on_failure"
    assert routes[keys.WORKFLOW]["poison"]["queue_url"] == out[keys.WORKFLOW]["failure_queue_url"]
    for sub, sub_out in out[keys.FAN_OUT]["subscribers"].items():
        route = routes[f"fan_out:{sub}"]["poison"]
        assert route["queue_url"] == sub_out["dlq_url"]
        assert route["message_attributes"] == {k: v[0] for k, v in sub_out["filter_policy"].items()}
    ledger_patterns = {
        f.inputs["environment"]["variables"]["LEDGER_PATTERN"] for f in run.mocks.of_type(FUNCTION)
    }
    for pattern, by_failure in routes.items():
        assert by_failure["none"]["ledger_pattern"] in ledger_patterns, pattern


def test_redriver_covers_every_queue_with_a_redrive_dlq(run):
    out = run.outputs
    sources = out[keys.DLQ_REDRIVER]["sources"]
    assert sources[out[keys.QUEUE_WORKER]["dlq_url"]] == out[keys.QUEUE_WORKER]["queue_url"]
    flow = out[keys.EVENT_PIPELINE_FLOW]
    assert sources[flow["delivery_dlq_url"]] == flow["buffer_queue_url"]
    for sub in out[keys.FAN_OUT]["subscribers"].values():
        assert sources[sub["dlq_url"]] == sub["queue_url"]


def test_only_the_program_reads_config():
    from pathlib import Path

    components = Path(__file__).resolve().parents[2] / "components"
    readers = [p.name for p in components.glob("*.py") if "pulumi.Config(" in p.read_text()]
    assert readers == []
