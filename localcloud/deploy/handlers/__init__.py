"""One handler per resource type the emulated deploy can create; `handler_for` is the lookup."""

from __future__ import annotations

from ..exceptions import UnsupportedResourceType
from .apigateway import (
    ApiKey,
    Deployment,
    Integration,
    Method,
    Resource,
    RestApi,
    Stage,
    UsagePlan,
    UsagePlanKey,
)
from .awslambda import (
    EventSourceMapping,
    Function,
    FunctionEventInvokeConfig,
    LayerVersion,
    Permission,
)
from .base import Context, Handler, Planned, UnsupportedInput
from .cloudwatch import LogGroup, MetricAlarm
from .dynamodb import ScalingPolicy, ScalingTarget, Table
from .events import EventBus, EventRule, EventTarget
from .iam import Policy, Role, RolePolicy, RolePolicyAttachment
from .secretsmanager import Secret, SecretVersion
from .sns import Topic, TopicSubscription
from .sqs import Queue, QueuePolicy
from .streams import StateMachine, Stream

HANDLERS: dict[str, Handler] = {
    cls.typ: cls()
    for cls in (
        Queue,
        QueuePolicy,
        Function,
        LayerVersion,
        EventSourceMapping,
        FunctionEventInvokeConfig,
        Permission,
        Role,
        RolePolicy,
        RolePolicyAttachment,
        Policy,
        Topic,
        TopicSubscription,
        Table,
        ScalingTarget,
        ScalingPolicy,
        EventBus,
        EventRule,
        EventTarget,
        Stream,
        StateMachine,
        RestApi,
        Resource,
        Method,
        Integration,
        Deployment,
        Stage,
        ApiKey,
        UsagePlan,
        UsagePlanKey,
        MetricAlarm,
        LogGroup,
        Secret,
        SecretVersion,
    )
}


def handler_for(typ: str, name: str) -> Handler:
    try:
        return HANDLERS[typ]
    except KeyError:
        raise UnsupportedResourceType(typ, name) from None


__all__ = ["HANDLERS", "Context", "Handler", "Planned", "UnsupportedInput", "handler_for"]
