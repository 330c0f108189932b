"""Unit-test fixtures: moto in-process (no network), a Stack pointing at it, a fake function."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chaos_unit_helpers import REGION
from moto import mock_aws

from chaos.stack import Stack


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "CHAOS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def mocked(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def stack(mocked: None) -> Stack:
    return Stack(name="unit", outputs={"chaos_enabled": True, "region": REGION}, source="test")
