"""AWS/SQS metrics for every queue, sampled from moto's queue state.

AWS publishes SQS metrics once a minute; the local cloud samples every
`interval` seconds (default 1 s, env LOCALCLOUD_SQS_METRIC_INTERVAL) so alarms
with 10 s periods see their queue within a second. Gauges come from the queue
(ApproximateNumberOfMessagesVisible / NotVisible / Delayed,
ApproximateAgeOfOldestMessage); counters (NumberOfMessagesSent / Received /
Deleted, NumberOfEmptyReceives) count calls into moto's SQS backend since the
last sample, so event source mappings and SNS deliveries count as on AWS. As on
AWS, a message moved to a DLQ by a redrive policy does not count as sent there.
Dimension: QueueName.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localcloud.moto_reach import cloudwatch as cloudwatch_reach
from localcloud.moto_reach import sqs as sqs_reach

logger = logging.getLogger(__name__)

NAMESPACE = "AWS/SQS"
DEFAULT_INTERVAL = float(os.environ.get("LOCALCLOUD_SQS_METRIC_INTERVAL", "1.0"))
COUNTERS = (
    "NumberOfMessagesSent",
    "NumberOfMessagesReceived",
    "NumberOfMessagesDeleted",
    "NumberOfEmptyReceives",
)
UNITS = {"ApproximateAgeOfOldestMessage": "Seconds"}


class SqsMetricSampler:
    """Background service (start/stop) writing AWS/SQS datapoints into moto's CloudWatch."""

    def __init__(
        self,
        *,
        lock: Any = None,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"SQS metric interval must be > 0 seconds, got {interval}")
        self.lock = lock if lock is not None else threading.RLock()
        self.interval = interval
        self.clock = clock
        self._dimensions: dict[tuple[str, str, str], list[Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0

    def start(self) -> None:
        sqs_reach.take_sqs_counts()  # counts from before the service started belong to no sample
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sqs-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception:
                logger.exception("SQS metric sample failed")
            # Sample on the interval grid, so datapoints fall evenly into periods.
            now = self.clock()
            self._stop.wait(self.interval - (now % self.interval))

    def sample(self) -> int:
        """Write one datapoint per metric per queue; returns the number written."""
        written = 0
        with self.lock:
            now = self.clock()
            # naive UTC, as moto stores timestamps (see metrics.emit)
            stamp = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
            counts = sqs_reach.take_sqs_counts()
            seen = set()
            for account_id, region, queue in sqs_reach.sqs_queues():
                key = (account_id, region, queue.name)
                seen.add(key)
                dims = self._dimensions.get(key)
                if dims is None:
                    dims = self._dimensions[key] = cloudwatch_reach.shared_dimensions(
                        {"QueueName": queue.name}
                    )
                backend = cloudwatch_reach.cloudwatch_backend(account_id, region)
                values = sqs_reach.queue_gauges(queue, now * 1000)
                counted = counts.get(key, {})
                for name in COUNTERS:
                    values[name] = float(counted.get(name, 0))
                for name, value in values.items():
                    unit = UNITS.get(name, "Count")
                    cloudwatch_reach.append_datum(
                        backend, NAMESPACE, name, value, dims, stamp, unit
                    )
                    written += 1
            for key in set(self._dimensions) - seen:
                del self._dimensions[key]
        self.samples += 1
        return written
