"""Metric emission into the local cloud's CloudWatch (moto's in-process backend).

The Lambda runtime, event sources and queue samplers call `emit` with the
namespace, name and dimensions AWS uses, so GetMetricStatistics /
GetMetricData and alarm evaluation read them like AWS-published metrics.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone

from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID

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
    datum = {
        "MetricName": name,
        "Value": float(value),
        "Unit": unit,
        "Timestamp": timestamp or datetime.now(timezone.utc),
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }
    cloudwatch_backends[account_id][region].put_metric_data(namespace, [datum])
