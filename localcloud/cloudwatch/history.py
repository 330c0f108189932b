"""Alarm history (DescribeAlarmHistory), which moto does not keep or serve.

Items have AWS's shape: AlarmName, AlarmType, Timestamp, HistoryItemType
(ConfigurationUpdate | StateUpdate | Action), HistorySummary, and HistoryData as
a JSON string. Kept per (account, region) for the process lifetime, newest
last, bounded like AWS's two weeks by a count instead.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

MAX_ITEMS = 20_000
ITEM_TYPES = ("ConfigurationUpdate", "StateUpdate", "Action")


def iso(stamp: datetime) -> str:
    """CloudWatch's timestamp format in notifications and history: 2026-11-22T21:00:10.123+0000."""
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{stamp.microsecond // 1000:03d}+0000"
    )


class AlarmHistory:
    def __init__(self) -> None:
        self._items: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def record(
        self,
        account_id: str,
        region: str,
        alarm_name: str,
        item_type: str,
        summary: str,
        data: dict[str, Any],
        *,
        alarm_type: str = "MetricAlarm",
        timestamp: datetime | None = None,
    ) -> dict[str, Any]:
        if item_type not in ITEM_TYPES:
            raise ValueError(f"history item type {item_type!r} is not one of {ITEM_TYPES}")
        item = {
            "AlarmName": alarm_name,
            "AlarmType": alarm_type,
            "Timestamp": timestamp or datetime.now(UTC),
            "HistoryItemType": item_type,
            "HistorySummary": summary,
            "HistoryData": json.dumps(data),
        }
        with self._lock:
            self._items.setdefault((account_id, region), deque(maxlen=MAX_ITEMS)).append(item)
        return item

    def items(self, account_id: str, region: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items.get((account_id, region), ()))

    def describe(self, account_id: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """The DescribeAlarmHistory result for request `params` (AWS parameter names)."""
        items = self.items(account_id, region)
        name = params.get("AlarmName")
        if name:
            items = [i for i in items if i["AlarmName"] == name]
        item_type = params.get("HistoryItemType")
        if item_type:
            items = [i for i in items if i["HistoryItemType"] == item_type]
        types = params.get("AlarmTypes")
        if types:
            items = [i for i in items if i["AlarmType"] in types]
        start, end = _aware(params.get("StartDate")), _aware(params.get("EndDate"))
        if start is not None:
            items = [i for i in items if i["Timestamp"] >= start]
        if end is not None:
            items = [i for i in items if i["Timestamp"] <= end]
        # AWS's default order is newest first (ScanBy TimestampDescending).
        if params.get("ScanBy", "TimestampDescending") != "TimestampAscending":
            items = list(reversed(items))
        offset = int(params.get("NextToken") or 0)
        limit = int(params.get("MaxRecords") or 100)
        page = items[offset : offset + limit]
        result: dict[str, Any] = {"AlarmHistoryItems": page}
        if offset + limit < len(items):
            result["NextToken"] = str(offset + limit)
        return result


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
