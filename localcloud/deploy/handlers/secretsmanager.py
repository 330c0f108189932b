"""Secrets Manager: Secret, SecretVersion."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from .base import Context, Handler, Planned, error_code, ignore_missing, num, pick

# Secrets Manager's own default when a delete names no window (Secrets Manager API
# reference, DeleteSecret: RecoveryWindowInDays, 7-30, default 30).
DEFAULT_RECOVERY_WINDOW = 30
CURRENT = "AWSCURRENT"


class Secret(Handler):
    typ = "aws:secretsmanager/secret:Secret"
    applies = frozenset({"name", "namePrefix", "description", "kmsKeyId", "recoveryWindowInDays"})
    replace_on = frozenset({"name", "namePrefix"})
    name_input = "name"
    name_max = 512

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        kwargs = pick(res.inputs, {"description": "Description", "kmsKeyId": "KmsKeyId"})
        out = ctx.client("secretsmanager").create_secret(Name=res.physical, **kwargs)
        return out["ARN"], self._outputs(out["ARN"], res)

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        applied = {"description": "Description", "kmsKeyId": "KmsKeyId"}
        if changed & set(applied):
            # UpdateSecret without a value changes only the metadata; an unset description is "".
            kwargs = pick(res.inputs, applied)
            if "description" in changed and res.inputs.get("description") is None:
                kwargs["Description"] = ""
            ctx.client("secretsmanager").update_secret(SecretId=rid, **kwargs)
        # recoveryWindowInDays is applied at delete: it lives in the outputs until then.
        return self._outputs(rid, res)

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        window = num(outputs.get("recoveryWindowInDays"))
        window = DEFAULT_RECOVERY_WINDOW if window is None else window
        # 0 is pulumi-aws's "delete at once": ForceDeleteWithoutRecovery, the name free again.
        kwargs: dict[str, Any] = (
            {"ForceDeleteWithoutRecovery": True}
            if window == 0
            else {"RecoveryWindowInDays": window}
        )
        ignore_missing(lambda: ctx.client("secretsmanager").delete_secret(SecretId=rid, **kwargs))

    def exists(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> bool | None:
        try:
            found = ctx.client("secretsmanager").describe_secret(SecretId=rid)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return "DeletedDate" not in found  # scheduled for deletion: gone for the stack

    @staticmethod
    def _outputs(arn: str, res: Planned) -> dict[str, Any]:
        return {
            "arn": arn,
            "name": res.physical,
            "recoveryWindowInDays": res.inputs.get("recoveryWindowInDays"),
        }


class SecretVersion(Handler):
    typ = "aws:secretsmanager/secretVersion:SecretVersion"
    applies = frozenset({"secretId", "secretString", "secretBinary", "versionStages"})
    # A version is immutable: a new value (or secret, or labels) is a new version, which
    # takes AWSCURRENT; the old one keeps AWSPREVIOUS, as PutSecretValue leaves it.
    replace_on_any = True

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        inp = res.inputs
        kwargs: dict[str, Any] = {"SecretId": inp["secretId"]}
        if inp.get("secretString") is not None:
            kwargs["SecretString"] = inp["secretString"]
        if inp.get("secretBinary") is not None:
            # pulumi-aws takes the binary base64-encoded; the API takes the bytes.
            kwargs["SecretBinary"] = base64.b64decode(inp["secretBinary"])
        if inp.get("versionStages"):
            kwargs["VersionStages"] = list(inp["versionStages"])
        out = ctx.client("secretsmanager").put_secret_value(**kwargs)
        return f"{out['ARN']}|{out['VersionId']}", {
            "arn": out["ARN"],  # pulumi-aws's older name of secretArn
            "secretArn": out["ARN"],
            "versionId": out["VersionId"],
            "versionStages": list(out.get("VersionStages") or []),
        }

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        raise NotImplementedError  # replace_on_any: never called

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        # There is no call that deletes one version: it loses its labels (AWSCURRENT, which
        # a secret cannot lose, stays until a newer version takes it) and goes with its
        # secret, as pulumi-aws does.
        arn, version = rid.split("|", 1)
        sm = ctx.client("secretsmanager")
        try:
            stages = sm.describe_secret(SecretId=arn).get("VersionIdsToStages", {})
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return
            raise
        for stage in stages.get(version, []):
            if stage != CURRENT:
                ignore_missing(
                    lambda stage=stage: sm.update_secret_version_stage(
                        SecretId=arn, VersionStage=stage, RemoveFromVersionId=version
                    )
                )

    def exists(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> bool | None:
        arn, version = rid.split("|", 1)
        try:
            found = ctx.client("secretsmanager").describe_secret(SecretId=arn)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return "DeletedDate" not in found and version in found.get("VersionIdsToStages", {})
