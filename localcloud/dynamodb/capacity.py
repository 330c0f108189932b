"""DynamoDB item sizes and capacity units, from the wire JSON (AttributeValue) shape.

The rules of the DynamoDB developer guide: an item's size is the sum of its
attribute names' UTF-8 lengths and its values' sizes; 1 WCU writes up to 1 KB,
1 RCU reads up to 4 KB strongly consistent (half for eventually consistent);
transactions cost double; Query and Scan round the summed size once.
Hand-written: boto3 has no size calculator and moto's needs its own item objects.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping
from typing import Any

from localcloud.errors import LocalCloudError

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


class ItemSizeError(LocalCloudError, ValueError):
    """An AttributeValue that is not in the DynamoDB wire shape."""


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one AttributeValue, e.g. {"S": "abc"} -> 3."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ItemSizeError(f"AttributeValue must have exactly one type key, got {value!r}")
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(str(raw).encode("utf-8"))
    if kind == "N":
        return _number_size(str(raw))
    if kind == "B":
        return _binary_size(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode("utf-8")) for v in raw)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in raw)
    if kind == "BS":
        return sum(_binary_size(v) for v in raw)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in raw)
    if kind == "M":
        return 3 + sum(len(str(k).encode("utf-8")) + value_size(v) + 1 for k, v in raw.items())
    raise ItemSizeError(f"unknown AttributeValue type {kind!r}")


def _number_size(text: str) -> int:
    # "approximately (number of significant digits / 2) + 1 bytes"
    digits = text.lstrip("+-").replace(".", "").lstrip("0") or "0"
    if "e" in digits.lower():
        digits = digits.lower().split("e")[0]
    return math.ceil(len(digits.rstrip("0") or "0") / 2) + 1


def _binary_size(raw: Any) -> int:
    if isinstance(raw, (bytes, bytearray)):
        return len(raw)
    try:
        return len(base64.b64decode(str(raw), validate=False))
    except (ValueError, TypeError):
        return len(str(raw))


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def write_units(size: int, *, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return float(units * (2 if transactional else 1))


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return float(units * 2)
    return float(units) if consistent else units / 2.0


def scan_units(items: Iterable[Mapping[str, Mapping[str, Any]]], *, consistent: bool) -> float:
    """Query / Scan: the summed size of the items read, rounded up once."""
    return read_units(sum(item_size(i) for i in items), consistent=consistent)
