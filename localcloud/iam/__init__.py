"""IAM on the local cloud: how a resource-based policy (a function's, a queue's) judges a call
made by an AWS service principal. moto stores policies and evaluates none."""

from __future__ import annotations

from localcloud.iam.resource_policy import SEND_MESSAGE, allows, queue_allows, statements_of

__all__ = ["SEND_MESSAGE", "allows", "queue_allows", "statements_of"]
