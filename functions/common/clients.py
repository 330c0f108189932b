"""boto3 clients, created lazily (never at import) and shared per process.

Every client handed out here carries the fault middleware's throttle hook, so
FAILMODES_THROTTLE reaches all of a function's own SDK calls, including the
ones Powertools idempotency makes (it is given these clients). Region,
endpoint (AWS_ENDPOINT_URL in the local cloud), retry mode and max attempts
come from the standard AWS environment variables.
"""

from __future__ import annotations

import threading
from typing import Any

from functions.faults import install_throttle_hook

_lock = threading.Lock()
_session: Any = None
_clients: dict[str, Any] = {}


def session() -> Any:
    global _session
    if _session is None:
        import boto3

        _session = boto3.session.Session()
    return _session


def client(service: str) -> Any:
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(service)
        if found is None:
            found = install_throttle_hook(session().client(service))
            _clients[service] = found
        return found


def reset(*, session: bool = True) -> None:
    """Forget every client, and the session unless session=False.

    Tests keep the session (loading the service models is the slow part) and
    drop the clients, whose retry settings and mocks belong to one test.
    """
    global _session
    with _lock:
        _clients.clear()
        if session:
            _session = None
