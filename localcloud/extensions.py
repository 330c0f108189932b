"""Parts of the local cloud that other modules add on top of the core.

Each entry is "module:function"; `localcloud.start()` imports the module and
calls `function(cloud)` in this order once the core (server, Lambda runtime,
SNS delivery) is up. Add yours with a one-line edit.
"""

from __future__ import annotations

INSTALLERS: list[str] = [
    "localcloud.cloudwatch:install",  # alarm evaluation, history, actions, AWS/SQS metrics
    "localcloud.apigateway:install",  # execute-api at /_aws/execute-api/{api}/{stage}/
    "localcloud.dynamodb:install",  # provisioned / on-demand capacity throttling
    "localcloud.lambda_.event_sources:install",  # SQS and Kinesis event source mappings
    "localcloud.events:install",  # EventBridge target delivery
]
