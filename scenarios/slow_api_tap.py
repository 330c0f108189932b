"""Counts every call to the slow API by answer status and event id, inside the local cloud.

API Gateway answers a usage-plan 429 itself, so the slow API function never sees
it and no function log or metric holds it; AWS would show it as the API's
4XXError metric, which the local cloud does not publish. The tap mounts the
local cloud's own execute-api app on the slow API's path (a longer mount prefix
wins), so the same routing, API key check, usage-plan token bucket and Lambda
integration answer, and records (time, status, event id) on the way out.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any


class SlowApiTap:
    def __init__(self, cloud: Any, api_id: str) -> None:
        from localcloud.apigateway import MOUNT_PREFIX
        from localcloud.apigateway.app import ExecuteApi

        self._app = ExecuteApi(cloud)
        self._lock = threading.Lock()
        self.calls: list[tuple[float, int, str | None]] = []
        cloud.mount(f"{MOUNT_PREFIX}/{api_id}/", self)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            event_id = json.loads(body or b"{}").get("id")
        except (ValueError, AttributeError):
            event_id = None
        status: list[int] = []

        def recording_start(status_line: str, headers: Any, *exc: Any) -> Any:
            status.append(int(status_line.split()[0]))
            return start_response(status_line, headers, *exc)

        answer = self._app(environ, recording_start)
        with self._lock:
            self.calls.append((time.time(), status[0] if status else 0, event_id))
        return answer

    def calls_of(self, ids: set[str]) -> list[tuple[float, int, str | None]]:
        with self._lock:
            return [c for c in self.calls if c[2] in ids]

    @staticmethod
    def summary(calls: list[tuple[float, int, str | None]]) -> dict[str, Any]:
        statuses = Counter(status for _, status, _ in calls)
        callers = {event_id for _, _, event_id in calls}
        return {
            "calls": len(calls),
            "by_status": {str(k): v for k, v in sorted(statuses.items())},
            "throttled_429": statuses.get(429, 0),
            "events_calling": len(callers),
            # Every call after an event's first: tenacity's retries plus re-invocations.
            "retries": len(calls) - len(callers),
        }
