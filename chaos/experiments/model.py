"""Experiments as data: steady state, method (steps), expectations, rollback.

Each catalog entry is a template for one component type (its `pattern`, a key of
components/outputs.PATTERNS). Targets are dotted paths into the stack outputs written with the
type's key ("queue_worker.queue_url"); `per_instance` makes one experiment per deployed
instance of the type (the stack's `instances` output), its paths rewritten to the instance's
key and its name carrying the instance ("sqs-poison-to-dlq[payments]"). A path may contain
"{sub}", filled per fan-out subscriber.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Literal

from chaos.traffic import Phase
from components import outputs as keys

Entry = Literal["sqs", "sns", "eventbridge", "kinesis", "api", "invoke", "stepfunctions"]
BudgetKind = Literal["sqs", "async", "event_age", "stream", "workflow", "none"]
AttemptsKind = Literal["sqs", "async", "workflow", "eventbridge", "stream"]
Setting = Literal["max_receive_count", "maximum_retry_attempts", "retry_max_attempts"]


@dataclass(frozen=True)
class Budget:
    """How long a failure may take to reach its place, computed at run time from the stack's
    live settings: "sqs" (queue URL path: visibility x maxReceiveCount), "async" / "event_age"
    (function name path: event invoke config + timeout), "stream" (stream_processor outputs),
    "workflow" (workflow outputs: the Retry schedule), "none" (immediate)."""

    kind: BudgetKind = "none"
    path: str = ""


@dataclass(frozen=True)
class Contains:
    """Expected envelope field: a string containing `text` (or any of `alternatives`)."""

    text: str
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Present:
    """Expected envelope field: any value but None / empty."""


@dataclass(frozen=True)
class FromOutput:
    """Expected envelope field: the stack output at `path`, plus `plus` (e.g. retries + 1)."""

    path: str
    plus: int = 0
    at_least: bool = False  # a lower bound (throttled attempts also count as invocations)


@dataclass(frozen=True)
class FromSetting:
    """A value read from the stack's LIVE settings at run time, plus `plus`: "max_receive_count"
    (path: a queue URL), "maximum_retry_attempts" (path: a function name: its event invoke
    config), "retry_max_attempts" (path: a state machine ARN: its task's Retry). Usable as an
    Inject value, e.g. fail attempts 1..maxReceiveCount-1 of each event."""

    setting: Setting
    path: str
    plus: int = 0


@dataclass(frozen=True)
class Attempts:
    """Each dead-lettered event got exactly the attempts the stack declares, read live:
    "sqs" (path: the source queue URL; RedrivePolicy maxReceiveCount = the DLQ message's
    ApproximateReceiveCount), "async" (path: function name; MaximumRetryAttempts + 1 = the
    destination record's approximateInvokeCount), "workflow" (path: state machine ARN; Retry
    MaxAttempts + 1 = the task's scheduled events in the execution history), "eventbridge"
    (path: the pipeline's outputs key; target RetryPolicy MaximumRetryAttempts = the DLQ
    message's RETRY_ATTEMPTS), "stream" (path: mapping UUID; MaximumRetryAttempts + 1, plus up
    to log2(BatchSize) bisect invokes, = the OnFailure record's approximateInvokeCount).
    `ledger`: a function name path whose handler counted its attempts (Inject
    record_attempts=True or fail_attempts): the counts come from its ledger attempts partition
    instead. `events`: "failed" judges the dead-lettered events; "hit" judges every hit event
    from the ledger (a boundary experiment: attempts 1..N-1 failed, attempt N succeeded)."""

    kind: AttemptsKind
    path: str
    ledger: str = ""
    events: Literal["failed", "hit"] = "failed"
    # Output path of the number the stack declares (e.g. "queue_worker.max_receive_count"):
    # the live setting must equal it, and the counts are judged against it.
    declared: str = ""


@dataclass(frozen=True)
class Inject:
    """Turn on fault-injection env flags of a function (failure_rate, latency, timeout, ...);
    a value may be a FromSetting or FromOutput, resolved when the step runs."""

    function: str  # output path of a function name
    faults: dict[str, Any]


@dataclass(frozen=True)
class SetEnv:
    """Set plain env variables of a function (e.g. the slow API's own failure rate)."""

    function: str
    env: dict[str, str | None]


@dataclass(frozen=True)
class ReserveConcurrency:
    function: str
    value: int


@dataclass(frozen=True)
class RevokeGrant:
    """Take a service principal's grant away from a function (its resource policy) or a
    queue (its queue policy): the hop from SNS / EventBridge / API Gateway then fails before
    any function runs, as after a deploy that dropped the Permission or QueuePolicy."""

    on: Literal["function", "queue"]
    target: str  # output path of the function name / queue URL
    principal: str  # e.g. "events.amazonaws.com"


@dataclass(frozen=True)
class DisableMapping:
    mapping_uuid: str  # output path of the mapping's UUID


@dataclass(frozen=True)
class Send:
    """Drive traffic. `hit` events carry "chaos_target": true (the fault's FAILMODES_MATCH
    can select them); `poison` events carry "poison": true; the rest are healthy."""

    entry: Entry
    target: (
        str  # output path of the queue URL / topic ARN / bus / stream / function / API URL / ARN
    )
    healthy: int = 0
    hit: int = 0
    poison: int = 0
    rate: float = 20.0
    phases: tuple[Phase, ...] = ()  # an artillery-like profile instead of `rate`
    max_seconds: float | None = None
    options: dict[str, str] = field(
        default_factory=dict
    )  # extra output paths (api_key, source ...)
    per_subscriber: bool = (
        False  # fan-out: round-robin events over subscribers via filter attributes
    )


@dataclass(frozen=True)
class AwaitSettled:
    """Wait until every id sent so far is where it is accepted (or the budget ends). `places`
    overrides the final expectation for this stage (e.g. "in the DLQ" before a redrive); a
    stage that does not settle fails the experiment."""

    places: dict[str, tuple[tuple[PlaceRef, ...], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class AwaitAttempts:
    """Wait until every event labelled `label` ("hit", or "sub:{failing}" for the faulted
    fan-out subscriber) has reached `count` attempts in the function's attempts ledger (Inject
    record_attempts=True): a redelivery is judged only once it happened, not when the first
    attempt's side effect already makes the event look settled. Not reached in the budget:
    the experiment fails ("attempts reached")."""

    function: str  # output path of the function name
    count: int
    label: str = "hit"


@dataclass(frozen=True)
class UndoFaults:
    """Undo the faults made so far (journal-closed), before the next steps of the method."""


@dataclass(frozen=True)
class InvokeSync:
    """Call a function synchronously with a payload whose string values may be output paths
    written as "@path" (e.g. the redriver with "@queue_worker.dlq_url")."""

    function: str
    payload: dict[str, Any]


Step = (
    Inject
    | SetEnv
    | ReserveConcurrency
    | RevokeGrant
    | DisableMapping
    | Send
    | AwaitSettled
    | AwaitAttempts
    | UndoFaults
    | InvokeSync
)


@dataclass(frozen=True)
class PlaceRef:
    """An expected place: ("processed", function name path) -> its LEDGER_PATTERN partition,
    or (envelope, queue URL path)."""

    envelope: str
    path: str


@dataclass(frozen=True)
class AlarmExpect:
    alarm: str  # output path of the alarm name
    budget: Budget
    to_state: str = "ALARM"
    # A DLQ alarm: output path of the queue it must watch (one the route names). The experiment
    # must leave exactly ONE message there: the alarm is shown to fire on one.
    dlq: str = ""


@dataclass(frozen=True)
class ApiThrottle:
    """The API's usage plan, read live, refuses what the traffic sends over it: some calls
    answered 429 and no more accepted than burst + rate x (send window + slack_s)."""

    api_id: str  # output path of the REST API id
    slack_s: float = 1.0  # token-bucket refill allowed beyond the send window (host jitter)


@dataclass(frozen=True)
class Expect:
    """Where each kind of event must end. By default from the stack's routes:
    healthy -> routes[pattern]["none"], hit -> routes[pattern][failure], poison -> ["poison"].
    `places` overrides per label ("healthy", "hit", "poison", "sub:<name>" with "{sub}" paths):
    a list of alternatives, each a tuple of places the event must be in together."""

    failure: str = "none"
    places: dict[str, tuple[tuple[PlaceRef, ...], ...]] = field(default_factory=dict)
    either: bool = False  # a hit event may also end processed (random faults, retries that win)
    envelope: dict[str, Any] = field(
        default_factory=dict
    )  # fields every failure-route dead letter has
    alarms: tuple[AlarmExpect, ...] = ()
    max_duplicates: int | None = None  # side effects repeated at most this often ("duplicates")
    attempts: tuple[Attempts, ...] = ()
    throttled: ApiThrottle | None = None


@dataclass(frozen=True)
class Experiment:
    name: str
    pattern: str  # key of components/outputs.PATTERNS; also the routes key
    title: str
    fault: str  # one line for the report
    method: tuple[Step, ...]
    expect: Expect
    budget: Budget = Budget()  # how long settling may take, from the stack's settings
    guards: tuple[str, ...] = ()  # alarm output paths: ALARM on any stops the experiment
    ci: bool = False  # part of the fast subset run by `make test`
    # Slack for a slow host on top of the budget computed from the stack's settings: settling
    # later than both fails ("settled within budget"); the report shows both numbers.
    extra_seconds: float = 30.0
    # Experiments sharing a lock run one after another; different locks may run at once
    # (default: the pattern; the two EventBridge experiments share the slow API).
    lock: str = ""
    notes: str = ""
    # Fan-out: the subscriber this instance faults ("{failing}" in its paths). A template
    # leaves it empty; `per_subscriber` runs one instance per subscriber, named
    # "name[instance/sub]".
    failing: str = ""
    # The component instance it runs on (its Pulumi name; `pattern` is then the instance's
    # output key) and the component type it was made for; a template leaves both empty.
    instance: str = ""
    component: str = ""

    @property
    def template(self) -> str:
        """The catalog name this instance was made from (the name without "[...]")."""
        return self.name.split("[", 1)[0]

    @property
    def component_type(self) -> str:
        """The component type of its template (a key of components/outputs.PATTERNS)."""
        return self.component or self.pattern


def mentions_failing(exp: Experiment) -> bool:
    """Whether the experiment faults one fan-out subscriber ("{failing}" anywhere in it)."""
    return "{failing}" in repr((exp.method, exp.expect, exp.budget, exp.guards))


def per_subscriber(
    experiments: Iterable[Experiment],
    subscribers: Iterable[str] | Callable[[Experiment], Iterable[str]],
) -> list[Experiment]:
    """Each experiment that faults a fan-out subscriber, once per subscriber (every consumer
    is failed by some run, not only the first); the others unchanged. `subscribers`: the
    names, or a function giving them for an experiment (its instance's)."""
    out: list[Experiment] = []
    for exp in experiments:
        subs = sorted(subscribers(exp) if callable(subscribers) else subscribers)
        if exp.failing or not mentions_failing(exp) or not subs:
            out.append(exp)
            continue
        for sub in subs:
            where = f"{exp.instance}/{sub}" if exp.instance else sub
            out.append(replace(exp, name=f"{exp.template}[{where}]", failing=sub))
    return out


Instances = Mapping[str, Mapping[str, Any]]  # the `instances` output: key -> {type, name, ...}


def per_instance(experiments: Iterable[Experiment], instances: Instances) -> list[Experiment]:
    """Each template once per deployed instance of its component type, in the instances'
    order: pattern = the instance's output key, paths that start with the type's key
    rewritten to the instance's, name "template[instance name]". Paths into other component
    types (the redrive experiment's `queue_worker.dlq_url`, the pipelines' `slow_api`) are
    left as written: they name that type's first instance. A template with no instance on the
    stack makes no experiment, nor does one whose paths name another type the stack has no
    instance of (the redrive experiment on a program without a redriver), nor a
    crash-after-write one on an instance whose ledger counts events handled (whose other
    experiments judge no duplicates: HANDLED_NOTE); an experiment
    already made for an instance is kept."""
    out: list[Experiment] = []
    for exp in experiments:
        if exp.instance:
            out.append(exp)
            continue
        if not other_types(exp) <= set(instances):
            continue
        for key, entry in instances.items():
            if entry.get("type") != exp.pattern:
                continue
            if counts_side_effects(exp) and entry.get("ledger_records") == "handled":
                continue  # its ledger counts handlings: a repeated side effect is unseen
            name = str(entry.get("name") or key)
            made = _for_instance(exp, key, name)
            if entry.get("ledger_records") == "handled" and exp.expect.max_duplicates is not None:
                made = replace(
                    made,
                    expect=replace(made.expect, max_duplicates=None),
                    notes=(made.notes + " " if made.notes else "") + HANDLED_NOTE,
                )
            out.append(made)
    return out


# Why an instance whose ledger counts events handled gets no "duplicates" verdict: SQS and
# async delivery are at least once, so an event handled twice is no failure, and whether a
# side effect repeated is out of the ledger's sight there.
HANDLED_NOTE = (
    "duplicates not judged: this instance's ledger counts events handled (@chaos_handler), "
    "and a delivery may come twice; whether a side effect repeated is out of its sight"
)


def counts_side_effects(exp: Experiment) -> bool:
    """A crash-after-write experiment (FAIL_PHASE=after): it judges whether a redelivery
    repeats the side effect, which only a ledger of side effects shows, not one of events
    handled (an instance with `ledger_records: handled`: a @chaos_handler on user code, which
    may be idempotent or not out of its sight)."""
    injects = [s for s in exp.method if isinstance(s, Inject)]
    return any(i.faults.get("fail_phase") == "after" for i in injects)


def other_types(exp: Experiment) -> set[str]:
    """The component types other than its own whose outputs the experiment's paths read."""
    heads = {_head(s) for s in strings((exp.method, exp.expect, exp.budget, exp.guards))}
    return (heads & set(keys.PATTERNS)) - {exp.pattern}


def _head(text: str) -> str:
    return text.lstrip("@").split(".", 1)[0].split(":", 1)[0] if "." in text else ""


def strings(value: Any) -> Iterable[str]:
    """Every string in `value`: dataclasses, mappings (keys too), lists, tuples and sets
    walked (the output paths an experiment reads are among them)."""
    if isinstance(value, str):
        yield value
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            yield from strings(getattr(value, f.name))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from strings(v)


def _for_instance(exp: Experiment, key: str, name: str) -> Experiment:
    type_ = exp.pattern

    def path(text: str) -> str:
        for prefix in (f"@{type_}", type_):
            if text == prefix or text.startswith((f"{prefix}.", f"{prefix}:")):
                return f"{prefix.replace(type_, key, 1)}{text[len(prefix) :]}"
        return text

    return replace(
        exp,
        name=f"{exp.name}[{name}]",
        pattern=key,
        instance=name,
        component=type_,
        lock=path(exp.lock) if exp.lock else key,
        method=_rewrite(exp.method, path),
        expect=_rewrite(exp.expect, path),
        budget=_rewrite(exp.budget, path),
        guards=_rewrite(exp.guards, path),
    )


def _rewrite(value: Any, path: Callable[[str], str]) -> Any:
    """`value` with every string in it passed through `path` (dataclasses, tuples, lists and
    dicts walked; dict keys are labels, not paths, and kept)."""
    if isinstance(value, str):
        return path(value)
    if is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _rewrite(getattr(value, f.name), path) for f in fields(value)}
        return replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_rewrite(v, path) for v in value)
    if isinstance(value, list):
        return [_rewrite(v, path) for v in value]
    if isinstance(value, dict):
        return {k: _rewrite(v, path) for k, v in value.items()}
    return value
