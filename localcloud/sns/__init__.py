"""SNS on the local cloud: delivery to Lambda subscriptions with the real envelope, retries and
the subscription's DLQ (moto delivers to SQS itself; see localcloud/moto_reach/sns.py).

The core starts `SnsLambdaDelivery` with the cloud (localcloud/server.py).
"""

from __future__ import annotations

from localcloud.sns.delivery import (
    SnsLambdaDelivery,
    delivery_delays,
    notification,
    sns_lambda_event,
)

__all__ = ["SnsLambdaDelivery", "delivery_delays", "notification", "sns_lambda_event"]
