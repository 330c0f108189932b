"""The DynamoDB capacity interceptor: throttles requests over a table's capacity before moto.

A throttled request gets HTTP 400 with the JSON error botocore parses into
ProvisionedThroughputExceededException (the SDK then retries, as on AWS).
Units are computed before the request from its items and, for reads, writes
and deletes of existing items, from the item moto holds. Query and Scan are
admitted on their minimum charge and charged the rest after moto answers (a
debt the bucket refills), as their size is unknown beforehand.

Batch requests are all-or-nothing here (AWS may return UnprocessedItems for
part of a batch); transactions cost double. AWS/DynamoDB metrics
(ConsumedRead/WriteCapacityUnits, Read/WriteThrottleEvents, ThrottledRequests)
are summed per second and written by `flush()`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from localcloud.cloudwatch import metrics
from localcloud.dynamodb import capacity
from localcloud.dynamodb.limits import TableLimits
from localcloud.moto_reach import dynamodb as dynamodb_reach

logger = logging.getLogger(__name__)

TARGET_PREFIX = "DynamoDB_20120810."
ERROR_TYPE = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
PROVISIONED_MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
ON_DEMAND_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is "
    "automatically scaling your table or index so please try again shortly."
)
SCANS = ("Query", "Scan")

Charge = tuple[str, str, float]  # (table name, "read" | "write", units)


def throttled(message: str) -> Response:
    return Response(
        json.dumps({"__type": ERROR_TYPE, "message": message}),
        status=400,
        content_type="application/x-amz-json-1.0",
    )


class DynamoDbCapacity:
    """Interceptor + observer + metric flusher (a service with start/stop)."""

    def __init__(self, cloud: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.cloud = cloud
        self.clock = clock
        self._limits: dict[tuple[str, int], TableLimits] = {}
        self._lock = threading.Lock()
        self._metrics: dict[tuple[str, str, str], float] = defaultdict(float)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.throttled = 0

    # -- interceptor ----------------------------------------------------------------------
    def intercept(self, request: Request) -> Response | None:
        target = request.headers.get("X-Amz-Target", "")
        if not target.startswith(TARGET_PREFIX):
            return None
        operation = target[len(TARGET_PREFIX) :]
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return None  # moto answers the malformed request with its own error
        with self.cloud.lock:
            try:
                charges = self._charges(operation, body)
            except (capacity.ItemSizeError, KeyError, TypeError, AttributeError) as exc:
                logger.debug("capacity not computed for %s: %s", operation, exc)
                return None
            limits = [
                (self._table_limits(name), name, kind, units) for name, kind, units in charges
            ]
        taken: list[tuple[TableLimits, str, float]] = []
        for table_limits, name, kind, units in limits:
            if table_limits is None:
                continue  # no such table: moto answers ResourceNotFoundException
            if not table_limits.try_take(kind, units):
                for done, done_kind, done_units in taken:
                    done.charge(done_kind, -done_units)
                self.throttled += 1
                self._count(name, f"{kind.capitalize()}ThrottleEvents", 1)
                self._count(name, "ThrottledRequests", 1)
                on_demand = table_limits.mode == "PAY_PER_REQUEST"
                return throttled(ON_DEMAND_MESSAGE if on_demand else PROVISIONED_MESSAGE)
            taken.append((table_limits, kind, units))
        for _, name, kind, units in limits:
            metric = "ConsumedReadCapacityUnits" if kind == "read" else "ConsumedWriteCapacityUnits"
            self._count(name, metric, units)
            self._count(name, f"{kind.capitalize()}ThrottleEvents", 0)
        return None

    def observe(self, request: Request, response: Response) -> None:
        """Charge Query / Scan for what they read, beyond the minimum taken on admission."""
        target = request.headers.get("X-Amz-Target", "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        if operation == "UpdateTable" and response.status_code == 200:
            # New throughput applies from the update, not from the table's next request.
            try:
                name = json.loads(request.get_data() or b"{}").get("TableName", "")
            except ValueError:
                return
            with self.cloud.lock:
                self._table_limits(name)
            return
        if operation not in SCANS or response.status_code != 200:
            return
        try:
            body = json.loads(request.get_data() or b"{}")
            answer = json.loads(response.get_data() or b"{}")
        except ValueError:
            return
        consistent = bool(body.get("ConsistentRead"))
        used = capacity.scan_units(answer.get("Items", []), consistent=consistent)
        extra = used - capacity.read_units(0, consistent=consistent)
        name = body.get("TableName", "")
        with self.cloud.lock:
            table_limits = self._table_limits(name)
        if table_limits is not None and extra > 0:
            table_limits.charge("read", extra)
            self._count(name, "ConsumedReadCapacityUnits", extra)

    # -- units ---------------------------------------------------------------------------
    def _existing(self, table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        table = dynamodb_reach.dynamodb_table(self.cloud.account_id, self.cloud.region, table_name)
        return None if table is None else dynamodb_reach.existing_item(table, key)

    def _charges(self, operation: str, body: dict[str, Any]) -> list[Charge]:
        size, existing = capacity.item_size, self._existing
        table = body.get("TableName", "")
        consistent = bool(body.get("ConsistentRead"))
        if operation == "PutItem":
            item = body["Item"]
            units = capacity.write_units(max(size(item), size(existing(table, item))))
            return [(table, "write", units)]
        if operation == "UpdateItem":
            before = size(existing(table, body["Key"]))
            added = sum(
                capacity.value_size(v)
                for v in (body.get("ExpressionAttributeValues") or {}).values()
            )
            after = (before or size(body["Key"])) + added
            return [(table, "write", capacity.write_units(max(before, after)))]
        if operation == "DeleteItem":
            return [(table, "write", capacity.write_units(size(existing(table, body["Key"]))))]
        if operation == "GetItem":
            found = existing(table, body["Key"])
            return [(table, "read", capacity.read_units(size(found), consistent=consistent))]
        if operation in SCANS:
            return [(table, "read", capacity.read_units(0, consistent=consistent))]
        if operation == "BatchGetItem":
            charges: list[Charge] = []
            for name, spec in body["RequestItems"].items():
                strong = bool(spec.get("ConsistentRead"))
                for key in spec.get("Keys", []):
                    units = capacity.read_units(size(existing(name, key)), consistent=strong)
                    charges.append((name, "read", units))
            return _merge(charges)
        if operation == "BatchWriteItem":
            charges = []
            for name, requests in body["RequestItems"].items():
                for entry in requests:
                    if "PutRequest" in entry:
                        item = entry["PutRequest"]["Item"]
                        charges.append((name, "write", capacity.write_units(size(item))))
                    elif "DeleteRequest" in entry:
                        gone = size(existing(name, entry["DeleteRequest"]["Key"]))
                        charges.append((name, "write", capacity.write_units(gone)))
            return _merge(charges)
        if operation == "TransactWriteItems":
            charges = []
            for entry in body["TransactItems"]:
                ((kind, spec),) = entry.items()
                name = spec["TableName"]
                item = spec.get("Item") or existing(name, spec.get("Key", {})) or spec.get("Key")
                units = capacity.write_units(size(item), transactional=True)
                charges.append((name, "write", units))
            return _merge(charges)
        if operation == "TransactGetItems":
            charges = []
            for entry in body["TransactItems"]:
                spec = entry["Get"]
                found = existing(spec["TableName"], spec["Key"])
                units = capacity.read_units(size(found), consistent=True, transactional=True)
                charges.append((spec["TableName"], "read", units))
            return _merge(charges)
        return []

    def _table_limits(self, name: str) -> TableLimits | None:
        table = dynamodb_reach.dynamodb_table(self.cloud.account_id, self.cloud.region, name)
        if table is None:
            return None
        mode, rcu, wcu = dynamodb_reach.table_capacity(table)
        key = (name, id(table))  # a re-created table starts afresh
        with self._lock:
            limits = self._limits.get(key)
            if limits is None:
                limits = self._limits[key] = TableLimits(
                    mode, rcu, wcu, age=dynamodb_reach.table_age(table), clock=self.clock
                )
            else:
                limits.sync(mode, rcu, wcu)
        return limits

    # -- metrics -------------------------------------------------------------------------
    def _count(self, table: str, metric: str, value: float) -> None:
        with self._lock:
            self._metrics[(table, metric, "")] += value

    def flush(self) -> int:
        """Write the per-second sums as AWS/DynamoDB datapoints (dimension TableName)."""
        with self._lock:
            pending, self._metrics = self._metrics, defaultdict(float)
        with self.cloud.lock:
            for (table, metric, _), value in pending.items():
                metrics.emit("AWS/DynamoDB", metric, value, {"TableName": table})
        return len(pending)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dynamodb-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.flush()
            except Exception:
                logger.exception("DynamoDB metric flush failed")


def _merge(charges: list[Charge]) -> list[Charge]:
    merged: dict[tuple[str, str], float] = defaultdict(float)
    for name, kind, units in charges:
        merged[(name, kind)] += units
    return [(name, kind, units) for (name, kind), units in merged.items()]
