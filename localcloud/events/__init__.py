"""EventBridge on the local cloud: rules' targets delivered asynchronously with the target's
RetryPolicy and DLQ (localcloud/events/targets.py); moto builds and matches the events.

`install(cloud)` is listed in localcloud/extensions.py.
"""

from __future__ import annotations

import functools
from typing import Any

from localcloud.events.targets import PRINCIPAL, DeliveryError, EventBridgeDelivery
from localcloud.lambda_.event_sources.base import endpoint_client_factory, time_scale_of

__all__ = ["PRINCIPAL", "DeliveryError", "EventBridgeDelivery", "install"]


def install(cloud: Any) -> EventBridgeDelivery:
    """Take over EventBridge target delivery for `cloud` (listed in localcloud/extensions.py)."""
    from localcloud.cloudwatch import metrics

    def emit_metric(*args: Any, **kwargs: Any) -> None:
        with cloud.lock:  # moto's CloudWatch backend is shared with the API threads
            metrics.emit(*args, **kwargs)

    delivery = EventBridgeDelivery(
        clients=endpoint_client_factory(cloud.endpoint, attempts=1, transport=cloud.transport),
        invoke=functools.partial(cloud.lambdas.invoke_as, PRINCIPAL),
        time_scale=time_scale_of(cloud),
        emit_metric=emit_metric,
    )
    cloud.add_service(delivery)
    cloud.eventbridge = delivery
    return delivery
