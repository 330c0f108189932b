"""Metric emission into the local cloud's CloudWatch (moto's in-process backend).

The Lambda runtime, event sources and queue samplers call `emit` with the
namespace, name and dimensions AWS uses, so GetMetricStatistics /
GetMetricData and alarm evaluation read them like AWS-published metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from localcloud.moto_reach import cloudwatch as cloudwatch_reach
from localcloud.moto_reach.core import DEFAULT_ACCOUNT_ID

logger = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"


def emit(
    namespace: str,
    name: str,
    value: float,
    dimensions: Mapping[str, str],
    *,
    unit: str = "Count",
    timestamp: datetime | None = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
    region: str = DEFAULT_REGION,
) -> None:
    """Record one datapoint, as CloudWatch would receive it from the service."""
    stamp = timestamp or datetime.now(UTC)
    if stamp.tzinfo is not None:
        # moto keeps naive UTC timestamps (as its API parser makes them); an aware one
        # makes GetMetricStatistics raise on comparison.
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    datum = {
        "MetricName": name,
        "Value": float(value),
        "Unit": unit,
        "Timestamp": stamp,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }
    cloudwatch_reach.put_metric_data(account_id, region, namespace, [datum])


def ingest_log_line(function_name: str, line: str) -> int:
    """Turn one Embedded Metric Format log line into metrics, as CloudWatch Logs does.

    The Lambda runtime calls this for every line a function prints. Returns the
    number of datapoints emitted (0 for a line that is not EMF).
    """
    # A cheap prefilter: most log lines are not EMF, and json.loads costs more.
    if '"_aws"' not in line:
        return 0
    import json

    try:
        doc = json.loads(line)
    except ValueError:
        return 0
    meta = doc.get("_aws") if isinstance(doc, dict) else None
    if not isinstance(meta, dict):
        return 0
    emitted = 0
    stamp_ms = meta.get("Timestamp")
    timestamp = (
        datetime.fromtimestamp(stamp_ms / 1000, UTC) if isinstance(stamp_ms, (int, float)) else None
    )
    for directive in meta.get("CloudWatchMetrics", []):
        namespace = directive.get("Namespace")
        if not namespace:
            logger.warning("EMF directive without Namespace from %s", function_name)
            continue
        for dimension_set in directive.get("Dimensions", []) or [[]]:
            dims = {key: str(doc[key]) for key in dimension_set if key in doc}
            for metric in directive.get("Metrics", []):
                name = metric.get("Name")
                values = doc.get(name)
                if name is None or values is None:
                    continue
                for value in values if isinstance(values, list) else [values]:
                    emit(
                        namespace,
                        name,
                        float(value),
                        dims,
                        unit=metric.get("Unit", "None"),
                        timestamp=timestamp,
                    )
                    emitted += 1
    return emitted
