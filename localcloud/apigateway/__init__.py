"""API Gateway REST APIs served over HTTP by the local cloud.

URL form (documented contract, also returned by the emulated deploy as an API's URL):

    {endpoint}/_aws/execute-api/{api_id}/{stage}/{resource path}

e.g. http://127.0.0.1:4566/_aws/execute-api/a1b2c3d4e5/dev/events. It is the
path-style form LocalStack also serves; the host-style form AWS uses
(https://{api_id}.execute-api.{region}.amazonaws.com/{stage}/) needs DNS the local
machine does not have.
"""

from __future__ import annotations

from typing import Any

MOUNT_PREFIX = "/_aws/execute-api"

__all__ = ["MOUNT_PREFIX", "install", "invoke_url"]


def invoke_url(endpoint: str, api_id: str, stage: str) -> str:
    """The invoke URL of `stage` of REST API `api_id` on the cloud at `endpoint`, ending "/"."""
    if not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"endpoint {endpoint!r} must be an http(s) URL")
    if not api_id or "/" in api_id:
        raise ValueError(f"api_id {api_id!r} must be a non-empty id without '/'")
    if not stage or "/" in stage:
        raise ValueError(f"stage {stage!r} must be a non-empty stage name without '/'")
    return f"{endpoint.rstrip('/')}{MOUNT_PREFIX}/{api_id}/{stage}/"


def install(cloud: Any) -> None:
    """Serve deployed stages under MOUNT_PREFIX on `cloud` (a localcloud.server.LocalCloud)."""
    from localcloud.apigateway.app import ExecuteApi

    cloud.mount(MOUNT_PREFIX, ExecuteApi(cloud))
