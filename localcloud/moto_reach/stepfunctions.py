"""Reaches into moto's Step Functions parser (moto.stepfunctions.parser, pinned ==5.2.5).

tests/local/test_moto_reach.py fails loudly when a moto upgrade moves one of them.
"""

from __future__ import annotations

import threading
from typing import Any

from localcloud.moto_reach.core import ORIGINALS, active_cloud


def patch_moto() -> None:
    """Installed on the first Step Functions request (see localcloud.moto_reach.ensure_patched)."""
    _patch_stepfunctions_client()
    _patch_stepfunctions_execution_name()


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
