"""Every reach into moto's internals, in one package (moto is pinned ==5.2.5).

This module holds the core's reaches (Lambda invoke, SNS, Step Functions, server
switches); `event_sources` holds those of the SQS/Kinesis pollers and EventBridge,
`cloudwatch` those of metrics, alarms, API Gateway and DynamoDB capacity. Each
function has a test (tests/local/test_moto_reach.py,
tests/unit/localcloud/test_es_moto_reach.py, tests/unit/localcloud/test_alarm_moto.py)
that fails loudly when a moto upgrade moves what it relies on.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

logger = logging.getLogger(__name__)

_active: list[LocalCloud] = []
# moto's own functions that the patches replace, kept for the upgrade tests.
ORIGINALS: dict[str, Any] = {}
_patch_lock = threading.RLock()


def moto_version() -> str:
    import moto

    return str(moto.__version__)


def request_handler_class() -> type:
    """moto's request handler: it keeps headers with underscores (S3 metadata) intact."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return MotoRequestHandler


def moto_wsgi_app() -> Any:
    """moto's own server app: dispatches by the signed service name to each backend."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def configure_moto_before_backends() -> None:
    """Settings moto reads when it first builds a backend, so set them before any request.

    - IAM managed policies (arn:aws:iam::aws:policy/...) load, so roles can attach them.
    - Step Functions executes definitions (moto's parser backend) instead of only storing them.
    """
    from moto.core.config import default_user_config

    default_user_config.setdefault("iam", {})["load_aws_managed_policies"] = True
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True


def active_cloud() -> LocalCloud | None:
    return _active[-1] if _active else None


def activate(cloud: LocalCloud) -> None:
    """Route moto-internal paths (Lambda invoke, SNS -> Lambda, Step Functions) to `cloud`.

    The patches import moto's service models, which is slow (Step Functions' ASL
    parser alone takes 0.5-3 s), so each installs on the first request for its
    service (`ensure_patched`), not at start-up. A background thread was tried: its
    imports held the GIL long enough to slow the first requests by seconds.
    """
    _active.append(cloud)


def deactivate(cloud: LocalCloud) -> None:
    if cloud in _active:
        _active.remove(cloud)


def _patch_stepfunctions() -> None:
    _patch_stepfunctions_client()
    _patch_stepfunctions_execution_name()


# Signing name of a request -> the patch that must be in place before moto answers it.
# Lambda's invoke patch comes first: every moto-internal invoke needs a function, made by a
# "lambda" request, and SNS / S3 / EventBridge reach Lambda only after that.
_PATCHES: dict[str, Any] = {}
_installed: set[str] = set()


def ensure_patched(service: str) -> None:
    """Install the patch a request for `service` needs (no-op when done or not needed)."""
    if service not in _PATCHES or service in _installed:
        return
    with _patch_lock:
        if service not in _installed:
            _PATCHES[service]()
            _installed.add(service)


def install_all_patches() -> None:
    for service in list(_PATCHES):
        try:
            ensure_patched(service)
        except Exception:
            logger.exception("patching moto for %s failed", service)


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


def _patch_sns_lambda_subscription() -> None:
    """SNS -> Lambda: moto sends a canned envelope synchronously; the local cloud delivers
    the real envelope asynchronously, with retries and the subscription's redrive policy.
    SNS -> SQS: moto delivers, but only when the queue policy grants sns.amazonaws.com for
    the topic, as on AWS; otherwise the notification goes to the subscription's DLQ.

    moto's filter policy check and message-structure handling are kept (they run first).
    """
    from moto.sns.models import Subscription

    original = Subscription.publish
    ORIGINALS["sns_subscription_publish"] = original

    def publish(
        self: Any,
        message: str,
        message_id: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> None:
        # Only under a running local cloud: the patch outlives it in this process, and plain
        # moto (mock_aws) keeps its own behaviour there.
        if (
            self.protocol == "sqs"
            and active_cloud() is not None
            and not _sqs_endpoint_allows_sns(self, message_attributes, message)
        ):
            _sqs_subscription_dead_letter(self, message, message_id, subject, message_attributes)
            return None
        if self.protocol != "lambda":
            return original(
                self,
                message,
                message_id,
                subject,
                message_attributes,
                group_id,
                deduplication_id,
                message_structure,
            )
        if self._filter_policy_matcher is not None and not self._filter_policy_matcher.matches(
            message_attributes, message
        ):
            return None
        if message_structure == "json":
            message = self._parse_message_structure(message, self.protocol)
        cloud = active_cloud()
        if cloud is None or cloud.sns is None:
            raise RuntimeError("SNS published to Lambda with no local cloud running")
        cloud.sns.deliver(
            subscription_arn=self.arn,
            topic_arn=self.topic.arn,
            endpoint=self.endpoint,
            attributes=dict(self.attributes),
            message=message,
            message_id=message_id,
            subject=subject,
            message_attributes=message_attributes or {},
        )
        return None

    Subscription.publish = publish  # type: ignore[method-assign]


def _sqs_queue(account: str, arn: str) -> Any:
    from moto.sqs.models import sqs_backends

    parts = arn.split(":")
    backend = sqs_backends[parts[4] if len(parts) > 4 and parts[4] else account][parts[3]]
    return backend.queues.get(parts[-1])


def _queue_grants_sns(queue: Any, topic_arn: str) -> bool:
    import json

    from localcloud.resource_policy import SEND_MESSAGE, allows, statements_of

    policy = queue.policy if isinstance(queue.policy, str) else json.dumps(queue.policy or {})
    return allows(
        statements_of(policy or None),
        "sns.amazonaws.com",
        SEND_MESSAGE,
        source_arn=topic_arn,
        source_account=topic_arn.split(":")[4],
    )


def _sqs_endpoint_allows_sns(sub: Any, message_attributes: Any, message: str) -> bool:
    """SNS -> SQS needs the queue policy's grant to sns.amazonaws.com for this topic (moto
    delivers without looking). A message the filter policy drops is no delivery at all."""
    if sub._filter_policy_matcher is not None and not sub._filter_policy_matcher.matches(
        message_attributes, message
    ):
        return True  # moto's own publish drops it
    queue = _sqs_queue(sub.account_id, sub.endpoint)
    return queue is None or _queue_grants_sns(queue, sub.topic.arn)


def _sqs_subscription_dead_letter(
    sub: Any, message: str, message_id: str, subject: str | None, attributes: Any
) -> None:
    """AccessDenied on the endpoint is a client error: SNS does not retry it and sends the
    notification to the subscription's redrive DLQ, if it has one and may write there."""
    import json

    redrive = json.loads(sub.attributes.get("RedrivePolicy") or "{}")
    target = redrive.get("deadLetterTargetArn")
    dlq = _sqs_queue(sub.account_id, target) if target else None
    if dlq is None or not _queue_grants_sns(dlq, sub.topic.arn):
        logger.warning(
            "SNS may not send to %s and has no DLQ it may write to (%s): message dropped",
            sub.endpoint,
            target,
        )
        return
    from moto.sqs.models import sqs_backends

    body = sub.get_post_data(message, message_id, subject, message_attributes=attributes)
    parts = target.split(":")
    sqs_backends[parts[4]][parts[3]].send_message(parts[5], json.dumps(body))


def _patch_stepfunctions_client() -> None:
    """moto's Step Functions parser calls services with boto3 on localhost:$MOTO_PORT;
    point it at the local cloud's endpoint instead, so Lambda tasks reach the runtime."""
    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.utils import boto_client

    clients: dict[tuple[str, str, str], Any] = {}
    clients_lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        cloud = active_cloud()
        if cloud is None:
            raise RuntimeError("a state machine ran with no local cloud running")
        # One client per service: building a boto3 client costs ~0.1 s, once per task state.
        key = (cloud.endpoint, region, service)
        with clients_lock:
            if key not in clients:
                clients[key] = _sfn_client(cloud.endpoint, region, service)
            return clients[key]

    def _sfn_client(endpoint: str, region: str, service: str) -> Any:
        return boto3.session.Session().client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=60,
                read_timeout=960,
            ),
        )

    boto_client.boto_client_for = boto_client_for
    # Modules that imported the name before the patch hold their own reference.
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    lambda_eval_utils.boto_client_for = boto_client_for
    _rebind_everywhere("boto_client_for", boto_client_for)


def _patch_stepfunctions_execution_name() -> None:
    """An execution started without a name gets a UUID, as on AWS; moto's parser names it
    "None", so the second unnamed execution of a machine fails with ExecutionAlreadyExists."""
    import uuid

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution
    ORIGINALS["sfn_parser_start_execution"] = original

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: Any = None,
        trace_header: Any = None,
    ) -> Any:
        return original(
            self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
        )

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


def _rebind_everywhere(name: str, replacement: Any) -> None:
    import sys

    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("moto.stepfunctions.parser") and hasattr(module, name):
            setattr(module, name, replacement)


# ---- reads of moto state (call with cloud.lock held) -----------------------------------
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


def sqs_queue_wait_seconds(account_id: str, region: str, queue_url: str) -> int | None:
    """A queue's ReceiveMessageWaitTimeSeconds, or None if the queue does not exist."""
    from moto.sqs.models import sqs_backends

    name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    queue = sqs_backends[account_id][region].queues.get(name)
    return (
        None if queue is None else int(getattr(queue, "receive_message_wait_time_seconds", 0) or 0)
    )


def put_log_lines(
    account_id: str, region: str, group: str, stream: str, lines: list[tuple[int, str]]
) -> None:
    """Append (timestamp_ms, message) events to CloudWatch Logs, creating group and stream."""
    from moto.logs.models import logs_backends

    backend = logs_backends[account_id][region]
    if group not in backend.groups:
        backend.create_log_group(group, {})
    log_group = backend.groups[group]
    if stream not in log_group.streams:
        backend.create_log_stream(group, stream)
    backend.put_log_events(group, stream, [{"timestamp": t, "message": m} for t, m in lines])


_PATCHES.update(
    {
        "lambda": _patch_lambda_invoke,
        "sns": _patch_sns_lambda_subscription,
        "states": _patch_stepfunctions,
    }
)
