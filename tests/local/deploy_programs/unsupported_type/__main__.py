"""A queue, then an S3 bucket: the deploy must stop at the bucket, naming its type."""

from __future__ import annotations

import pulumi_aws as aws

queue = aws.sqs.Queue("before")
aws.s3.Bucket("bucket", opts=None)
