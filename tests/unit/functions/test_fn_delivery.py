"""The delivery function against a scripted slow API on 127.0.0.1: retries, timeouts, triggers,
and its API key read from Secrets Manager (moto), cached, and read again after a 403."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from functions.common.exceptions import PoisonEventError
from functions.delivery import handler as delivery
from functions.faults import settings
from tests.unit.functions.fn_factories import (
    PATTERN,
    FakeContext,
    eventbridge_event,
    ledger_items,
    new_id,
    sqs_event,
    sqs_record,
)

KEY = "secret-key"


class ScriptedApi:
    """Answers each POST with the next (status, delay_seconds) of its script; then 200. A
    call without the key it takes (`key`) is 403, as API Gateway answers it."""

    def __init__(self) -> None:
        self.key = KEY
        self.script: list[tuple[int, float]] = []
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with api._lock:
                    api.requests.append({"body": json.loads(body), "headers": dict(self.headers)})
                    if self.headers.get("x-api-key") != api.key:
                        status, delay = 403, 0.0
                    else:
                        status, delay = api.script.pop(0) if api.script else (200, 0.0)
                time.sleep(delay)
                payload = json.dumps({"id": json.loads(body)["id"]}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): that is the point of the test

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/deliver"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def server():
    api = ScriptedApi()
    yield api
    api.close()


@pytest.fixture
def api(server, aws, monkeypatch):
    """The scripted API, wired into delivery's env, its key in a secret, with backoff waits
    recorded not slept."""
    server.script.clear()
    server.requests.clear()
    server.key = KEY
    waits: list[float] = []
    monkeypatch.setattr(delivery, "sleep", waits.append)
    # A fresh cache per test: the provider holds the previous test's client and values.
    monkeypatch.setattr(delivery, "_secrets", None)
    secrets = boto3.session.Session().client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name=f"slow-key-{new_id()}", SecretString=KEY)["ARN"]
    server.secrets, server.secret_arn = secrets, arn
    for name, value in {
        "SLOW_API_URL": server.url,
        "SLOW_API_KEY_SECRET": arn,
        "SLOW_API_KEY_MAX_AGE": "300",
        "DELIVERY_ATTEMPTS": "5",
        "DELIVERY_WAIT_BASE": "3",
        "DELIVERY_WAIT_JITTER": "5",
        "DELIVERY_HTTP_TIMEOUT": "2",
    }.items():
        monkeypatch.setenv(name, value)
    server.waits = waits
    server.aws = aws
    return server


def test_delivers_after_transient_failures_with_the_seed_backoff(api) -> None:
    # GIVEN the API answers 503, 429, then 200
    api.script[:] = [(503, 0.0), (429, 0.0)]
    event_id = new_id()
    # WHEN an EventBridge event arrives
    result = delivery.handler(
        eventbridge_event({"id": event_id, "correlation_id": "c-9"}), FakeContext()
    )
    # THEN the third attempt landed after two waits of 3 s + 0..5 s, with key and correlation id
    assert result["attempts"] == 3
    assert len(api.waits) == 2 and all(3.0 <= w <= 8.0 for w in api.waits)
    assert api.requests[-1]["headers"]["x-api-key"] == "secret-key"
    assert api.requests[-1]["body"] == {"id": event_id, "correlation_id": "c-9"}
    assert ledger_items(api.aws) == {event_id: 1}


def test_gives_up_after_the_last_attempt_and_raises(api) -> None:
    api.script[:] = [(500, 0.0)] * 5
    with pytest.raises(delivery.DeliveryExhaustedError, match="after 5 attempt"):
        delivery.handler(eventbridge_event({"id": "x"}), FakeContext())
    assert len(api.requests) == 5 and ledger_items(api.aws) == {}


def test_a_client_error_is_permanent_and_not_retried(api) -> None:
    api.script[:] = [(400, 0.0)]
    with pytest.raises(delivery.DeliveryError) as caught:
        delivery.handler(eventbridge_event({"id": "y"}), FakeContext())
    assert caught.value.retryable is False and caught.value.status == 400
    assert len(api.requests) == 1 and api.waits == []


def test_a_slow_answer_times_out_and_is_retried(api, monkeypatch) -> None:
    # GIVEN an HTTP timeout of 50 ms and a first answer that takes 300 ms
    monkeypatch.setenv("DELIVERY_HTTP_TIMEOUT", "0.05")
    api.script[:] = [(200, 0.3)]
    result = delivery.handler(eventbridge_event({"id": "slow"}), FakeContext())
    assert result["attempts"] == 2


def test_the_http_timeout_stays_below_the_remaining_time(api, monkeypatch) -> None:
    # GIVEN 1.6 s left in the invocation, a 10 s configured timeout and a 1 s answer
    monkeypatch.setenv("DELIVERY_HTTP_TIMEOUT", "10")
    monkeypatch.setenv("DELIVERY_ATTEMPTS", "1")
    api.script[:] = [(200, 1.0)]
    started = time.monotonic()
    # WHEN delivering THEN the attempt is cut at remaining - safety (0.6 s), not at 10 s
    with pytest.raises(delivery.DeliveryExhaustedError, match="timed out after 0.[56]"):
        delivery.handler(eventbridge_event({"id": "late"}), FakeContext(timeout_ms=1600))
    assert time.monotonic() - started < 1.0


def test_no_retry_is_started_that_would_end_past_the_deadline(api) -> None:
    # GIVEN 2.5 s left: the first attempt fails and the next wait (>= 3 s) would overrun
    api.script[:] = [(502, 0.0)]
    with pytest.raises(delivery.DeliveryExhaustedError, match="after 1 attempt"):
        delivery.handler(eventbridge_event({"id": "t"}), FakeContext(timeout_ms=2500))
    assert api.waits == []


def test_sqs_batch_of_eventbridge_events_reports_partial_failures(api, monkeypatch) -> None:
    # GIVEN the flow-controlled variant: SQS bodies are EventBridge events
    monkeypatch.setenv("DELIVERY_ATTEMPTS", "1")
    api.script[:] = [(200, 0.0), (500, 0.0)]
    good, bad = new_id(), new_id()
    event = sqs_event(
        eventbridge_event({"id": good}),
        eventbridge_event({"id": bad}),
        eventbridge_event({"id": new_id(), "poison": True}),
        {"not": "an eventbridge event"},
    )
    response = delivery.handler(event, FakeContext())
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed == {r["messageId"] for r in event["Records"][1:]}
    assert ledger_items(api.aws) == {good: 1}


def test_poison_is_raised_without_calling_the_api(api) -> None:
    with pytest.raises(PoisonEventError):
        delivery.handler(eventbridge_event({"id": "p", "poison": True}), FakeContext())
    assert api.requests == []


def test_a_bad_retry_setting_names_the_variable(api, monkeypatch) -> None:
    monkeypatch.setenv("DELIVERY_ATTEMPTS", "many")
    with pytest.raises(Exception, match="DELIVERY_ATTEMPTS='many'"):
        delivery.handler(eventbridge_event({"id": "z"}), FakeContext())


def test_sqs_batch_attempt_faults_count_the_detail_id_and_follow_the_receive_count(
    api, monkeypatch
) -> None:
    # GIVEN the first receive of each record fails, attempts recorded
    monkeypatch.setenv(settings.MASTER, "on")
    monkeypatch.setenv(settings.FAIL_ATTEMPTS, "1")
    monkeypatch.setenv(settings.RECORD_ATTEMPTS, "on")
    event_id, message_id = new_id(), new_id()
    body = eventbridge_event({"id": event_id})

    def received(count: int) -> dict:
        return {"Records": [sqs_record(body, message_id=message_id, receive_count=count)]}

    # WHEN SQS delivers it the first time THEN it fails before any call to the API
    with pytest.raises(BatchProcessingError):  # its only record failed
        delivery.handler(received(1), FakeContext())
    assert api.requests == []
    # AND the second receive delivers it
    assert delivery.handler(received(2), FakeContext()) == {"batchItemFailures": []}
    assert [r["body"]["id"] for r in api.requests] == [event_id]
    # AND the attempts are counted under the chaos id in the detail, not EventBridge's own id
    assert ledger_items(api.aws, settings.attempts_partition(PATTERN)) == {event_id: 2}


def rotate(api, new_key: str) -> None:
    """The key rotated: the API takes only the new one, the secret holds it."""
    api.key = new_key
    api.secrets.put_secret_value(SecretId=api.secret_arn, SecretString=new_key)


def test_the_key_is_read_from_its_secret_once_per_cache_age(api) -> None:
    # GIVEN the key in the secret, and the secretsmanager calls counted
    calls: list[str] = []
    client = delivery.clients.client("secretsmanager")
    client.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: calls.append("get")
    )
    # WHEN three events are delivered
    for _ in range(3):
        delivery.handler(eventbridge_event({"id": new_id()}), FakeContext())
    # THEN each sent the secret's key, and Secrets Manager was asked once, not once each
    assert [r["headers"]["x-api-key"] for r in api.requests] == [KEY] * 3
    assert calls == ["get"]


def test_a_rotated_key_is_used_after_the_cache_age(api, monkeypatch) -> None:
    # GIVEN a key cached for 1 s, then rotated while the API still takes the old one too
    monkeypatch.setenv("SLOW_API_KEY_MAX_AGE", "1")
    delivery.handler(eventbridge_event({"id": new_id()}), FakeContext())
    api.secrets.put_secret_value(SecretId=api.secret_arn, SecretString="rotated-key")
    # WHEN delivering within the cache age THEN the cached key is sent
    delivery.handler(eventbridge_event({"id": new_id()}), FakeContext())
    assert api.requests[-1]["headers"]["x-api-key"] == KEY
    # WHEN delivering after it, the old key no longer taken
    time.sleep(1.1)
    api.key = "rotated-key"
    result = delivery.handler(eventbridge_event({"id": new_id()}), FakeContext())
    # THEN the first attempt already sent the secret's new key (no 403 had to tell it)
    assert api.requests[-1]["headers"]["x-api-key"] == "rotated-key"
    assert result["attempts"] == 1


def test_a_403_reads_the_secret_again_and_retries_with_a_rotated_key(api) -> None:
    # GIVEN the key cached, then rotated: the API no longer takes the cached one
    delivery.handler(eventbridge_event({"id": new_id()}), FakeContext())
    rotate(api, "rotated-key")
    # WHEN delivering within the cache age
    event_id = new_id()
    result = delivery.handler(eventbridge_event({"id": event_id}), FakeContext())
    # THEN the 403 read the secret again, and the next attempt, at once, carried the new key
    assert [r["headers"]["x-api-key"] for r in api.requests[-2:]] == [KEY, "rotated-key"]
    assert result["attempts"] == 2 and ledger_items(api.aws)[event_id] == 1


def test_a_403_with_the_secrets_own_key_is_permanent(api) -> None:
    # GIVEN a secret whose key the API does not take (not a rotation: the same key again)
    api.key = "another-key"
    # WHEN delivering THEN one 403, not retried: another try could not help
    with pytest.raises(delivery.DeliveryError) as caught:
        delivery.handler(eventbridge_event({"id": new_id()}), FakeContext())
    assert caught.value.retryable is False and caught.value.status == 403
    assert len(api.requests) == 1 and api.waits == []
