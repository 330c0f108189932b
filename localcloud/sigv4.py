"""What a SigV4 Authorization header says about its caller: the access key, region and
service of its credential scope (`Credential=AKID/20261201/us-east-1/sqs/aws4_request`)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Scope", "scope_of"]


class Scope(NamedTuple):
    access_key_id: str
    region: str
    service: str  # the signing name: 'lambda', 'sns', 'states', 'monitoring', ...


def scope_of(authorization: str | None) -> Scope | None:
    """The credential scope of an Authorization header, or None when it has none."""
    try:
        credential = (authorization or "").split("Credential=", 1)[1].split(",", 1)[0]
        key, _date, region, service = credential.split("/")[:4]
    except (IndexError, ValueError):
        return None
    return Scope(key, region, service)
