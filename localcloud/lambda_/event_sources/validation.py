"""What Lambda and EventBridge refuse at configuration time and moto accepts.

moto stores any event source mapping and any target RetryPolicy; AWS rejects
out-of-range values and an SQS mapping whose queue's visibility timeout is
shorter than the function's timeout, or whose function's execution role may not read the
source or send to the OnFailure destination (localcloud.lambda_.execution_role). An
interceptor answers those requests with the error AWS gives, before moto stores anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from localcloud.lambda_.execution_role import mapping_grant_error
from localcloud.lambda_.http_api import error_response
from localcloud.lambda_.types import InvalidParameterValue
from localcloud.moto_reach import lambda_ as lambda_reach
from localcloud.moto_reach import sqs as sqs_reach

logger = logging.getLogger(__name__)

MAPPINGS_PATH = "/2015-03-31/event-source-mappings"

# field -> (low, high, allowed outside the range)
MAPPING_RANGES: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "BatchSize": (1, 10_000, ()),
    "MaximumBatchingWindowInSeconds": (0, 300, ()),
    "MaximumRetryAttempts": (-1, 10_000, ()),
    "MaximumRecordAgeInSeconds": (60, 604_800, (-1,)),
    "ParallelizationFactor": (1, 10, ()),
}


def mapping_error(
    config: Mapping[str, Any], *, visibility_timeout: int | None, function_timeout: int | None
) -> str | None:
    """The InvalidParameterValueException message for a mapping AWS would refuse, else None."""
    for field, (low, high, extra) in MAPPING_RANGES.items():
        value = config.get(field)
        if value is None:
            continue
        if not isinstance(value, int) or (not low <= value <= high and value not in extra):
            return f"{field} {value!r} is out of range: it must be between {low} and {high}" + (
                f" or {extra[0]}" if extra else ""
            )
    concurrency = (config.get("ScalingConfig") or {}).get("MaximumConcurrency")
    if concurrency is not None and not (isinstance(concurrency, int) and 2 <= concurrency <= 1000):
        return f"MaximumConcurrency {concurrency!r} is out of range: it must be between 2 and 1000"
    source = str(config.get("EventSourceArn") or "")
    if source.startswith("arn:aws:sqs:"):
        batch = config.get("BatchSize")
        window = config.get("MaximumBatchingWindowInSeconds") or 0
        if isinstance(batch, int) and batch > 10 and window < 1:
            return (
                "Maximum batch window in seconds must be greater than 0 if maximum batch size "
                "is greater than 10"
            )
        if (
            visibility_timeout is not None
            and function_timeout is not None
            and visibility_timeout < function_timeout
        ):
            return (
                f"Queue visibility timeout: {visibility_timeout} seconds is less than "
                f"Function timeout: {function_timeout} seconds"
            )
    return None


def retry_policy_error(targets: list[Mapping[str, Any]]) -> str | None:
    """The ValidationException message for a PutTargets RetryPolicy out of range, else None."""
    for target in targets:
        policy = target.get("RetryPolicy") or {}
        retries = policy.get("MaximumRetryAttempts")
        age = policy.get("MaximumEventAgeInSeconds")
        if retries is not None and not 0 <= int(retries) <= 185:
            return (
                f"RetryPolicy.MaximumRetryAttempts {retries} of target {target.get('Id')} "
                "must be between 0 and 185"
            )
        if age is not None and not 60 <= int(age) <= 86_400:
            return (
                f"RetryPolicy.MaximumEventAgeInSeconds {age} of target {target.get('Id')} "
                "must be between 60 and 86400"
            )
    return None


def make_interceptor(cloud: Any) -> Callable[[Request], Response | None]:
    """An interceptor for `cloud`: refuses what AWS refuses, passes everything else to moto."""
    account, region = cloud.account_id, cloud.region

    def intercept(request: Request) -> Response | None:
        path = request.path or ""
        if path.startswith(MAPPINGS_PATH) and request.method in ("POST", "PUT"):
            try:
                body = json.loads(request.get_data() or b"{}")
            except ValueError:
                return None  # moto answers malformed JSON
            config = dict(body)
            if request.method == "PUT":
                uuid = path.rstrip("/").rsplit("/", 1)[-1]
                with cloud.lock:
                    stored = lambda_reach.stored_mapping(uuid, account, region)
                if stored is None:
                    return None  # moto answers the unknown UUID
                config = {**stored, **body}
            function = config.get("FunctionName") or config.get("FunctionArn")
            source = str(config.get("EventSourceArn") or "")
            with cloud.lock:
                function_timeout = lambda_reach.function_timeout(str(function), account, region)
                visibility = sqs_reach.queue_visibility_timeout(source, account, region)
                fn = lambda_reach.lambda_function(account, region, str(function))
                role = str(getattr(fn, "role", "") or "") if fn is not None else ""
            error = mapping_error(
                config, visibility_timeout=visibility, function_timeout=function_timeout
            )
            # Lambda checks the role when the mapping is made or repointed (a function or an
            # OnFailure destination), not on every update; judged outside the lock.
            checks_role = request.method == "POST" or {"FunctionName", "DestinationConfig"} & set(
                body
            )
            if error is None and role and checks_role and getattr(cloud, "iam", None) is not None:
                on_failure = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                    "Destination"
                )
                error = mapping_grant_error(cloud.iam, role, source, on_failure)
            return error_response(InvalidParameterValue(error)) if error else None
        if request.headers.get("X-Amz-Target") == "AWSEvents.PutTargets":
            try:
                targets = json.loads(request.get_data() or b"{}").get("Targets") or []
            except ValueError:
                return None
            error = retry_policy_error(targets)
            if error:
                return Response(
                    json.dumps({"__type": "ValidationException", "message": error}),
                    status=400,
                    content_type="application/x-amz-json-1.1",
                )
        return None

    return intercept
