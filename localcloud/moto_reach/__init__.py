"""Every reach into moto's internals, in one package (moto is pinned ==5.2.5), filed by the
moto service it reaches: `core` (moto's server and config, and the cloud the patches route
to), `lambda_`, `sns`, `sqs`, `stepfunctions`, `events`, `cloudwatch`, `logs`, `dynamodb`,
`apigateway`.

This module only installs them: the patches that a request for a service needs go in on
the first such request (`ensure_patched`); CloudWatch's (`cloudwatch.patch_moto`) go in
when its extension installs, EventBridge's rule dispatcher when its delivery starts. Each
function has a test (tests/local/test_moto_reach.py, tests/unit/localcloud/test_es_moto_reach.py,
tests/unit/localcloud/test_alarm_moto.py) that fails loudly when a moto upgrade moves what
it relies on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from localcloud.moto_reach import lambda_, sns, stepfunctions

logger = logging.getLogger(__name__)

__all__ = ["ensure_patched", "install_all_patches"]

# Signing name of a request -> the patch that must be in place before moto answers it.
# The patches import moto's service models, which is slow (Step Functions' ASL parser alone
# takes 0.5-3 s), so each installs on the first request for its service, not at start-up. A
# background thread was tried: its imports held the GIL long enough to slow the first
# requests by seconds. Lambda's invoke patch comes first: every moto-internal invoke needs a
# function, made by a "lambda" request, and SNS / S3 / EventBridge reach Lambda only after.
_PATCHES: dict[str, Callable[[], None]] = {
    "lambda": lambda_.patch_moto,
    "sns": sns.patch_moto,
    "states": stepfunctions.patch_moto,
}
_installed: set[str] = set()
_patch_lock = threading.RLock()


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
