"""IAM: Role, RolePolicy, RolePolicyAttachment, Policy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .base import Context, Handler, Planned, ignore_missing, pick, probe


def _doc(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class Role(Handler):
    typ = "aws:iam/role:Role"
    applies = frozenset(
        {
            "name",
            "namePrefix",
            "assumeRolePolicy",
            "description",
            "maxSessionDuration",
            "path",
            "permissionsBoundary",
            "forceDetachPolicies",
            "inlinePolicies",
            "managedPolicyArns",
        }
    )
    replace_on = frozenset({"name", "namePrefix", "path"})
    name_input = "name"
    already_exists = frozenset({"EntityAlreadyExists"})

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        iam = ctx.client("iam")
        kwargs = pick(
            res.inputs,
            {
                "description": "Description",
                "path": "Path",
                "maxSessionDuration": "MaxSessionDuration",
                "permissionsBoundary": "PermissionsBoundary",
            },
        )
        role = iam.create_role(
            RoleName=res.physical,
            AssumeRolePolicyDocument=_doc(res.inputs["assumeRolePolicy"]),
            **kwargs,
        )["Role"]
        return self._finish(ctx, res, role)

    def adopt(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        return self._finish(ctx, res, ctx.client("iam").get_role(RoleName=res.physical)["Role"])

    def _finish(
        self, ctx: Context, res: Planned, role: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        self._attachments(ctx, res.physical, res.inputs, {})
        return res.physical, {
            "arn": role["Arn"],
            "name": res.physical,
            "uniqueId": role["RoleId"],
            "createDate": str(role["CreateDate"]),
        }

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        iam = ctx.client("iam")
        if "assumeRolePolicy" in changed:
            iam.update_assume_role_policy(
                RoleName=rid, PolicyDocument=_doc(res.inputs["assumeRolePolicy"])
            )
        if changed & {"description", "maxSessionDuration"}:
            iam.update_role(
                RoleName=rid,
                **pick(
                    res.inputs,
                    {"description": "Description", "maxSessionDuration": "MaxSessionDuration"},
                ),
            )
        self._attachments(ctx, rid, res.inputs, old)
        return dict(old)

    def exists(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> bool | None:
        return probe(lambda: ctx.client("iam").get_role(RoleName=rid))

    @staticmethod
    def _attachments(
        ctx: Context, role: str, inputs: Mapping[str, Any], old: Mapping[str, Any]
    ) -> None:
        """Exclusive inline policies / managed ARNs given on the role itself."""
        iam = ctx.client("iam")
        inline = inputs.get("inlinePolicies")
        if inline is not None:
            wanted = {p["name"]: _doc(p["policy"]) for p in inline if p.get("name")}
            for name in set(iam.list_role_policies(RoleName=role)["PolicyNames"]) - set(wanted):
                iam.delete_role_policy(RoleName=role, PolicyName=name)
            for name, doc in wanted.items():
                iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=doc)
        managed = inputs.get("managedPolicyArns")
        if managed is not None:
            attached = {
                p["PolicyArn"]
                for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
            }
            for arn in attached - set(managed):
                iam.detach_role_policy(RoleName=role, PolicyArn=arn)
            for arn in set(managed) - attached:
                iam.attach_role_policy(RoleName=role, PolicyArn=arn)

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        iam = ctx.client("iam")

        def remove() -> None:
            # IAM refuses to delete a role with policies; what is left after the stack's own
            # RolePolicy resources are gone came from inlinePolicies / managedPolicyArns.
            for name in iam.list_role_policies(RoleName=rid)["PolicyNames"]:
                iam.delete_role_policy(RoleName=rid, PolicyName=name)
            for pol in iam.list_attached_role_policies(RoleName=rid)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=rid, PolicyArn=pol["PolicyArn"])
            iam.delete_role(RoleName=rid)

        ignore_missing(remove)


class RolePolicy(Handler):
    typ = "aws:iam/rolePolicy:RolePolicy"
    applies = frozenset({"role", "policy", "name", "namePrefix"})
    replace_on = frozenset({"role", "name", "namePrefix"})
    name_input = "name"
    name_max = 128

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        role = res.inputs["role"]
        ctx.client("iam").put_role_policy(
            RoleName=role, PolicyName=res.physical, PolicyDocument=_doc(res.inputs["policy"])
        )
        return f"{role}:{res.physical}", {"name": res.physical}

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        return self.create(ctx, res)[1]

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        role, _, name = rid.partition(":")
        ignore_missing(lambda: ctx.client("iam").delete_role_policy(RoleName=role, PolicyName=name))


class RolePolicyAttachment(Handler):
    typ = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    applies = frozenset({"role", "policyArn"})
    replace_on_any = True

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        role, arn = res.inputs["role"], res.inputs["policyArn"]
        ctx.client("iam").attach_role_policy(RoleName=role, PolicyArn=arn)
        return f"{role}/{arn}", {}

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        role, _, arn = rid.partition("/")
        ignore_missing(lambda: ctx.client("iam").detach_role_policy(RoleName=role, PolicyArn=arn))


class Policy(Handler):
    typ = "aws:iam/policy:Policy"
    applies = frozenset({"name", "namePrefix", "policy", "description", "path"})
    replace_on = frozenset({"name", "namePrefix", "path", "description"})
    name_input = "name"
    name_max = 128

    def create(self, ctx: Context, res: Planned) -> tuple[str, dict[str, Any]]:
        kwargs = pick(res.inputs, {"description": "Description", "path": "Path"})
        pol = ctx.client("iam").create_policy(
            PolicyName=res.physical, PolicyDocument=_doc(res.inputs["policy"]), **kwargs
        )["Policy"]
        return pol["Arn"], {"arn": pol["Arn"], "name": res.physical, "policyId": pol["PolicyId"]}

    def update(
        self, ctx: Context, res: Planned, rid: str, old: Mapping[str, Any], changed: set[str]
    ) -> dict[str, Any]:
        iam = ctx.client("iam")
        # IAM keeps at most five versions: drop the non-default ones before adding one.
        for version in iam.list_policy_versions(PolicyArn=rid)["Versions"]:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=rid, VersionId=version["VersionId"])
        iam.create_policy_version(
            PolicyArn=rid, PolicyDocument=_doc(res.inputs["policy"]), SetAsDefault=True
        )
        return dict(old)

    def delete(self, ctx: Context, rid: str, outputs: Mapping[str, Any]) -> None:
        iam = ctx.client("iam")

        def remove() -> None:
            for version in iam.list_policy_versions(PolicyArn=rid)["Versions"]:
                if not version["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=rid, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=rid)

        ignore_missing(remove)
