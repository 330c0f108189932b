"""A function from a container image: the deploy must refuse, naming the input."""

from __future__ import annotations

import pulumi_aws as aws

aws.lambda_.Function(
    "image-fn",
    role="arn:aws:iam::123456789012:role/none",
    package_type="Image",
    image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/fn:latest",
)
