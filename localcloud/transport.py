"""The in-process transport: a boto3 client of the cloud's own components (pollers, SNS and
EventBridge delivery, destinations, alarm actions, role sessions) whose requests the cloud
answers in the caller's thread instead of over a socket.

Each request still takes the whole path a socket request takes (`LocalCloud.__call__`:
mounts, interceptors with the IAM enforcement, moto under the lock, observers); only the
TCP connection, the server thread it gets and the HTTP parsing are left out, which were
more than half the cost of a small SQS call. The client is an ordinary botocore client:
it serializes, signs, retries and parses as over HTTP. The hook is botocore's documented
`before-send` event, whose handler may return the response instead of sending.

Functions' own calls (worker processes) and users' clients keep HTTP.
Hand-written: botocore has no in-process WSGI transport, and werkzeug's test client builds
its environ for test requests (a different header and body handling than botocore's).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from werkzeug.test import run_wsgi_app

WsgiApp = Callable[..., Any]


class _Body:
    """What botocore reads a response from: `stream()` for content, `read(n)` for streaming
    outputs (Lambda's Invoke Payload, S3 objects)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def stream(self, amt: int = 65536, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self._data.read(amt):
            yield chunk

    def read(self, amt: int | None = None) -> bytes:
        return self._data.read() if amt is None else self._data.read(amt)

    def close(self) -> None:
        self._data.close()


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body.read())  # a file-like body (S3 uploads)


def environ_for(request: AWSPreparedRequest) -> dict[str, Any]:
    """The WSGI environ the endpoint's HTTP server would build for this request (as
    werkzeug's server does, keeping headers with underscores as moto's handler does)."""
    url = urlsplit(request.url)
    body = _body_bytes(request.body)
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(url.path or "/").encode("utf-8").decode("latin-1"),
        "QUERY_STRING": url.query,
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "SERVER_NAME": url.hostname or "127.0.0.1",
        "SERVER_PORT": str(url.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": url.netloc,
    }
    for key, value in request.headers.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        name = key.upper().replace("-", "_")
        if name == "CONTENT_TYPE":
            environ[name] = text
        elif name not in ("CONTENT_LENGTH", "HOST"):
            environ[f"HTTP_{name}"] = text
    return environ


class InProcessTransport:
    """Answers a botocore request by the cloud's WSGI app in the calling thread."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        app_iter, status, headers = run_wsgi_app(self._app, environ_for(request), buffered=True)
        data = b"".join(app_iter)
        answer = dict(headers)
        if request.method != "HEAD":
            answer["Content-Length"] = str(len(data))
        return AWSResponse(request.url, int(status.split(None, 1)[0]), answer, _Body(data))

    def attach(self, client: Any) -> Any:
        """Route `client`'s requests through this transport; returns the client."""
        client.meta.events.register("before-send", self)
        return client
