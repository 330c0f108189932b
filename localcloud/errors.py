"""The local cloud's one error root, and the part of it that answers clients as AWS does.

Every exception class defined in localcloud/ derives from `LocalCloudError`, so a caller can
catch the emulator's own failures apart from botocore's and moto's. Those that stand for an
AWS answer (`AwsError`) carry AWS's error `code` (and HTTP `status` where one is sent), as
moto's errors do.
"""

from __future__ import annotations

__all__ = ["AwsError", "LocalCloudError"]


class LocalCloudError(Exception):
    """Base of every error the local cloud defines."""


class AwsError(LocalCloudError):
    """An error the local cloud answers as AWS would: `code` is AWS's error code."""

    code: str = "ServiceException"
    status: int = 500
