"""DynamoDB capacity on the local cloud: provisioned throttling with burst credit, on-demand limits.

`install(cloud)` (listed in localcloud/extensions.py) adds the capacity
interceptor and observer and the AWS/DynamoDB metric flusher to a LocalCloud.
"""

from __future__ import annotations

from typing import Any

from localcloud.dynamodb.capacity import item_size, read_units, write_units
from localcloud.dynamodb.limits import TableLimits
from localcloud.dynamodb.throttle import DynamoDbCapacity

__all__ = ["DynamoDbCapacity", "TableLimits", "install", "item_size", "read_units", "write_units"]


def install(cloud: Any) -> DynamoDbCapacity:
    service = DynamoDbCapacity(cloud)
    cloud.add_interceptor(service.intercept)
    cloud.add_observer(service.observe)
    cloud.add_service(service)
    cloud.dynamodb_capacity = service
    return service
