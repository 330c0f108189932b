"""What a SigV4 Authorization header says about its caller: the access key, region and
service of its credential scope (`Credential=AKID/20261201/us-east-1/sqs/aws4_request`),
and the botocore service model its signing name stands for."""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import botocore.exceptions
import botocore.model
import botocore.session

__all__ = ["Scope", "scope_of", "service_model"]

# SigV4 signing names that are not botocore's service name.
_SERVICE_OF_SIGNING_NAME = {"states": "stepfunctions", "monitoring": "cloudwatch"}


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


@cache
def service_model(signing: str) -> botocore.model.ServiceModel | None:
    """botocore's model of the service a request is signed for (loaded once per service);
    None for a signing name botocore does not know."""
    try:
        return botocore.session.get_session().get_service_model(
            _SERVICE_OF_SIGNING_NAME.get(signing, signing)
        )
    except botocore.exceptions.UnknownServiceError:
        return None
