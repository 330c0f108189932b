"""failmodes' embedded local cloud: moto plus a real Lambda runtime, event sources and alarms.

with localcloud.start() as cloud:
    sqs = cloud.client("sqs")
"""

from __future__ import annotations

from localcloud.server import CloudAlreadyRunningError, LocalCloud, start

__all__ = ["CloudAlreadyRunningError", "LocalCloud", "start"]
