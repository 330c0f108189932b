"""Reaches into moto's Lambda backend (moto.awslambda, pinned ==5.2.5): invoke, event invoke
config, event source mappings.

tests/local/test_moto_reach.py and tests/unit/localcloud/test_es_moto_reach.py fail loudly
when a moto upgrade moves one of them.
"""

from __future__ import annotations

from typing import Any

from localcloud.moto_reach.core import DEFAULT_ACCOUNT_ID, ORIGINALS, active_cloud


def patch_moto() -> None:
    """Installed on the first Lambda request (see localcloud.moto_reach.ensure_patched)."""
    _patch_lambda_invoke()


def _patch_lambda_invoke() -> None:
    """moto's services invoke Lambda by calling `LambdaFunction.invoke` (EventBridge, S3, ...).

    moto would answer "error running docker"; the local runtime runs the code
    instead. These callers are AWS services that invoke asynchronously, and they
    run inside a moto request (under the cloud lock), so the event is queued.
    """
    from moto.awslambda.models import LambdaFunction

    ORIGINALS["lambda_function_invoke"] = LambdaFunction.invoke

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        cloud = active_cloud()
        if cloud is None or cloud.lambdas is None:
            raise RuntimeError("moto invoked a Lambda function with no local cloud running")
        payload = body if isinstance(body, bytes) else str(body or "{}").encode()
        cloud.lambdas.invoke(self.function_arn, payload, invocation_type="Event")
        response_headers["status_code"] = 202
        return b""

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    _patch_lambda_event_invoke_config()


def _patch_lambda_event_invoke_config() -> None:
    """PutFunctionEventInvokeConfig replaces a function's config, Update merges into it.

    AWS: "If a configuration already exists ... this operation overwrites it. If you exclude
    any settings, they are removed." moto appends each put to a list and answers with the
    first, so a deploy that drops an OnFailure destination or changes MaximumRetryAttempts
    left the old settings in force (and a preflight read them back as if deployed).
    """
    from moto.awslambda.models import EventInvokeConfig, LambdaBackend

    ORIGINALS["lambda_put_event_invoke_config"] = LambdaBackend.put_function_event_invoke_config

    def put(self: Any, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
        fn = self.get_function(function_name)
        event_config = EventInvokeConfig(fn.function_arn, fn.last_modified, config)
        fn.event_invoke_config = [event_config]
        return event_config.response()

    def update(self: Any, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
        fn = self.get_function(function_name)
        current = dict(fn.event_invoke_config[0].config) if fn.event_invoke_config else {}
        return put(self, function_name, {**current, **config})

    LambdaBackend.put_function_event_invoke_config = put  # type: ignore[method-assign]
    LambdaBackend.update_function_event_invoke_config = update  # type: ignore[method-assign]


def lambda_function(
    account_id: str, region: str, name_or_arn: str, qualifier: str | None = None
) -> Any | None:
    """moto's LambdaFunction for a name, ARN or partial ARN, or None if it does not exist."""
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import lambda_backends

    backend = lambda_backends[account_id][region]
    try:
        return backend.get_function(name_or_arn, qualifier)
    except LambdaClientError:
        return None


def event_invoke_config(fn: Any) -> dict[str, Any]:
    """The function's PutFunctionEventInvokeConfig settings (moto stores, never acts on them)."""
    configs = getattr(fn, "event_invoke_config", None) or []
    return dict(configs[0].config) if configs else {}


class _NoSendTimeMappings:
    """A data descriptor that hides moto's per-queue/per-stream mapping dict.

    moto invokes mapped functions inside SendMessage / PutRecord (and answers 500
    when that fails). Lambda polls instead, so the pollers in
    localcloud.lambda_.event_sources own delivery; writes land in a throwaway dict and
    reads see none. The mappings themselves stay in the Lambda backend.
    """

    def __get__(self, obj: object, objtype: type | None = None) -> dict[str, Any]:
        return {}

    def __set__(self, obj: object, value: object) -> None:
        # moto's __init__ assigns {} here; nothing to keep.
        return None


def disable_send_time_mapping_invocation() -> None:
    """Stop moto from invoking SQS/Kinesis-mapped functions at send time. Idempotent."""
    from moto.kinesis.models import Stream
    from moto.sqs.models import Queue

    for cls in (Queue, Stream):
        if not isinstance(cls.__dict__.get("lambda_event_source_mappings"), _NoSendTimeMappings):
            cls.lambda_event_source_mappings = _NoSendTimeMappings()  # type: ignore[assignment]


def list_event_source_mappings(
    account_id: str = DEFAULT_ACCOUNT_ID, region: str = "us-east-1"
) -> list[dict[str, Any]]:
    """Every mapping in moto's Lambda backend, as GetEventSourceMapping would answer it."""
    from moto.awslambda.models import lambda_backends

    backend = lambda_backends[account_id][region]
    # Copy first: the API thread may add or remove mappings while we read.
    mappings = list(backend._event_source_mappings.values())
    return [m.get_configuration() for m in mappings]


def function_timeout(name_or_arn: str, account_id: str, region: str) -> int | None:
    """A function's configured Timeout (seconds), or None if moto has no such function."""
    from moto.awslambda.models import lambda_backends

    try:
        return int(lambda_backends[account_id][region].get_function(name_or_arn).timeout)
    except Exception:  # moto raises several "not found" types
        return None


def stored_mapping(uuid: str, account_id: str, region: str) -> dict[str, Any] | None:
    """GetEventSourceMapping's answer for `uuid` from moto's backend, or None."""
    from moto.awslambda.models import lambda_backends

    mapping = lambda_backends[account_id][region]._event_source_mappings.get(uuid)
    return None if mapping is None else mapping.get_configuration()
