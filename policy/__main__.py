"""Policy pack entry point: `pulumi preview --policy-pack policy` (needs the Pulumi CLI)."""

from __future__ import annotations

from pulumi_policy import PolicyPack

from policy.pack import PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, policies=build_policies())
