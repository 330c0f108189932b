"""Event source mappings for the local cloud: SQS and Kinesis pollers with Lambda's semantics.

`install(cloud)` is listed in localcloud/extensions.py; it registers one
`EventSourceService` with the cloud and an observer that wakes it.
"""

from __future__ import annotations

import logging
from typing import Any

from .base import Invocation, MappingSpec, endpoint_client_factory, invoke_sync, time_scale_of
from .exceptions import EventSourceError, MappingConfigError
from .kinesis import process_batch
from .kinesis_poller import KinesisMappingRunner
from .service import EventSourceService
from .sqs import SqsMappingRunner, failed_message_ids, sqs_record

__all__ = [
    "EventSourceError",
    "EventSourceService",
    "Invocation",
    "KinesisMappingRunner",
    "MappingConfigError",
    "MappingSpec",
    "SqsMappingRunner",
    "failed_message_ids",
    "install",
    "invoke_sync",
    "process_batch",
    "sqs_record",
]

logger = logging.getLogger(__name__)


def install(cloud: Any) -> EventSourceService:
    """Poll every mapping of `cloud` through its endpoint and invoke through `cloud.lambdas`."""
    from localcloud.cloudwatch import metrics
    from localcloud.lambda_.execution_role import role_allows
    from localcloud.moto_reach import lambda_ as lambda_reach

    def emit_metric(*args: Any, **kwargs: Any) -> None:
        # moto's CloudWatch backend is shared with API threads: write under the cloud's lock.
        with cloud.lock:
            metrics.emit(*args, **kwargs)

    def authorize(function_arn: str, action: str, resource: str) -> bool:
        # The role is read under the lock, judged outside it (judging may call the cloud).
        with cloud.lock:
            fn = lambda_reach.lambda_function(cloud.account_id, cloud.region, function_arn)
            role = str(getattr(fn, "role", "") or "") if fn is not None else ""
        return role_allows(cloud, role, action, resource)

    service = EventSourceService(
        invoke=cloud.lambdas.invoke,
        clients=endpoint_client_factory(cloud.endpoint, transport=cloud.transport),
        time_scale=time_scale_of(cloud),
        emit_metric=emit_metric,
        authorize=authorize,
    )
    from .validation import make_interceptor

    cloud.add_interceptor(make_interceptor(cloud))
    cloud.add_observer(service.observe)
    cloud.add_service(service)
    cloud.event_sources = service
    return service
