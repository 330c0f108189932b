"""IAM on the local cloud, where it decides the failure path: resource-based policies (a
function's, a queue's) judging a call made by an AWS service principal, and the role
sessions and identity-based policies of the functions' execution roles. moto stores
policies and evaluates none of them unless every request is authenticated."""

from __future__ import annotations

from localcloud.iam.resource_policy import SEND_MESSAGE, allows, queue_allows, statements_of

__all__ = ["SEND_MESSAGE", "allows", "queue_allows", "statements_of"]
