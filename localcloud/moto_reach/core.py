"""Reaches into moto's core and server (moto is pinned ==5.2.5), and which cloud the patches
of the other reach modules route to.

tests/local/test_moto_reach.py fails loudly when a moto upgrade moves one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.core import DEFAULT_ACCOUNT_ID

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

__all__ = [
    "DEFAULT_ACCOUNT_ID",  # moto's account when a request names none
    "ORIGINALS",
    "activate",
    "active_cloud",
    "configure_moto_before_backends",
    "deactivate",
    "moto_version",
    "moto_wsgi_app",
    "request_handler_class",
]

_active: list[LocalCloud] = []
# moto's own functions that the patches replace, kept for the upgrade tests.
ORIGINALS: dict[str, Any] = {}


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

    The patches that do so install on the first request for their service
    (localcloud.moto_reach.ensure_patched), not here.
    """
    _active.append(cloud)


def deactivate(cloud: LocalCloud) -> None:
    if cloud in _active:
        _active.remove(cloud)
