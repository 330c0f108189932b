"""The local cloud's roles and role sessions: who is calling, and what its role allows.

A session is the temporary credentials STS AssumeRole hands out (Lambda gives each
function its execution role's session). Every AssumeRole answer is watched, so the
cloud knows which role an access key belongs to; a call signed with any other key (the
operator's test credentials, the cloud's own calls) is the account's and is not judged.

A role's policies (inline and attached managed ones) are read through the cloud's own IAM
API and kept until the next IAM call that is not a Get or a List, so a policy change
takes effect on the next call, as IAM's own short propagation delay is not modelled.
"""

from __future__ import annotations

import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from localcloud.iam.identity_policy import Decision, evaluate
from localcloud.iam.resource_policy import allows as resource_policy_allows
from localcloud.iam.statements import statements_of
from localcloud.sigv4 import scope_of

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

logger = logging.getLogger(__name__)

__all__ = ["LAMBDA_PRINCIPAL", "RoleSession", "Roles", "access_key_of", "role_name_of"]

LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
_READS = ("Get", "List", "Generate", "Simulate")


@dataclass(frozen=True)
class RoleSession:
    access_key_id: str
    role_arn: str
    session_name: str
    account_id: str

    @property
    def arn(self) -> str:
        """The session's principal ARN, as IAM names it in an AccessDenied message."""
        return (
            f"arn:aws:sts::{self.account_id}:assumed-role/"
            f"{role_name_of(self.role_arn)}/{self.session_name}"
        )


def role_name_of(role_arn: str) -> str:
    """arn:aws:iam::123456789012:role[/path]/name -> name."""
    return role_arn.rsplit("/", 1)[-1]


def access_key_of(request: Request) -> str | None:
    """The access key id a SigV4 request is signed with, or None."""
    scope = scope_of(request.headers.get("Authorization"))
    return scope.access_key_id if scope else None


def _form(request: Request) -> dict[str, list[str]]:
    if request.mimetype != "application/x-www-form-urlencoded":
        return {}
    return parse_qs(request.get_data(as_text=True))


class Roles:
    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self._sessions: dict[str, RoleSession] = {}
        self._policies: dict[str, list[Any]] = {}
        self._trust: dict[str, Any] = {}
        self._credentials: dict[tuple[str, str], dict[str, str]] = {}
        # Bumped by every IAM write: a read that began before one must not be cached after it.
        self._generation = 0
        self._lock = threading.Lock()
        # Bumped by every IAM write: a read that began before one is not cached after it.
        self._generation = 0
        self._iam: Any = None
        self._sts: Any = None

    def install(self) -> None:
        self.cloud.add_observer(self._observe)

    # ---- sessions ---------------------------------------------------------------------
    def session_of(self, access_key_id: str | None) -> RoleSession | None:
        if not access_key_id:
            return None
        with self._lock:
            return self._sessions.get(access_key_id)

    def credentials_for(self, role_arn: str, session_name: str) -> dict[str, str]:
        """Temporary credentials of `role_arn` (STS AssumeRole on this cloud), as the
        environment variables Lambda sets for a function."""
        key = (role_arn, session_name)
        with self._lock:
            cached = self._credentials.get(key)
        if cached is not None:
            return cached
        # STS takes 2-64 characters; a function's name may be 1 long.
        sts_name = session_name[:64].ljust(2, "_")
        answer = self._client("sts").assume_role(RoleArn=role_arn, RoleSessionName=sts_name)
        creds = answer["Credentials"]
        env = {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }
        with self._lock:
            # The observer has seen the answer by now; record it again in case it ran first.
            self._sessions[creds["AccessKeyId"]] = RoleSession(
                creds["AccessKeyId"], role_arn, sts_name, self.cloud.account_id
            )
            self._credentials[key] = env
        return env

    # ---- decisions --------------------------------------------------------------------
    def decide(
        self,
        role_arn: str,
        action: str,
        resource: str | None,
        context: Mapping[str, str | None] | None = None,
    ) -> Decision:
        """IAM's decision on `action` against `resource` for a caller holding `role_arn`."""
        return evaluate(self.policies_of(role_arn), action, resource, context)

    def allows(
        self,
        role_arn: str,
        action: str,
        resource: str | None,
        context: Mapping[str, str | None] | None = None,
    ) -> bool:
        return self.decide(role_arn, action, resource, context) is Decision.ALLOW

    def trusts(self, role_arn: str, service: str = LAMBDA_PRINCIPAL) -> bool:
        """Does the role's trust policy let `service` assume it (sts:AssumeRole)?"""
        name = role_name_of(role_arn)
        with self._lock:
            document = self._trust.get(name)
            generation = self._generation
        if document is None:
            try:
                role = self._client("iam").get_role(RoleName=name)["Role"]
            except self._client("iam").exceptions.NoSuchEntityException:
                return False
            document = role.get("AssumeRolePolicyDocument") or {}
            with self._lock:
                if generation == self._generation:
                    self._trust[name] = document
        return resource_policy_allows(
            statements_of(document),
            service,
            "sts:AssumeRole",
            source_arn=None,
            source_account=self.cloud.account_id,
        )

    def policies_of(self, role_arn: str) -> list[Any]:
        """The role's inline and attached policy documents ([] for a role that is gone)."""
        name = role_name_of(role_arn)
        with self._lock:
            cached = self._policies.get(name)
            generation = self._generation
        if cached is not None:
            return cached
        documents = self._read_policies(name)
        with self._lock:
            if generation == self._generation:
                self._policies[name] = documents
        return documents

    def _read_policies(self, name: str) -> list[Any]:
        iam = self._client("iam")
        try:
            documents: list[Any] = [
                iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
            ]
            attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        except iam.exceptions.NoSuchEntityException:
            return []
        for policy in attached:
            try:
                version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"][
                    "DefaultVersionId"
                ]
                documents.append(
                    iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)[
                        "PolicyVersion"
                    ]["Document"]
                )
            except iam.exceptions.NoSuchEntityException:
                # An AWS managed policy moto has not loaded: it grants nothing here.
                logger.warning("policy %s of role %s is unknown here", policy["PolicyArn"], name)
        return documents

    # ---- watching the API -------------------------------------------------------------
    def _observe(self, request: Request, response: Response) -> None:
        if response.status_code >= 300 or request.method != "POST":
            return
        # Every answer passes here: only IAM's and STS's bodies are read.
        scope = scope_of(request.headers.get("Authorization"))
        service = scope.service if scope else ""
        if service not in ("iam", "sts"):
            return
        form = _form(request)
        action = (form.get("Action") or [""])[0]
        if not action:
            return
        if service == "iam" and not action.startswith(_READS):
            with self._lock:
                self._generation += 1
                self._policies.clear()
                self._trust.clear()
        elif service == "sts" and action == "AssumeRole":
            self._remember_session(form, response)

    def _remember_session(self, form: dict[str, list[str]], response: Response) -> None:
        role_arn = (form.get("RoleArn") or [""])[0]
        session_name = (form.get("RoleSessionName") or [""])[0]
        try:
            root = ET.fromstring(response.get_data())
        except ET.ParseError:
            return
        key = next((el.text for el in root.iter() if el.tag.endswith("AccessKeyId")), None)
        if key and role_arn:
            account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
            with self._lock:
                self._sessions[key] = RoleSession(
                    key, role_arn, session_name, account or self.cloud.account_id
                )

    def _client(self, service: str) -> Any:
        attr = f"_{service}"
        client = getattr(self, attr)
        if client is None:
            client = self.cloud.internal_client(service)
            setattr(self, attr, client)
        return client
