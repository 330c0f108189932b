"""The event source service: keeps one runner per enabled mapping in moto's Lambda backend.

Mappings are discovered from moto (created, updated, deleted, enabled or
disabled through the Lambda API or the emulated deploy); an observer on the
mapping API wakes the service at once, and a slow periodic pass catches the
rest. A changed mapping gets a fresh runner; Kinesis checkpoints survive it, so
an update or a disable/enable resumes where the shard was, as in AWS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from localcloud.moto_reach import lambda_ as lambda_reach
from localcloud.moto_reach import sqs as sqs_reach

from .base import Authorize, ClientFactory, InvokeFn, MappingSpec, Stoppable, allow_all
from .exceptions import MappingConfigError
from .kinesis_poller import KinesisMappingRunner
from .sqs import SqsMappingRunner

logger = logging.getLogger(__name__)

RECONCILE_EVERY = 1.0  # seconds; API changes wake the service sooner
MAPPINGS_PATH = "/2015-03-31/event-source-mappings"


class EventSourceService:
    """Runs the pollers of every SQS and Kinesis event source mapping."""

    def __init__(
        self,
        *,
        invoke: InvokeFn,
        clients: ClientFactory,
        time_scale: float,
        list_mappings: Callable[[], list[dict[str, Any]]] = lambda_reach.list_event_source_mappings,
        emit_metric: Callable[..., None] | None = None,
        authorize: Authorize = allow_all,
    ) -> None:
        self._invoke = invoke
        self._authorize = authorize
        self._clients = clients
        self._time_scale = time_scale
        self._list_mappings = list_mappings
        self._emit_metric = emit_metric
        self._stop = Stoppable()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.runners: dict[str, Any] = {}
        self._checkpoints: dict[str, dict[str, str]] = {}
        self._created_at: dict[str, float] = {}
        self._rejected: dict[str, str] = {}
        # LastProcessingResult per mapping, as its pollers last reported it (moto has none).
        self.results: dict[str, str] = {}

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        lambda_reach.disable_send_time_mapping_invocation()
        sqs_reach.speed_up_sqs_retention_check()
        sqs_reach.speed_up_sqs_visibility_checks()
        sqs_reach.speed_up_sqs_queue_attributes()
        sqs_reach.speed_up_sqs_receive()
        sqs_reach.speed_up_sqs_delete()
        self._thread = threading.Thread(target=self._loop, name="event-sources", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.request_stop()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            runners, self.runners = list(self.runners.values()), {}
        for runner in runners:
            runner.stop()

    def _loop(self) -> None:
        while not self._stop.stopping:
            try:
                self.reconcile()
            except Exception:
                logger.exception("event source reconcile failed")
            self._wake.wait(RECONCILE_EVERY)
            self._wake.clear()

    # -- observers ------------------------------------------------------------------
    def observe(self, request: Any, response: Any) -> None:
        """Cloud observer: wake on mapping changes; wake SQS pollers when messages are sent."""
        path = request.path or ""
        if path.startswith(MAPPINGS_PATH) and request.method == "GET":
            self._amend(response)
            return
        if path.startswith(MAPPINGS_PATH):
            if (
                request.method == "POST"
                and path.rstrip("/") == MAPPINGS_PATH
                and response.status_code < 300
            ):
                try:
                    created = json.loads(response.get_data())
                    self._created_at[created["UUID"]] = time.time()
                except (ValueError, KeyError, TypeError):
                    pass
            self._wake.set()
            return
        target = request.headers.get("X-Amz-Target", "")
        if target.startswith("AmazonSQS.SendMessage"):
            try:
                queue_url = str(json.loads(request.get_data() or b"{}").get("QueueUrl", ""))
            except ValueError:
                return
        elif target == "" and request.form.get("Action", "").startswith("SendMessage"):
            queue_url = request.form.get("QueueUrl") or request.path
        else:
            return
        queue_name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        for runner in list(self.runners.values()):
            if isinstance(runner, SqsMappingRunner) and runner.queue_name == queue_name:
                runner.waker.notify(1)  # one poller; it wakes another if its batch is full

    def _amend(self, response: Any) -> None:
        """GetEventSourceMapping / ListEventSourceMappings answers get the LastProcessingResult
        the pollers reported (moto answers null)."""
        if response.status_code >= 300 or not self.results:
            return
        try:
            doc = json.loads(response.get_data())
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        mappings = doc.get("EventSourceMappings") if "EventSourceMappings" in doc else [doc]
        changed = False
        for mapping in mappings or []:
            result = self.results.get(str(mapping.get("UUID")))
            if result is not None and isinstance(mapping, dict):
                mapping["LastProcessingResult"] = result
                changed = True
        if changed:
            response.set_data(json.dumps(doc))

    def _reporter(self, uuid: str) -> Callable[[str], None]:
        def report(result: str) -> None:
            self.results[uuid] = result

        return report

    # -- reconcile ------------------------------------------------------------------
    def reconcile(self) -> None:
        wanted: dict[str, MappingSpec] = {}
        configs = self._list_mappings()
        for gone in set(self.results) - {str(c.get("UUID")) for c in configs}:
            self.results.pop(gone, None)
        for config in configs:
            uuid = str(config.get("UUID"))
            try:
                spec = MappingSpec.from_configuration(config)
            except MappingConfigError as exc:
                if self._rejected.get(uuid) != str(exc):
                    logger.error("not polling: %s", exc)
                    self._rejected[uuid] = str(exc)
                continue
            if spec.enabled and spec.kind in ("sqs", "kinesis"):
                wanted[uuid] = spec
        with self._lock:
            stale = [u for u, r in self.runners.items() if wanted.get(u) != r.spec]
            stopping = [self.runners.pop(u) for u in stale]
        for runner in stopping:
            runner.stop()
        for uuid, spec in wanted.items():
            with self._lock:
                if uuid in self.runners or self._stop.stopping:
                    continue
                runner = self._make_runner(spec)
                self.runners[uuid] = runner
            logger.info(
                "polling %s for %s (mapping %s)", spec.event_source_arn, spec.function_arn, uuid
            )
            runner.start()

    def _make_runner(self, spec: MappingSpec) -> Any:
        if spec.kind == "sqs":
            return SqsMappingRunner(
                spec,
                clients=self._clients,
                invoke=self._invoke,
                time_scale=self._time_scale,
                authorize=self._authorize,
                report=self._reporter(spec.uuid),
            )
        return KinesisMappingRunner(
            spec,
            self._clients,
            self._invoke,
            self._time_scale,
            checkpoints=self._checkpoints.setdefault(spec.uuid, {}),
            latest_at=self._created_at.get(spec.uuid),
            emit_metric=self._emit_metric,
            authorize=self._authorize,
            report=self._reporter(spec.uuid),
        )
