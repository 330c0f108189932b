"""A deployed stack as the chaos package sees it: its outputs and clients that reach it."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from chaos.errors import (
    AwsCallError,
    IdentityMismatchError,
    MissingOutputError,
    NotChaosEnabledError,
    UnknownStackError,
    UnreachableError,
    aws_call,
)
from chaos.types import StackIdentity
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
    _account: str | None = field(default=None, repr=False)

    def client(self, service: str) -> Any:
        """A cached boto3 client; boto3 clients are thread-safe once created, sessions are not."""
        with self._lock:
            if service not in self._clients:
                kwargs: dict[str, Any] = {
                    "region_name": self.region,
                    # Traffic drivers send from up to 32 threads on one client; botocore's default
                    # pool of 10 would discard (and re-open) connections under that.
                    "config": Config(
                        retries={"mode": "standard", "max_attempts": 5},
                        max_pool_connections=POOL_CONNECTIONS,
                    ),
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

    def caller_account(self) -> str:
        """The account the credentials reach at this endpoint (sts:GetCallerIdentity)."""
        if self._account is None:
            where = self.endpoint or "AWS"
            with aws_call(f"stack {self.name} at {where}", "sts:GetCallerIdentity"):
                self._account = str(self.client("sts").get_caller_identity()["Account"])
        return self._account

    def identity(self) -> StackIdentity:
        """Name, endpoint, account and region: what the journal stores with each change."""
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "account": self.caller_account(),
            "region": self.region,
        }

    def arns(self) -> list[str]:
        """Every ARN among the outputs, found by walking them (their shapes differ by pattern)."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
            elif isinstance(node, str) and node.startswith("arn:"):
                found.append(node)

        walk(self.outputs)
        return found

    def function_names(self) -> list[str]:
        """The stack's Lambda functions, from the function ARNs among its outputs."""
        names = {
            arn.split(":")[6]
            for arn in self.arns()
            if arn.split(":")[2:3] == ["lambda"] and arn.split(":")[5:6] == ["function"]
        }
        return sorted(names)

    def declared_accounts(self) -> set[str]:
        """Accounts named by the stack's own ARNs (empty when no output carries an account)."""
        # Only 12-digit accounts: AWS-managed ARNs name "aws" (arn:aws:iam::aws:policy/...).
        parts = [arn.split(":") for arn in self.arns()]
        return {p[4] for p in parts if len(p) > 5 and p[4].isdigit() and len(p[4]) == 12}

    def check_identity(self) -> None:
        """Refuse, before anything changes, a stack whose outputs or credentials point elsewhere:
        outputs `stack` must be this name, the credentials' account one the ARNs name, and the
        ARNs' regions this region."""
        declared = self.outputs.get(keys.STACK)
        if declared is not None and declared != self.name:
            raise IdentityMismatchError(
                f"stack {self.name!r}: its outputs ({self.source}) are stack {declared!r}'s"
            )
        account = self.caller_account()
        accounts = self.declared_accounts()
        if accounts and account not in accounts:
            raise IdentityMismatchError(
                f"stack {self.name!r} lives in account {', '.join(sorted(accounts))}, but the"
                f" credentials reach account {account} at {self.endpoint or 'AWS'}; refusing"
                " to change anything"
            )
        regions = {arn.split(":")[3] for arn in self.arns() if len(arn.split(":")) > 5} - {""}
        if regions and self.region not in regions:
            raise IdentityMismatchError(
                f"stack {self.name!r} lives in region {', '.join(sorted(regions))}, but the"
                f" clients use region {self.region}; refusing to change anything"
            )


def _local_endpoint(state: dict[str, Any]) -> str | None:
    return (
        os.environ.get("CHAOS_ENDPOINT_URL")
        or os.environ.get("AWS_ENDPOINT_URL")
        or state.get("endpoint")
    )


# Pulumi's rule for a stack name, as the emulated deploy states it too
# (localcloud.deploy.config; chaos imports no localcloud, and a unit test checks that the two
# agree). No leading '.', so a name is never a path of its own under .chaos/ or .localcloud/.
STACK_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")
STACK_NAME_RULE = "letters, digits, '-', '_' and '.' (not first), at most 100 characters"


def validate_stack_name(name: str) -> str:
    """Pulumi's stack-name rule, as this package's error."""
    if not STACK_NAME_RE.match(name or ""):
        raise UnknownStackError(f"invalid stack name {name!r}: allowed are {STACK_NAME_RULE}")
    return name


def check_endpoint_url(endpoint: str | None) -> None:
    """An endpoint must be an http(s) URL with a host; botocore would raise a bare ValueError."""
    if not endpoint:
        return
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UnreachableError(
            f"endpoint {endpoint!r} is not a URL; allowed: http(s)://HOST[:PORT], or none for AWS"
        )


def load_stack(name: str, *, root: Path | str = ".", endpoint: str | None = None) -> Stack:
    """Outputs from `.localcloud/<name>/state.json` (emulated deploy) or `pulumi stack output`."""
    validate_stack_name(name)
    check_endpoint_url(endpoint)
    state_file = Path(root) / LOCAL_STATE_DIR / name / "state.json"
    if state_file.exists():
        try:
            state = json.loads(state_file.read_text())
        except json.JSONDecodeError as exc:
            raise MissingOutputError(f"{state_file}: not valid JSON: {exc}") from exc
        outputs = state.get("outputs") if isinstance(state, dict) else None
        if not isinstance(outputs, dict) or not outputs:
            raise MissingOutputError(f"{state_file} has no 'outputs' (was `up` run to the end?)")
        local = endpoint or _local_endpoint(state)
        check_endpoint_url(local)
        return Stack(
            name=name,
            outputs=outputs,
            endpoint=local,
            region=str(outputs.get(keys.REGION) or "us-east-1"),
            source=str(state_file),
        )
    if shutil.which("pulumi"):
        return _load_from_pulumi(name, endpoint, Path(root))
    known = sorted(p.parent.name for p in (Path(root) / LOCAL_STATE_DIR).glob("*/state.json"))
    cwd = "" if Path(root) == Path(".") else f" --cwd {root}"
    raise UnknownStackError(
        f"unknown stack {name!r}: no {state_file} and no Pulumi CLI on PATH"
        f" (local stacks here: {', '.join(known) or 'none'};"
        f" deploy one with `python -m localcloud up --stack {name}{cwd}`)"
    )


def _load_from_pulumi(name: str, endpoint: str | None, root: Path = Path(".")) -> Stack:
    proc = subprocess.run(
        ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", name],
        cwd=root,  # the program's directory: Pulumi finds the project (and its stacks) there
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
