"""Reaches into moto's API Gateway backend (moto.apigateway, pinned ==5.2.5).

tests/unit/localcloud/test_alarm_moto.py fails loudly when a moto upgrade moves it.
"""

from __future__ import annotations

from typing import Any


def apigateway_backend(account_id: str, region: str) -> Any:
    from moto.apigateway.models import apigateway_backends

    return apigateway_backends[account_id][region]
