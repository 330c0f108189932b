"""Traffic: artillery-like profile math, pacing bounds, and the drivers on moto."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlsplit

import boto3
import pytest

from chaos import traffic
from chaos.errors import FaultValueError
from chaos.experiments.catalog import CATALOG
from chaos.experiments.model import Send
from chaos.stack import Stack
from chaos.traffic import Phase, schedule
from tests.unit.chaos.chaos_unit_helpers import REGION, queue


def test_constant_rate_starts_at_once_and_spaces_evenly() -> None:
    assert schedule([Phase(duration=2, arrival_rate=2)]) == [0.0, 0.5, 1.0, 1.5]


def test_ramp_matches_the_area_and_accelerates() -> None:
    offsets = schedule([Phase(duration=10, arrival_rate=1, ramp_to=5)])
    assert len(offsets) == 30  # (1 + 5) / 2 * 10
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert gaps[0] > gaps[-1] and all(g > 0 for g in gaps)
    assert offsets[-1] <= 10


def test_the_seed_load_profile_is_about_11850_requests() -> None:
    # AWS-SEMANTICS.md: 60 s at 2/s, 120 s ramping 3 -> 5/s, 900 s ramping 5 -> 20/s.
    offsets = schedule([Phase(60, 2), Phase(120, 3, 5), Phase(900, 5, 20)])
    assert len(offsets) == 11850
    assert offsets == sorted(offsets) and offsets[-1] < 1080


def test_bounds_in_count_and_time() -> None:
    phases = [Phase(60, 10)]
    assert len(schedule(phases, max_events=7)) == 7
    assert max(schedule(phases, max_seconds=2.0)) <= 2.0


def test_bad_phases_are_refused() -> None:
    with pytest.raises(FaultValueError, match="duration"):
        Phase(0, 1)
    with pytest.raises(FaultValueError, match="rates"):
        Phase(1, -1)
    with pytest.raises(FaultValueError, match="rate must be > 0"):
        traffic.at_rate(0, 3)


def test_drive_paces_records_and_keeps_going_after_a_failed_send() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def send(event: dict) -> str:
        if event.get("poison"):
            raise RuntimeError("refused")
        with lock:
            seen.append(event["id"])
        return "ok"

    events = [traffic.new_event() for _ in range(4)] + [traffic.new_event(poison=True)]
    t0 = time.monotonic()
    sent = traffic.drive(send, "fake", events, traffic.at_rate(20, 5))
    assert 0.2 <= time.monotonic() - t0 < 3  # 5 events at 20/s: the last one at 0.2 s
    assert [s["id"] for s in sent] == [e["id"] for e in events]
    assert len({e["id"] for e in events}) == 5
    assert [s["ok"] for s in sent] == [True] * 4 + [False]
    assert "refused" in sent[-1]["detail"] and sent[-1]["poison"]


def test_drivers_put_the_event_where_the_entry_point_carries_it(stack: Stack) -> None:
    event = traffic.new_event(kind="x")
    url = queue("in")
    traffic.sqs_driver(stack, url)(event)
    body = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=url)["Messages"][0]
    assert json.loads(body["Body"]) == event

    fifo = queue("in.fifo", FifoQueue="true")
    assert traffic.sqs_driver(stack, fifo, fifo=True)(event)

    kinesis = boto3.client("kinesis", region_name=REGION)
    kinesis.create_stream(StreamName="s", ShardCount=1)
    assert traffic.kinesis_driver(stack, "s")(event).startswith("shardId-")

    topic = boto3.client("sns", region_name=REGION).create_topic(Name="t")["TopicArn"]
    assert traffic.sns_driver(stack, topic, lambda e: {"kind": e["kind"]})(event)

    boto3.client("events", region_name=REGION).create_event_bus(Name="bus")
    assert traffic.eventbridge_driver(stack, "bus", "failmodes.chaos", "chaos")(event)

    sfn = boto3.client("stepfunctions", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = sfn.create_state_machine(
        name="m",
        roleArn=role,
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    execution = traffic.stepfunctions_driver(stack, arn)(event)
    assert execution.endswith(event["id"])  # the execution name is the event id


def test_api_driver_sends_the_key_and_fails_on_4xx() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[str | None, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            got.append((self.headers.get("x-api-key"), body))
            self.send_response(403 if body.get("poison") else 200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        send = traffic.api_driver(f"http://127.0.0.1:{server.server_port}/events", "k-1", timeout=5)
        event = traffic.new_event()
        assert send(event) == "200"
        with pytest.raises(Exception, match="403"):
            send(traffic.new_event(poison=True))
    finally:
        server.shutdown()
        server.server_close()
    assert got[0] == ("k-1", event)


def test_every_catalog_send_to_an_api_carries_the_key_of_that_api(program_run) -> None:
    # GIVEN the program's local stack under mocks: which key each API's usage plan takes
    run = program_run("local")
    stack = Stack(name="local", outputs=run.outputs, source="program under mocks")
    plans = {
        stage["apiId"]: plan.id
        for plan in run.mocks.of_type("aws:apigateway/usagePlan:UsagePlan")
        for stage in plan.inputs["apiStages"]
    }
    keys_by_id = {
        k.id: k.outputs["value"] for k in run.mocks.of_type("aws:apigateway/apiKey:ApiKey")
    }
    taken = {
        pk.inputs["usagePlanId"]: keys_by_id[pk.inputs["keyId"]]
        for pk in run.mocks.of_type("aws:apigateway/usagePlanKey:UsagePlanKey")
    }
    sends = [
        step
        for exp in CATALOG
        for step in exp.method
        if isinstance(step, Send) and step.entry == "api"
    ]
    assert len(sends) >= 6  # five to the notifiers, one to the slow API
    for step in sends:
        # WHEN the step's target and key options resolve THEN the key is the one the plan
        # on that URL's API takes (the API id is the URL's first label)
        api_id = urlsplit(stack.get(step.target)).hostname.split(".")[0]
        key_path = step.options.get("api_key")
        assert key_path is not None, f"{step.target}: sent without an API key"
        assert stack.get(key_path) == taken[plans[api_id]], step.target
