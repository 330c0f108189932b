"""Provider functions (`aws.get_*`) the program may call, answered from the local cloud."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .exceptions import UnsupportedInvoke
from .handlers.base import Context


def _policy_document(args: Mapping[str, Any]) -> dict[str, Any]:
    statements = []
    for st in args.get("statements") or []:
        out: dict[str, Any] = {}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        out["Effect"] = st.get("effect") or "Allow"
        for key, api in (
            ("actions", "Action"),
            ("notActions", "NotAction"),
            ("resources", "Resource"),
            ("notResources", "NotResource"),
        ):
            if st.get(key):
                values = list(st[key])
                out[api] = values[0] if len(values) == 1 else values
        for key, api in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            if st.get(key):
                principal: dict[str, Any] = {}
                for p in st[key]:
                    ids = list(p["identifiers"])
                    principal[p["type"]] = ids[0] if len(ids) == 1 else ids
                out[api] = "*" if principal == {"*": "*"} else principal
        if st.get("conditions"):
            conditions: dict[str, dict[str, Any]] = {}
            for c in st["conditions"]:
                values = list(c["values"])
                conditions.setdefault(c["test"], {})[c["variable"]] = (
                    values[0] if len(values) == 1 else values
                )
            out["Condition"] = conditions
        statements.append(out)
    doc: dict[str, Any] = {"Version": args.get("version") or "2012-10-17", "Statement": statements}
    if args.get("policyId"):
        doc["Id"] = args["policyId"]
    text = json.dumps(doc, indent=2)
    return {
        "json": text,
        "minifiedJson": json.dumps(doc, separators=(",", ":")),
        "id": str(abs(hash(text))),
    }


def call(ctx: Context, token: str, args: Mapping[str, Any]) -> dict[str, Any]:
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        ident = ctx.client("sts").get_caller_identity()
        return {
            "accountId": ident["Account"],
            "arn": ident["Arn"],
            "userId": ident["UserId"],
            "id": ident["Account"],
        }
    if token == "aws:index/getRegion:getRegion":
        return {
            "name": ctx.region,
            "region": ctx.region,
            "id": ctx.region,
            "endpoint": f"ec2.{ctx.region}.amazonaws.com",
            "description": "US East (N. Virginia)",
        }
    if token == "aws:index/getPartition:getPartition":
        return {
            "partition": "aws",
            "dnsSuffix": "amazonaws.com",
            "id": "aws",
            "reverseDnsPrefix": "com.amazonaws",
        }
    if token == "aws:iam/getPolicyDocument:getPolicyDocument":
        return _policy_document(args)
    raise UnsupportedInvoke(
        f"the program calls {token!r}, which the emulated deploy does not answer; "
        "add it to localcloud/deploy/invokes.py"
    )
