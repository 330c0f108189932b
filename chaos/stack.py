"""A deployed stack as the chaos package sees it: its outputs and clients that reach it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from chaos.errors import (
    AwsCallError,
    MissingOutputError,
    NotChaosEnabledError,
    UnknownStackError,
    UnreachableError,
    aws_call,
)
from components import outputs as keys

logger = logging.getLogger(__name__)

LOCAL_STATE_DIR = ".localcloud"
POOL_CONNECTIONS = 32  # HTTP connections per client: at least drive()'s threads
# The local cloud accepts any credentials; these are used only when an endpoint is set and none are.
_TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class Stack:
    name: str
    outputs: dict[str, Any]
    endpoint: str | None = None
    region: str = "us-east-1"
    source: str = ""  # where the outputs came from, for error messages and reports
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str) -> Any:
        """A cached boto3 client; boto3 clients are thread-safe once created, sessions are not."""
        with self._lock:
            if service not in self._clients:
                kwargs: dict[str, Any] = {
                    "region_name": self.region,
                    # Traffic drivers send from up to 32 threads on one client; botocore's default
                    # pool of 10 would discard (and re-open) connections under that.
                    "config": Config(retries={"mode": "standard", "max_attempts": 5},
                                     max_pool_connections=POOL_CONNECTIONS),
                }
                if self.endpoint:
                    kwargs["endpoint_url"] = self.endpoint
                    if not boto3.Session().get_credentials():
                        kwargs.update(_TEST_CREDENTIALS)
                self._clients[service] = boto3.session.Session().client(service, **kwargs)
            return self._clients[service]

    def get(self, path: str) -> Any:
        """Output at a dotted path, e.g. "queue_worker.function.name"; names the missing part."""
        node: Any = self.outputs
        walked: list[str] = []
        for part in path.split("."):
            walked.append(part)
            if not isinstance(node, dict) or part not in node:
                raise MissingOutputError(
                    f"stack {self.name!r} ({self.source}) has no output {'.'.join(walked)!r}"
                    f" (needed: {path!r})"
                )
            node = node[part]
        return node

    @property
    def chaos_enabled(self) -> bool:
        return bool(self.outputs.get(keys.CHAOS_ENABLED, False))

    def require_chaos_enabled(self, force: bool = False) -> None:
        if self.chaos_enabled:
            return
        if force:
            logger.warning(
                "stack %s is not chaos-enabled; going ahead because of --force", self.name
            )
            return
        raise NotChaosEnabledError(
            f"stack {self.name!r} is not marked chaos-enabled (output {keys.CHAOS_ENABLED!r} is not"
            " true); set it in the stack config or pass --force"
        )

    def check_reachable(self) -> None:
        """Fail early with a clear message when credentials or the endpoint cannot reach AWS."""
        where = self.endpoint or "AWS"
        try:
            with aws_call(f"stack {self.name} at {where}", "sts:GetCallerIdentity"):
                self.client("sts").get_caller_identity()
        except AwsCallError as exc:  # e.g. InvalidClientTokenId, ExpiredToken
            raise UnreachableError(
                f"stack {self.name!r}: credentials rejected by {where}: {exc}"
            ) from exc


def _local_endpoint(state: dict[str, Any]) -> str | None:
    return (
        os.environ.get("CHAOS_ENDPOINT_URL")
        or os.environ.get("AWS_ENDPOINT_URL")
        or state.get("endpoint")
    )


def load_stack(name: str, *, root: Path | str = ".", endpoint: str | None = None) -> Stack:
    """Outputs from `.localcloud/<name>/state.json` (emulated deploy) or `pulumi stack output`."""
    if not name or "/" in name or name.startswith("."):
        raise UnknownStackError(f"invalid stack name {name!r}")
    state_file = Path(root) / LOCAL_STATE_DIR / name / "state.json"
    if state_file.exists():
        try:
            state = json.loads(state_file.read_text())
        except json.JSONDecodeError as exc:
            raise MissingOutputError(f"{state_file}: not valid JSON: {exc}") from exc
        outputs = state.get("outputs")
        if not isinstance(outputs, dict) or not outputs:
            raise MissingOutputError(f"{state_file} has no 'outputs' (was `up` run to the end?)")
        return Stack(
            name=name,
            outputs=outputs,
            endpoint=endpoint or _local_endpoint(state),
            region=str(outputs.get(keys.REGION) or "us-east-1"),
            source=str(state_file),
        )
    if shutil.which("pulumi"):
        return _load_from_pulumi(name, endpoint)
    known = sorted(p.parent.name for p in (Path(root) / LOCAL_STATE_DIR).glob("*/state.json"))
    raise UnknownStackError(
        f"unknown stack {name!r}: no {state_file} and no Pulumi CLI on PATH"
        f" (local stacks here: {', '.join(known) or 'none'};"
        f" deploy one with `python -m localcloud up --stack {name}`)"
    )


def _load_from_pulumi(name: str, endpoint: str | None) -> Stack:
    proc = subprocess.run(
        ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise UnknownStackError(
            f"`pulumi stack output --stack {name}` failed: {proc.stderr.strip()}"
        )
    outputs = json.loads(proc.stdout or "{}")
    if not outputs:
        raise MissingOutputError(f"stack {name!r} has no outputs (was `pulumi up` run?)")
    return Stack(
        name=name,
        outputs=outputs,
        endpoint=endpoint or os.environ.get("CHAOS_ENDPOINT_URL"),
        region=str(outputs.get(keys.REGION) or os.environ.get("AWS_REGION") or "us-east-1"),
        source=f"pulumi stack output --stack {name}",
    )
