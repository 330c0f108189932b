"""Parts of the local cloud that other modules add on top of the core.

Each entry is "module:function"; `localcloud.start()` imports the module and
calls `function(cloud)` in this order once the core (server, Lambda runtime,
SNS delivery) is up. Add yours with a one-line edit.
"""

from __future__ import annotations

INSTALLERS: list[str] = []
