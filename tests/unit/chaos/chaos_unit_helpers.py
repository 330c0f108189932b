"""Helpers shared by the chaos unit tests (moto resources); imported by the test modules."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import boto3

REGION = "us-east-1"


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def make_function(name: str, env: dict[str, str] | None = None, **kwargs: Any) -> str:
    iam = boto3.client("iam", region_name=REGION)
    try:
        role = iam.get_role(RoleName="chaos-unit")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="chaos-unit", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": zip_bytes()},
        Environment={"Variables": env or {}},
        **kwargs,
    )
    return name


def queue(name: str, **attrs: str) -> str:
    return boto3.client("sqs", region_name=REGION).create_queue(QueueName=name, Attributes=attrs)[
        "QueueUrl"
    ]
