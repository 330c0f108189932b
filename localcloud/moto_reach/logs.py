"""Reaches into moto's CloudWatch Logs backend (moto.logs, pinned ==5.2.5).

tests/local/test_moto_reach.py fails loudly when a moto upgrade moves it.
"""

from __future__ import annotations


def put_log_lines(
    account_id: str, region: str, group: str, stream: str, lines: list[tuple[int, str]]
) -> None:
    """Append (timestamp_ms, message) events to CloudWatch Logs, creating group and stream."""
    from moto.logs.models import logs_backends

    backend = logs_backends[account_id][region]
    if group not in backend.groups:
        backend.create_log_group(group, {})
    log_group = backend.groups[group]
    if stream not in log_group.streams:
        backend.create_log_stream(group, stream)
    backend.put_log_events(group, stream, [{"timestamp": t, "message": m} for t, m in lines])
