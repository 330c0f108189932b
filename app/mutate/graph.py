"""The program's resource graph as the mutation operators see it.

Recorded by running `__main__.py` under the mock runtime (localcloud.deploy.program.run_program
with RecordingMocks): every registration with its inputs in the provider's camelCase,
plausible ARNs, and its parent. Operators match on resource types and properties here,
never on this program's resource names, so a fork's own instances match too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.deploy.mocks import RecordingMocks, Registration
from localcloud.deploy.program import run_program
from policy.model import parse_json

__all__ = ["Graph", "Node", "record"]

QUEUE = "aws:sqs/queue:Queue"
FUNCTION = "aws:lambda/function:Function"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
TABLE = "aws:dynamodb/table:Table"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC = "aws:sns/topic:Topic"
STACK = "pulumi:pulumi:Stack"

# The env variable that names a function's ledger partition: `<pattern>[.<part>]`, the
# pattern being a key of components.outputs.PATTERNS (docs/contracts.md).
LEDGER_PATTERN = "LEDGER_PATTERN"


# A JSON document given as a string (redrive policies, definitions), else as is.
loads = parse_json


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


@dataclass(frozen=True)
class Node:
    type: str
    name: str
    props: dict[str, Any]
    urn: str | None
    parent: str | None
    custom: bool

    @property
    def inputs(self) -> dict[str, Any]:
        return self.props


@dataclass
class Graph:
    nodes: list[Node]
    by_urn: dict[str, Node] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)  # the stack outputs of the run

    def __post_init__(self) -> None:
        self.by_urn = {n.urn: n for n in self.nodes if n.urn}

    @classmethod
    def from_registrations(cls, registrations: Sequence[Registration]) -> Graph:
        return cls(
            [Node(r.type, r.name, dict(r.props), r.urn, r.parent, r.custom) for r in registrations]
        )

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def of_type(self, *types: str) -> list[Node]:
        return [n for n in self.nodes if n.type in types]

    def get(self, type_: str, name: str) -> Node:
        for n in self.nodes:
            if n.type == type_ and n.name == name:
                return n
        raise KeyError(f"no {type_} named {name!r} in the graph")

    def by_prop(self, type_: str, key: str, value: Any) -> Node | None:
        if value in (None, ""):
            return None
        return next((n for n in self.of_type(type_) if n.props.get(key) == value), None)

    def function(self, ref: Any) -> Node | None:
        """A function by ARN or name, as mappings and invoke configs refer to it."""
        for key in ("arn", "name", "qualifiedArn"):
            found = self.by_prop(FUNCTION, key, ref)
            if found is not None:
                return found
        return None

    # ---- placement -------------------------------------------------------------------
    def top_component(self, node: Node) -> Node | None:
        """The component instance directly under the root stack that holds `node`."""
        current = node
        while current.parent:
            parent = self.by_urn.get(current.parent)
            if parent is None or parent.type == STACK:
                return current if not current.custom else None
            current = parent
        return None

    def descendants(self, component: Node) -> list[Node]:
        out, frontier = [], {component.urn}
        while frontier:
            children = [n for n in self.nodes if n.parent in frontier]
            out += children
            frontier = {n.urn for n in children if n.urn}
        return out

    def patterns_of(self, component: Node | None) -> tuple[str, ...]:
        """Patterns a component serves: the heads of its functions' LEDGER_PATTERN."""
        if component is None:
            return ()
        found: list[str] = []
        for n in self.descendants(component):
            if n.type != FUNCTION:
                continue
            head = str(dig(n.props, "environment", "variables", LEDGER_PATTERN) or "")
            head = head.split(".")[0].split("#")[0]
            if head and head not in found:
                found.append(head)
        return tuple(found)

    # ---- failure-handling relations ---------------------------------------------------
    def dead_letter_arns(self) -> set[str]:
        """ARNs of queues that some resource dead-letters into."""
        arns: set[str] = set()
        for n in self.nodes:
            p = n.props
            candidates = [
                dig(loads(p.get("redrivePolicy")), "deadLetterTargetArn"),
                dig(p, "deadLetterConfig", "targetArn"),
                dig(p, "deadLetterConfig", "arn"),
                dig(p, "destinationConfig", "onFailure", "destination"),
                dig(p, "destinationConfig", "onFailure", "destinationArn"),
            ]
            arns |= {c for c in candidates if isinstance(c, str) and c}
        return arns

    def watched_queue(self, alarm: Node) -> Node | None:
        """The queue a depth alarm watches (SQS ApproximateNumberOfMessagesVisible)."""
        p = alarm.props
        if p.get("namespace") != "AWS/SQS" or p.get("metricName") != (
            "ApproximateNumberOfMessagesVisible"
        ):
            return None
        return self.by_prop(QUEUE, "name", dig(p, "dimensions", "QueueName"))

    def dlq_alarm_queue(self, alarm: Node) -> Node | None:
        queue = self.watched_queue(alarm)
        if queue is None or queue.props.get("arn") not in self.dead_letter_arns():
            return None
        return queue

    def redrive_source(self, dlq: Node) -> Node | None:
        """The queue whose redrive policy sends its messages to `dlq`."""
        for q in self.of_type(QUEUE):
            target = dig(loads(q.props.get("redrivePolicy")), "deadLetterTargetArn")
            if target and target == dlq.props.get("arn"):
                return q
        return None

    def by_arn(self, arn: Any) -> Node | None:
        """The resource whose `arn` output is `arn` (a queue, a topic, a function...)."""
        if not arn:
            return None
        return next((n for n in self.nodes if n.custom and n.props.get("arn") == arn), None)

    def functions_of_role(self, role_name: Any) -> list[Node]:
        """The functions whose execution role is the role named `role_name` (a role policy's
        `role` is the role's name, a function's is its ARN)."""
        return [
            fn
            for fn in self.of_type(FUNCTION)
            if role_name and str(fn.props.get("role") or "").rsplit("/", 1)[-1] == role_name
        ]

    def invoke_configs_of(self, fn: Node) -> list[Node]:
        refs = {fn.props.get(k) for k in ("arn", "name")} - {None}
        return [c for c in self.of_type(INVOKE_CONFIG) if c.props.get("functionName") in refs]

    def mappings_to(self, fn: Node) -> list[Node]:
        refs = {fn.props.get(k) for k in ("arn", "name")} - {None}
        return [m for m in self.of_type(MAPPING) if m.props.get("functionName") in refs]

    def mappings_from(self, source_arn: Any) -> list[Node]:
        return [m for m in self.of_type(MAPPING) if m.props.get("eventSourceArn") == source_arn]

    def event_targets_to(self, arn: Any) -> list[Node]:
        return [t for t in self.of_type(EVENT_TARGET) if t.props.get("arn") == arn]


def record(
    stack: str,
    project_dir: Path,
    transformations: Sequence[Callable[[Any], Any]] = (),
    config_overrides: dict[str, str] | None = None,
) -> Graph:
    """Run the program under mocks (with `transformations`) and return its graph."""
    mocks = RecordingMocks()
    outputs = run_program(
        project_dir,
        stack,
        mocks,
        config_overrides=config_overrides,
        transformations=transformations,
    )
    graph = Graph.from_registrations(mocks.registrations)
    graph.outputs = dict(outputs)
    return graph
