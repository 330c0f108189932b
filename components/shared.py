"""Stack-wide resources: the ledger, the idempotency table, and the alarm topic with its inbox."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components import queues, validation
from components.limits import COMPONENT_TYPE_PREFIX

__all__ = ["Shared", "SharedArgs"]

NAME = "Shared"


class SharedArgs(TypedDict):
    """What the stack-wide resources need."""

    alarm_email: NotRequired[str]
    """E-mail address subscribed to the alarm topic (needs confirming); empty means none."""
    inbox_retention: NotRequired[int]
    """Retention of the alarm inbox queue, seconds (default 14 days)."""


SETTINGS = validation.Settings(
    SharedArgs,
    alarm_email=validation.Setting(),  # unset: no e-mail subscription
    inbox_retention=queues.retention(),
)


def validate(args: SharedArgs) -> SharedArgs:
    email = SETTINGS.value(args, "alarm_email")
    if email and (not isinstance(email, str) or "@" not in email):
        raise validation.ArgsValidationError(
            NAME, "alarm_email", email, "an e-mail address or empty"
        )
    SETTINGS.check(NAME, args)
    return args


class Shared(pulumi.ComponentResource):
    """Ledger + idempotency tables; alarm topic -> SQS inbox (and optional e-mail)."""

    def __init__(self, name: str, args: SharedArgs, opts: pulumi.ResourceOptions | None = None):
        validate(args)
        super().__init__(f"{COMPONENT_TYPE_PREFIX}{NAME}", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.ledger = aws.dynamodb.Table(
            f"{name}-ledger",
            billing_mode="PAY_PER_REQUEST",
            hash_key="pattern",
            range_key="event_id",
            attributes=[
                aws.dynamodb.TableAttributeArgs(name="pattern", type="S"),
                aws.dynamodb.TableAttributeArgs(name="event_id", type="S"),
            ],
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            opts=child,
        )
        self.idempotency = aws.dynamodb.Table(
            f"{name}-idempotency",
            billing_mode="PAY_PER_REQUEST",
            hash_key="id",
            attributes=[aws.dynamodb.TableAttributeArgs(name="id", type="S")],
            # Powertools writes the record's expiry here; DynamoDB deletes expired records.
            ttl=aws.dynamodb.TableTtlArgs(attribute_name="expiration", enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            opts=child,
        )
        # No SSE on the alarm topic: CloudWatch can only publish to an encrypted topic
        # whose customer-managed key policy grants it kms:Decrypt/GenerateDataKey, and
        # the AWS-managed alias/aws/sns key policy cannot be changed. Alarm messages
        # carry alarm names and states, no event data.
        self.alarm_topic = aws.sns.Topic(f"{name}-alarms", opts=child)
        self.inbox = queues.queue(
            self,
            f"{name}-alarm-inbox",
            message_retention_seconds=SETTINGS.value(args, "inbox_retention"),
        )
        inbox_policy = queues.allow_services_to_send(
            self,
            f"{name}-alarm-inbox-policy",
            self.inbox,
            [("sns.amazonaws.com", self.alarm_topic.arn)],
        )
        aws.sns.TopicSubscription(
            f"{name}-alarm-inbox-subscription",
            topic=self.alarm_topic.arn,
            protocol="sqs",
            endpoint=self.inbox.arn,
            raw_message_delivery=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[inbox_policy]),
        )
        email = SETTINGS.value(args, "alarm_email")
        if email:
            aws.sns.TopicSubscription(
                f"{name}-alarm-email",
                topic=self.alarm_topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )
        self.register_outputs(
            {
                "ledger_table": self.ledger.name,
                "idempotency_table": self.idempotency.name,
                "alarm_topic_arn": self.alarm_topic.arn,
                "alarm_inbox_queue_url": self.inbox.url,
            }
        )
