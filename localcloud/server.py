"""One endpoint on 127.0.0.1 serving moto in-process, with the local cloud's additions.

Requests flow: `/_localcloud/*` (info, health) -> mounts (paths served outside
moto) -> interceptors (may answer instead of moto) -> moto, under one lock ->
observers (see the request and moto's answer). moto's backends are not safe
under concurrent requests (8 producers x 8 consumers on one SQS queue lost and
duplicated messages), so every call into moto holds `cloud.lock`.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import Any, Protocol
from urllib.parse import parse_qs

import boto3
from botocore.config import Config
from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import run_wsgi_app
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import get_input_stream

from localcloud import clock, extensions, moto_reach, sigv4
from localcloud.errors import LocalCloudError
from localcloud.lambda_ import limits as lambda_limits
from localcloud.moto_reach import core as moto_core
from localcloud.moto_reach import sqs as sqs_reach
from localcloud.transport import InProcessTransport

logger = logging.getLogger(__name__)

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
BODY_KEY = "localcloud.body"
SQS_POLL_INTERVAL = 0.02  # seconds between empty polls of a long-poll ReceiveMessage
IDLE_CONNECTION_SECONDS = 300.0  # a kept-alive connection with no request this long is closed

Interceptor = Callable[[Request], "Response | None"]
Observer = Callable[[Request, Response], None]


class Service(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class _QuietHandler(moto_core.request_handler_class()):  # type: ignore[misc]
    """moto's handler (keeps underscored S3 metadata headers), minus a log line per request,
    with HTTP/1.1 keep-alive.

    werkzeug's development server closes every connection after one answer (its handler
    drains what is left on the socket, which would eat a next request), so each request
    cost a TCP connection and a new thread: 0.8 ms before the cloud saw it, on every call a
    function or client makes. This handler keeps werkzeug's request parsing (environ,
    chunked bodies, 100-continue) and writes the answer itself, body read to its end
    first, so the connection can carry the next request. Hand-written: the threaded
    production servers (cheroot, waitress) serve from a fixed pool of threads, and this
    cloud's requests wait on one another (a synchronous invoke whose function calls the
    cloud, long polls, a mapped API's slow backend); one thread per connection never runs
    out. An idle connection's thread ends after IDLE_CONNECTION_SECONDS.
    """

    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS  # socket reads: a client idle this long is let go

    def setup(self) -> None:
        super().setup()
        # Answers are one write; no Nagle wait for a client's delayed ACK between requests.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.localcloud_connections.add(self.connection)

    def finish(self) -> None:
        self.server.localcloud_connections.discard(self.connection)
        super().finish()

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        if format.startswith("Request timed out"):  # an idle kept-alive connection let go
            logger.debug("closed an idle connection from %s", self.address_string())
            return
        super().log_error(format, *args)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        try:
            body = get_input_stream(environ).read()  # to its end: the next request follows it
        except (ClientDisconnected, OSError):  # e.g. a function killed mid-request at its timeout
            logger.debug("client %s left during its request body", self.address_string())
            self.close_connection = True
            return
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)
        try:
            app_iter, status, headers = run_wsgi_app(self.server.app, environ, buffered=True)
            payload = b"".join(app_iter)
        except Exception:
            logger.exception("local cloud failed on %s %s", self.command, self.path)
            status, headers = "500 INTERNAL SERVER ERROR", Headers()
            payload = b'{"__type": "ServiceException", "message": "local cloud error"}'
        code = int(status.split(None, 1)[0])
        lines = [f"{self.protocol_version} {status}"]
        lines += [
            f"{key}: {value}"
            for key, value in headers.items()
            if key.lower() not in ("content-length", "connection", "transfer-encoding")
        ]
        bodiless = 100 <= code < 200 or code in (204, 304)  # HTTP: these never carry a body
        if not bodiless:
            length = headers.get("Content-Length") if self.command == "HEAD" else None
            lines.append(f"Content-Length: {length or len(payload)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write: no Nagle wait between headers and body. A body the app gave a bodiless
        # answer is dropped, or the next answer on the connection would start inside it.
        self.wfile.write(head if self.command == "HEAD" or bodiless else head + payload)


def client_on(endpoint: str, region: str, service_name: str, **config: Any) -> Any:
    """A boto3 client on a local cloud at `endpoint`, with its test credentials; `config`:
    botocore Config options. One session per client: boto3 sessions are not thread-safe."""
    return boto3.session.Session().client(
        service_name,
        endpoint_url=endpoint,
        region_name=region,
        config=Config(**config) if config else None,
        **TEST_CREDENTIALS,
    )


class CloudAlreadyRunningError(LocalCloudError, RuntimeError):
    """`start()` while another local cloud runs in the same process."""


class LocalCloud:
    """The embedded local cloud. Use `localcloud.start()` rather than building one by hand."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, time_scale: float | None = None):
        self.host = host
        self.requested_port = port
        self.clock = clock.Clock(clock.resolve_time_scale(time_scale))
        # Re-entrant: a moto call may trigger a patched moto-internal path that reads moto again.
        self.lock = threading.RLock()
        self.region = REGION
        self.account_id = ACCOUNT_ID
        self._interceptors: list[Interceptor] = []
        self._observers: list[Observer] = []
        self._mounts: list[tuple[str, Callable[..., Any]]] = []
        self._services: list[Service] = []
        self._started_services: list[Service] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._moto_app: Callable[..., Any] | None = None
        self.started_in: float | None = None
        self.core_started_in: float | None = None
        self.lambdas: Any = None  # localcloud.lambda_.LambdaRuntime, set by start()
        self.sns: Any = None  # localcloud.sns.SnsLambdaDelivery
        self.iam: Any = None  # localcloud.iam.roles.Roles: role sessions and their policies
        # The cloud's own clients' requests, answered in the caller's thread (see transport).
        self.transport = InProcessTransport(self)

    # ---- extension points -------------------------------------------------------------
    def add_interceptor(self, fn: Interceptor) -> None:
        """`fn(request)` runs before moto; a Response it returns is the answer."""
        self._interceptors.append(fn)

    def add_observer(self, fn: Observer) -> None:
        """`fn(request, response)` runs after the answer is known (it may amend the response)."""
        self._observers.append(fn)

    def mount(self, prefix: str, wsgi_app: Callable[..., Any]) -> None:
        """Serve paths starting with `prefix` by `wsgi_app`, outside moto and its lock."""
        if not prefix.startswith("/"):
            raise ValueError(f"mount prefix {prefix!r} must start with '/'")
        self._mounts.append((prefix, wsgi_app))
        self._mounts.sort(key=lambda item: len(item[0]), reverse=True)

    def add_service(self, service: Service) -> None:
        """A background service started now (if the cloud runs) and stopped with the cloud."""
        self._services.append(service)
        if self._server is not None:
            service.start()
            self._started_services.append(service)

    # ---- lifecycle --------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the local cloud is not started")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalCloud:
        running = moto_core.active_cloud()
        if running is not None:
            # moto keeps its backends per process: a second cloud would serve the same queues,
            # tables and functions, and each cloud's pollers and alarm evaluator would act on
            # the other's resources (seen as lost and duplicated events). One per process.
            raise CloudAlreadyRunningError(
                f"a local cloud already runs in this process on {running.endpoint}; moto's "
                "backends are process-wide, so a second cloud would share (and poll) its "
                "resources. Stop it first, or start the other cloud in its own process "
                "(python -m localcloud serve)."
            )
        began = time.perf_counter()
        moto_core.configure_moto_before_backends()
        self._moto_app = moto_core.moto_wsgi_app()
        self._server = make_server(
            self.host, self.requested_port, self, threaded=True, request_handler=_QuietHandler
        )
        # The connections its handlers hold open between requests: stop() closes them, so
        # a stopped cloud answers nobody.
        self._server.localcloud_connections = set()  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="localcloud-http", daemon=True
        )
        self._thread.start()
        moto_core.activate(self)

        # The core (endpoint, roles, Lambda runtime, SNS delivery) is what must start in well
        # under 2 s.
        from localcloud.iam import enforcement
        from localcloud.iam.roles import Roles
        from localcloud.lambda_ import LambdaRuntime
        from localcloud.sns import SnsLambdaDelivery

        self.iam = Roles(self)
        self.iam.install()
        # First of the interceptors: a call its role does not allow never reaches one that
        # answers instead of moto (long-poll ReceiveMessage, Lambda's Invoke, PutEvents).
        enforcement.install(self)
        self.add_interceptor(self._sqs_long_poll)

        self.lambdas = LambdaRuntime(self)
        self.add_service(self.lambdas)
        self.sns = SnsLambdaDelivery(self)
        self.add_service(self.sns)
        self.core_started_in = time.perf_counter() - began
        try:
            self._install_extensions()
        except BaseException:
            self.stop()  # no half-started cloud keeps a port, threads and workers
            raise
        self.started_in = time.perf_counter() - began
        logger.info("local cloud on %s (started in %.3f s)", self.endpoint, self.started_in)
        return self

    def _install_extensions(self) -> None:
        for spec in extensions.INSTALLERS:
            module_name, _, func_name = spec.partition(":")
            if not func_name:
                raise ValueError(f"extensions.INSTALLERS entry {spec!r} is not 'module:function'")
            getattr(importlib.import_module(module_name), func_name)(self)

    def stop(self) -> None:
        for service in reversed(self._started_services):
            try:
                service.stop()
            except Exception:
                logger.exception("stopping %r failed", service)
        self._started_services.clear()
        moto_core.deactivate(self)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            for connection in list(self._server.localcloud_connections):  # type: ignore[attr-defined]
                try:  # the handler's blocked read ends; the client sees the connection close
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> LocalCloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- clients and moto -------------------------------------------------------------
    def client(self, service_name: str, **config: Any) -> Any:
        """A boto3 client on this cloud (region us-east-1, test credentials)."""
        return client_on(self.endpoint, self.region, service_name, **config)

    def internal_client(self, service_name: str, **config: Any) -> Any:
        """A boto3 client for the cloud's own components: its requests take the same path
        as a socket request's (interceptors, IAM enforcement, moto under the lock,
        observers), answered in the calling thread (localcloud.transport)."""
        return self.transport.attach(self.client(service_name, **config))

    def call_moto(self, environ: dict[str, Any], body: bytes | None = None) -> Response:
        """Answer one request by moto, under the lock; `environ` may be a modified copy."""
        environ = dict(environ)
        data = environ.get(BODY_KEY, b"") if body is None else body
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        assert self._moto_app is not None
        with self.lock:
            return Response.from_app(self._moto_app, environ, buffered=True)

    def _sqs_long_poll(self, request: Request) -> Response | None:
        """ReceiveMessage with a wait: polled under short lock holds, never waiting inside moto
        (moto would hold the lock for up to 20 s and stall every other request)."""
        target = request.headers.get("X-Amz-Target", "")
        is_json = target == "AmazonSQS.ReceiveMessage"
        if is_json:
            params: dict[str, Any] = json.loads(request.get_data() or b"{}")
        elif request.form.get("Action") == "ReceiveMessage":
            params = dict(request.form)
        else:
            return None
        queue_url = str(params.get("QueueUrl") or request.base_url)
        wait = params.get("WaitTimeSeconds")
        if wait is None:
            with self.lock:
                wait = sqs_reach.sqs_queue_wait_seconds(self.account_id, self.region, queue_url)
        try:
            wait_seconds = int(wait or 0)
        except (TypeError, ValueError):
            return None  # let moto answer the invalid parameter
        if not 0 < wait_seconds <= 20:
            return None
        params["WaitTimeSeconds"] = 0
        if is_json:
            body = json.dumps(params).encode()
        else:
            from urllib.parse import urlencode

            body = urlencode(params).encode()
        deadline = time.monotonic() + wait_seconds
        while True:
            response = self.call_moto(request.environ, body=body)
            if (
                response.status_code != 200
                or b"<Message>" in response.get_data()
                or (is_json and b'"Messages"' in response.get_data())
                or time.monotonic() >= deadline
            ):
                return response
            time.sleep(SQS_POLL_INTERVAL)

    def info(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "account_id": self.account_id,
            "time_scale": self.clock.time_scale,
            "compressed_delays": clock.COMPRESSED_DELAYS,
            "not_compressed": list(clock.NOT_COMPRESSED),
            "started_in_seconds": self.started_in,
            "core_started_in_seconds": self.core_started_in,
            "moto_version": moto_core.moto_version(),
            "mounts": [prefix for prefix, _ in self._mounts],
            "lambda_max_workers": self.lambdas.pool.max_workers if self.lambdas else None,
            "host_limits": lambda_limits.current(),
            "extensions": list(extensions.INSTALLERS),
        }

    # ---- WSGI -------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_localcloud/"):
            return self._own(path)(environ, start_response)
        for prefix, app in self._mounts:
            if path.startswith(prefix):
                return app(environ, start_response)
        body = get_input_stream(environ).read()
        environ[BODY_KEY] = body
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["CONTENT_LENGTH"] = str(len(body))
        request = Request(dict(environ, **{"wsgi.input": io.BytesIO(body)}))
        moto_reach.ensure_patched(_signing_name(environ))
        response: Response | None = _unknown_operation(request, _signing_name(environ))
        try:
            for interceptor in () if response is not None else self._interceptors:
                response = interceptor(request)
                if response is not None:
                    break
            if response is None:
                response = self.call_moto(environ)
            for observer in self._observers:
                observer(request, response)
        except Exception as exc:  # the cloud keeps serving whatever one extension does
            logger.exception("local cloud failed on %s %s", request.method, path)
            response = Response(
                json.dumps({"__type": "ServiceException", "message": f"local cloud: {exc!r}"}),
                status=500,
                content_type="application/json",
            )
        return response(environ, start_response)

    def _own(self, path: str) -> Response:
        if path == "/_localcloud/health":
            return Response(json.dumps({"status": "ok"}), content_type="application/json")
        if path == "/_localcloud/info":
            return Response(json.dumps(self.info()), content_type="application/json")
        return Response(json.dumps({"message": f"no such path {path}"}), status=404)


@cache
def _service_operations(signing: str) -> tuple[str, frozenset[str]] | None:
    """(protocol, operation names) of the service a request is signed for, from botocore's
    model; None for a service botocore does not know. The names are the same whichever
    protocol (query, JSON, CBOR) a client speaks."""
    model = sigv4.service_model(signing)
    if model is None:
        return None
    return model.protocol, frozenset(model.operation_names)


def _unknown_operation(request: Request, signing: str) -> Response | None:
    """AWS's answer to an action the service does not have: 400 with the protocol's code
    (query: InvalidAction, JSON: UnknownOperationException). None when it is known, or
    when the request names no action this check can read (REST paths go on to moto)."""
    known = _service_operations(signing) if signing else None
    if known is None:
        return None
    _, operations = known
    target = request.headers.get("X-Amz-Target")
    if target:
        operation = target.rsplit(".", 1)[-1]
        if operation in operations:
            return None
        body = {
            "__type": "com.amazon.coral.service#UnknownOperationException",
            "message": f"Unknown operation {target}",
        }
        return Response(json.dumps(body), status=400, content_type="application/x-amz-json-1.0")
    form_encoded = request.mimetype == "application/x-www-form-urlencoded"
    if not form_encoded and "Action" not in request.args:
        return None  # REST protocols name the operation by path and method: moto routes it
    form = parse_qs(request.get_data(as_text=True)) if form_encoded else {}
    actions = form.get("Action") or request.args.getlist("Action")
    if not actions or actions[0] in operations:
        return None
    message = (
        "The action or operation requested is invalid. Verify that the action is typed correctly."
    )
    xml = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"
        f"<Message>{message}</Message></Error><RequestId>0</RequestId></ErrorResponse>"
    )
    return Response(xml, status=400, content_type="text/xml")


def _signing_name(environ: dict[str, Any]) -> str:
    """The service a SigV4 request is signed for ('lambda', 'sns', 'states', ...), or ''."""
    scope = sigv4.scope_of(environ.get("HTTP_AUTHORIZATION"))
    return scope.service if scope else ""


def start(*, port: int = 0, time_scale: float | None = None) -> LocalCloud:
    """Start the local cloud on 127.0.0.1 (a free port unless `port` is given)."""
    return LocalCloud(port=port, time_scale=time_scale).start()


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not in 0-65535 (0: any free port)")
    return port


def main(argv: list[str] | None = None) -> int:
    """`python -m localcloud serve [--port 4566] [--time-scale 0.01]`.

    The first line on stdout names the endpoint (`local cloud on http://127.0.0.1:<port>`):
    with `--port 0` the cloud binds a free port and that line is how a caller learns it.
    SIGTERM or SIGINT stops the cloud and exits 0.
    """
    args = list(argv or [])
    if args and args[0] == "serve":
        args = args[1:]
    parser = argparse.ArgumentParser(prog="python -m localcloud serve")
    parser.add_argument("--port", type=_port, default=4566, help="0: any free port")
    parser.add_argument("--time-scale", type=float, default=None)
    options = parser.parse_args(args)
    try:
        time_scale = clock.resolve_time_scale(options.time_scale)
    except clock.TimeScaleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        lambda_limits.current()  # the host limits' variables, read before anything starts
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with start(port=options.port, time_scale=time_scale) as cloud:
        print(f"local cloud on {cloud.endpoint} (time scale {cloud.clock.time_scale})", flush=True)
        stopping.wait()
    return 0
