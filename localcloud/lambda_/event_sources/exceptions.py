"""Errors of the event sources."""

from __future__ import annotations

from localcloud.errors import LocalCloudError


class EventSourceError(LocalCloudError):
    """Base of every event-source error."""


class MappingConfigError(EventSourceError):
    """A mapping setting the poller cannot honour; names the mapping and the field."""

    def __init__(self, uuid: str, field: str, value: object, reason: str) -> None:
        super().__init__(f"event source mapping {uuid}: {field}={value!r}: {reason}")
        self.uuid = uuid
        self.field = field
        self.value = value
