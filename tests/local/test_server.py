"""The endpoint itself: info, start-up time, extension points, the CLI, and no loss inside moto."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter

import pytest
from werkzeug.wrappers import Response


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def test_info_reports_time_scale_and_compressed_delays(cloud):
    info = _get(f"{cloud.endpoint}/_localcloud/info")
    assert info["time_scale"] == 0.001
    assert "lambda_async_retry" in info["compressed_delays"]
    assert any("MaximumEventAgeInSeconds" in item for item in info["not_compressed"])
    assert info["moto_version"] == "5.2.5"
    assert _get(f"{cloud.endpoint}/_localcloud/health") == {"status": "ok"}
    # The core; extensions (alarms, event sources, ...) add their own start-up after it.
    started = info["core_started_in_seconds"]
    assert started < 2.0, f"start-up took {started:.2f} s"


@pytest.mark.in_process_cloud  # the extension points are Python
def test_interceptor_observer_and_mount(cloud, aws, name_for):
    queue = name_for("intercepted")
    seen: list[int] = []

    def deny_one_queue(request):
        if queue.encode() in request.get_data():
            return Response(
                json.dumps(
                    {"__type": "com.amazonaws.sqs#QueueDeletedRecently", "message": "intercepted"}
                ),
                status=400,
                content_type="application/x-amz-json-1.0",
            )
        return None

    def observe(request, response):
        if queue.encode() in request.get_data():
            seen.append(response.status_code)

    cloud.add_interceptor(deny_one_queue)
    cloud.add_observer(observe)
    mount = f"/_test/{name_for('m')}"
    cloud.mount(mount, Response("mounted"))
    sqs = aws("sqs", retries={"total_max_attempts": 1})
    try:
        sqs.create_queue(QueueName=queue)
        raise AssertionError("the interceptor did not answer")
    except sqs.exceptions.ClientError as exc:
        assert "intercepted" in str(exc)
    assert seen == [400]
    assert sqs.create_queue(QueueName=name_for("passes"))["QueueUrl"]  # others reach moto
    with urllib.request.urlopen(f"{cloud.endpoint}{mount}/x", timeout=5) as answer:
        assert answer.read() == b"mounted"


def test_eight_producers_eight_consumers_nothing_lost_or_duplicated(aws, name_for):
    sqs = aws("sqs", max_pool_connections=20)
    url = sqs.create_queue(QueueName=name_for("busy"))["QueueUrl"]
    producers, per_producer = 8, 100
    total = producers * per_producer
    received: Counter[str] = Counter()
    lock = threading.Lock()
    done_producing = threading.Event()

    def produce(p: int) -> None:
        for start in range(0, per_producer, 10):
            entries = [{"Id": str(i), "MessageBody": f"{p}-{start + i}"} for i in range(10)]
            assert not sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")

    def consume() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with lock:
                if sum(received.values()) >= total and done_producing.is_set():
                    return
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
            ).get("Messages", [])
            if got:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(got)
                    ],
                )
            with lock:
                received.update(m["Body"] for m in got)

    threads = [threading.Thread(target=consume) for _ in range(8)]
    prod = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    for thread in threads + prod:
        thread.start()
    for thread in prod:
        thread.join()
    done_producing.set()
    for thread in threads:
        thread.join()
    duplicates = {body: n for body, n in received.items() if n > 1}
    lost = total - len(received)
    assert (lost, duplicates) == (0, {})
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert left["ApproximateNumberOfMessages"] == "0"
    assert left["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_long_poll_does_not_block_other_requests(aws, name_for):
    sqs, other = aws("sqs"), aws("sqs")
    url = sqs.create_queue(QueueName=name_for("idle"))["QueueUrl"]
    other.list_queues(QueueNamePrefix="idle")  # the client's first-call set-up is not measured
    answers: list[dict] = []
    waiting = threading.Thread(
        target=lambda: answers.append(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5))
    )
    waiting.start()
    time.sleep(0.3)  # let the long poll begin; what follows must not wait for it
    other.list_queues(QueueNamePrefix="idle")
    still_polling = waiting.is_alive()
    waiting.join()
    assert still_polling, "a request was answered only after the long poll ended"
    assert "Messages" not in answers[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_command_runs_the_endpoint(poll):
    port = _free_port()
    env = dict(os.environ, LOCALCLOUD_TIME_SCALE="0.5")
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def healthy():
            try:
                return _get(f"http://127.0.0.1:{port}/_localcloud/info")
            except OSError:
                return None

        info = poll(healthy, timeout=30, interval=0.1, what="`serve` to answer")
        assert info["time_scale"] == 0.5 and info["endpoint"] == f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


@pytest.mark.in_process_cloud  # starts a cloud in this process
def test_a_bad_extension_entry_fails_start_and_leaves_nothing_running(monkeypatch, cloud):
    import localcloud
    from localcloud import extensions
    from localcloud.moto_reach import core as moto_reach

    monkeypatch.setattr(extensions, "INSTALLERS", ["localcloud.clock"])
    # As if the session cloud were not running (one cloud per process is allowed).
    monkeypatch.setattr(moto_reach, "_active", [])
    port = _free_port()
    with pytest.raises(ValueError, match="'localcloud.clock' is not 'module:function'"):
        localcloud.start(port=port)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # the port was released
    assert moto_reach.active_cloud() is None


@pytest.mark.in_process_cloud  # one cloud per process
def test_a_second_cloud_in_the_same_process_is_refused(cloud):
    import localcloud
    from localcloud.moto_reach import core as moto_reach

    # GIVEN the session cloud running, WHEN another is started in this process
    port = _free_port()
    with pytest.raises(localcloud.CloudAlreadyRunningError, match=cloud.endpoint):
        localcloud.start(port=port)
    # THEN it never bound its port and the running cloud is still the active one
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert moto_reach.active_cloud() is cloud


def test_an_unknown_query_action_is_400_invalid_action(cloud):
    # GIVEN / WHEN a query-protocol call (SNS) with an action SNS does not have
    import requests

    answer = requests.post(
        cloud.endpoint,
        data={"Action": "NoSuchAction", "Version": "2010-03-31"},
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sns/"
            "aws4_request, SignedHeaders=host, Signature=0"
        },
        timeout=10,
    )
    # THEN AWS's answer: 400 InvalidAction, not a 500 from inside the emulator
    assert answer.status_code == 400
    assert "<Code>InvalidAction</Code>" in answer.text


def test_an_unknown_json_operation_is_400_unknown_operation(cloud, aws):
    # GIVEN / WHEN a JSON-protocol call (DynamoDB) naming an operation it does not have
    import requests

    answer = requests.post(
        cloud.endpoint,
        data="{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.NoSuchOperation",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
        timeout=10,
    )
    # THEN 400 UnknownOperationException, and known operations still work
    assert answer.status_code == 400
    assert answer.json()["__type"].endswith("#UnknownOperationException")
    assert "TableNames" in aws("dynamodb").list_tables()


# ---- HTTP/1.1 keep-alive (one TCP connection, many requests) ----

SNS_SIGNED = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sns/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


def _connection(cloud):
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(cloud.endpoint)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=10)


def _ask(conn, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    conn.request(method, path, body=body, headers=headers or {})
    answer = conn.getresponse()
    return answer, answer.read()


def test_one_connection_carries_request_after_request_bodies_and_all(cloud):
    # GIVEN one connection
    conn = _connection(cloud)
    try:
        answer, body = _ask(conn, "GET", "/_localcloud/health")
        local = conn.sock.getsockname()
        assert answer.status == 200 and json.loads(body) == {"status": "ok"}
        assert answer.getheader("Connection") != "close"
        # WHEN a request with a body, a chunked one and a plain one follow on it
        form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": SNS_SIGNED}
        answer, body = _ask(conn, "POST", "/", b"Action=NoSuchAction&Version=2010-03-31", form)
        assert answer.status == 400 and b"<Code>InvalidAction</Code>" in body
        conn.putrequest("POST", "/")
        for key, value in {**form, "Transfer-Encoding": "chunked"}.items():
            conn.putheader(key, value)
        conn.endheaders()
        for chunk in (b"Action=NoSuch", b"Action&Version=2010-03-31"):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        answer = conn.getresponse()
        assert answer.status == 400 and b"InvalidAction" in answer.read()
        answer, body = _ask(conn, "GET", "/_localcloud/health")
        # THEN every answer came back whole, on the same connection
        assert answer.status == 200 and json.loads(body) == {"status": "ok"}
        assert conn.sock.getsockname() == local
    finally:
        conn.close()


def test_a_client_asking_to_close_gets_its_answer_and_a_closed_connection(cloud):
    conn = _connection(cloud)
    try:
        answer, body = _ask(conn, "GET", "/_localcloud/health", headers={"Connection": "close"})
        assert answer.status == 200 and json.loads(body) == {"status": "ok"}
        assert answer.getheader("Connection") == "close"
        assert conn.sock is None  # http.client closed it, as the server said it would
    finally:
        conn.close()


# ---- the in-process transport of the cloud's own clients ----


@pytest.mark.in_process_cloud  # internal_client is the cloud's own, in this process
def test_internal_clients_take_the_whole_request_path_without_a_socket(cloud, name_for):
    from botocore.exceptions import ClientError

    seen: list[str] = []
    sockets: list[str] = []

    def observe(request, response):
        seen.append(f"{request.headers.get('X-Amz-Target', request.path)} {response.status_code}")
        if request.environ.get("werkzeug.socket") is not None:
            sockets.append(request.path)

    cloud.add_observer(observe)
    sqs = cloud.internal_client("sqs")
    # WHEN it makes calls, one answered by an error
    url = sqs.create_queue(QueueName=name_for("inproc"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    got = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    with pytest.raises(ClientError) as missing:
        cloud.internal_client("lambda").invoke(FunctionName=name_for("none"), Payload=b"{}")
    # THEN they were answered as over HTTP (bodies, error codes), through the observers, and
    # none came in on a socket
    assert [m["Body"] for m in got] == ["one"]
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert "AmazonSQS.CreateQueue 200" in seen and "AmazonSQS.ReceiveMessage 200" in seen
    assert any(entry.endswith("/invocations 404") for entry in seen)
    assert sockets == []


@pytest.mark.in_process_cloud  # the handler's idle timeout is set in this process
def test_an_idle_kept_alive_connection_is_let_go_quietly(cloud, monkeypatch, caplog):
    from localcloud import server

    monkeypatch.setattr(server._QuietHandler, "timeout", 0.3)
    conn = _connection(cloud)
    try:
        answer, _ = _ask(conn, "GET", "/_localcloud/health")
        assert answer.status == 200
        # WHEN the client says nothing more: the server closes its end (recv sees the end)
        conn.sock.settimeout(5)
        assert conn.sock.recv(1) == b""
    finally:
        conn.close()
    # THEN without an error in the log: an idle connection is no failure
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.in_process_cloud  # the server thread's stderr is this process's
def test_a_client_leaving_during_its_body_is_no_error_and_the_endpoint_serves_on(cloud, capfd):
    from urllib.parse import urlsplit

    url = urlsplit(cloud.endpoint)
    # GIVEN a client that announces 100 bytes, sends 10 and goes (a function killed mid-call)
    with socket.create_connection((url.hostname, url.port), timeout=5) as raw:
        raw.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        raw.shutdown(socket.SHUT_WR)
        # THEN the server closes its end without an answer
        assert raw.recv(1024) == b""
    # AND nothing printed a traceback, and the endpoint still answers
    assert _get(f"{cloud.endpoint}/_localcloud/health") == {"status": "ok"}
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.in_process_cloud  # a mount is Python
def test_a_bodiless_answer_with_a_body_does_not_spill_into_the_next_one(cloud, name_for):
    from urllib.parse import urlsplit

    # GIVEN a mounted WSGI app that answers 204 with a body (HTTP forbids one)
    def stray(environ, start_response):
        start_response("204 No Content", [])
        return [b"stray"]

    mount = f"/_test/{name_for('nobody')}"
    cloud.mount(mount, stray)
    url = urlsplit(cloud.endpoint)
    # WHEN two requests go down one connection, the second after the 204
    with socket.create_connection((url.hostname, url.port), timeout=5) as raw:
        raw.sendall(
            f"GET {mount}/x HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /_localcloud/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    # THEN the second answer starts right after the 204's headers
    first, _, rest = received.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 204")
    assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b'{"status": "ok"}')


def test_a_stopped_cloud_answers_nobody_not_even_on_a_kept_alive_connection(tmp_path):
    # In its own process: this process may hold a cloud of its own (one per process).
    script = tmp_path / "stop.py"
    script.write_text(
        "import localcloud\n"
        "cloud = localcloud.start()\n"
        "sqs = cloud.client('sqs', retries={'total_max_attempts': 1})\n"
        "sqs.list_queues()\n"  # the client now holds a kept-alive connection
        "cloud.stop()\n"
        "try:\n"
        "    sqs.list_queues()\n"
        "    print('answered')\n"
        "except Exception as exc:\n"
        "    print('refused', type(exc).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.startswith("refused"), done.stdout + done.stderr
