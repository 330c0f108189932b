"""Runs one declared experiment: steady state, method, wait, verdicts, and always rollback."""

from __future__ import annotations

import copy
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import budgets, probes
from chaos.budgets import settle_seconds
from chaos.errors import ChaosError, GuardAlarmError, MissingOutputError, PollTimeoutError
from chaos.expectations import (
    Accepted,
    Observed,
    Verdict,
    alarm_budget,
    alarm_fires_on_one,
    alarm_notified,
    alarm_watches,
    alarm_within,
    api_throttled,
    attempts,
    conservation,
    duplicates,
    envelope_fields,
    first_transition,
    place,
    poll_until,
    queue_name,
)
from chaos.experiments.model import (
    AlarmExpect,
    ApiThrottle,
    Attempts,
    AwaitAttempts,
    AwaitSettled,
    Contains,
    DisableMapping,
    Experiment,
    FromOutput,
    FromSetting,
    Inject,
    InvokeSync,
    PlaceRef,
    Present,
    ReserveConcurrency,
    RevokeGrant,
    Send,
    SetEnv,
    UndoFaults,
)
from chaos.faults import Faults
from chaos.stack import Stack
from chaos.traffic import at_rate, drive, new_event, schedule
from chaos.traffic_entries import driver_for, filter_attributes
from chaos.types import AlarmTransition, DeadLetter, SentEvent
from components import outputs as keys

logger = logging.getLogger(__name__)
# Alarm budget slack on top of one metric period: SQS publishes per minute on AWS, the local
# cloud samples every few seconds (stated once here, reported with each alarm verdict).
ALARM_SLACK_LOCAL = 10.0
ALARM_SLACK_AWS = 60.0
NOTIFIED_LOOK_SECONDS = 5.0  # how long the inbox is polled for an alarm that never fired
Progress = Callable[[str], None]


@dataclass
class Context:
    stack: Stack
    exp: Experiment
    faults: Faults
    run_dir: Path
    cloud_info: dict[str, Any]
    progress: Progress
    extra_guards: tuple[str, ...] = ()
    cancel: threading.Event | None = None  # set on Ctrl-C: stop waiting, roll back, report
    settled_after: list[float | None] = field(default_factory=list)  # per AwaitSettled, seconds
    notes: list[str] = field(default_factory=list)  # what the method's calls answered
    watch: dict[str, str] = field(default_factory=dict)  # every queue to look in: url -> envelope
    tokens: list[str] = field(default_factory=list)
    sent: list[SentEvent] = field(default_factory=list)
    labels: dict[str, str] = field(
        default_factory=dict
    )  # event id -> healthy | hit | poison | sub:<name>
    verdicts: list[Verdict] = field(default_factory=list)
    _ledger_patterns: dict[str, str] = field(default_factory=dict)
    # (queue url, message id) -> when a probe first saw it: SQS keeps the original SentTimestamp
    # across a redrive, so a DLQ arrival time can only be observed.
    first_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    # (queue url, message id) -> ApproximateReceiveCount at the probe's first receive of it
    # (that receive included): what the redrive moved it with, before our peeks add theirs.
    first_receive_count: dict[tuple[str, str], int] = field(default_factory=dict)
    # event id -> the most attempts its handler's ledger counted (each ledger read adds here):
    # how many attempts an event failed before it ended, for the suite's floor.
    attempts_seen: dict[str, int] = field(default_factory=dict)
    # A stage (an AwaitSettled before the last) saw sent events in a dead-letter place: they
    # failed every attempt there, whatever happened to them after (a redrive).
    dead_lettered_midway: bool = False

    @property
    def run_id(self) -> str:
        """The run every event of this experiment names (its report directory's id)."""
        return self.run_dir.name

    @property
    def time_scale(self) -> float:
        return float(self.cloud_info.get("time_scale", 1.0)) if self.cloud_info else 1.0

    def subscribers(self) -> list[str]:
        return sorted(self.stack.get(f"{self.exp.pattern}.subscribers"))

    def failing(self) -> str:
        """The fan-out subscriber this experiment faults (its instance's, else the first)."""
        return self.exp.failing or self.subscribers()[0]

    def resolve(self, path: str, sub: str | None = None) -> Any:
        fmt: dict[str, str] = {}
        if "{failing}" in path or "{sub}" in path:
            fmt = {"failing": self.failing(), "sub": sub or ""}
        return self.stack.get(path.format(**fmt))

    def place_of(self, ref: PlaceRef, sub: str | None = None) -> str:
        target = self.resolve(ref.path, sub)
        if ref.envelope != "processed":
            return place(ref.envelope, target)
        if target not in self._ledger_patterns:
            env = probes.function_env(self.stack, target)
            if "LEDGER_PATTERN" not in env:
                raise MissingOutputError(f"function {target} has no LEDGER_PATTERN in its env")
            self._ledger_patterns[target] = env["LEDGER_PATTERN"]
        return place("processed", self._ledger_patterns[target])

    def route_places(self, failure: str, pattern: str | None = None) -> frozenset[str]:
        """Every place the stack's routes output names for this failure (main + `also`)."""
        route = self.stack.get(f"{keys.ROUTES}.{pattern or self.exp.pattern}.{failure}")
        if route["envelope"] == "processed":
            return frozenset({place("processed", route["ledger_pattern"])})
        targets = [route, *(route.get("also") or [])]
        return frozenset(place(t["envelope"], t.get("queue_url")) for t in targets)

    def accepted(self, event_id: str, overrides: dict[str, Any] | None = None) -> Accepted:
        label = self.labels[event_id]
        sub = label.removeprefix("sub:") if label.startswith("sub:") else None
        for table in (overrides or {}, self.exp.expect.places):
            if label in table:
                return [frozenset(self.place_of(r, sub) for r in alt) for alt in table[label]]
        if sub is not None:
            # Fan-out: each subscriber has its own routes key; only the failing one is faulted.
            failing = sub == self.failing()
            failure = self.exp.expect.failure if failing else "none"
            return [self.route_places(failure, f"{self.exp.pattern}:{sub}")]
        failure = {"healthy": "none", "poison": "poison"}.get(label, self.exp.expect.failure)
        out = [self.route_places(failure)]
        if label == "hit" and self.exp.expect.either:
            out.append(self.route_places("none"))
        return out

    def failed_before_processed(self, observed: Observed) -> int:
        """The most attempts a processed event failed before the one that processed it: its
        handler's ledger count less one (0 when no ledger counted its attempts)."""
        processed = {i for ids in observed.processed.values() for i in ids}
        return max((n - 1 for i, n in self.attempts_seen.items() if i in processed), default=0)

    def accepted_all(self, overrides: dict[str, Any] | None = None) -> dict[str, Accepted]:
        return {s["id"]: self.accepted(s["id"], overrides) for s in self.sent}

    def observe(self, accepted: dict[str, Accepted]) -> Observed:
        # Every queue the experiment's events could reach, not only the accepted ones, so an
        # event in the wrong queue is reported there (misplaced) instead of as lost.
        places = {p for alts in accepted.values() for alt in alts for p in alt}
        places |= {place(envelope, url) for url, envelope in self.watch.items()}
        obs = Observed()
        for p in sorted(places):
            envelope, where = p.split(":", 1)
            if envelope == "rejected":
                continue  # refused synchronously: the failed send itself is the evidence
            if envelope == "processed":
                table = self.stack.get(keys.LEDGER_TABLE)
                obs.processed[where] = probes.ledger(self.stack, table, where)
            else:
                found = probes.read_dead_letters(self.stack, envelope, where)  # type: ignore[arg-type]
                now = time.time()
                for dl in found:
                    self.first_seen.setdefault((where, dl["message_id"]), now)
                    if dl.get("receive_count") is not None:
                        self.first_receive_count.setdefault(
                            (where, dl["message_id"]),
                            int(dl["receive_count"]),  # type: ignore[arg-type]
                        )
                obs.dead_letters.extend(found)
        return obs

    def guard_names(self) -> list[str]:
        return [str(self.resolve(g)) for g in self.exp.guards] + list(self.extra_guards)

    def check_guards(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ChaosError("cancelled (Ctrl-C): stopped waiting, faults rolled back")
        names = self.guard_names()
        firing = [n for n, a in probes.alarms(self.stack, names).items() if a["state"] == "ALARM"]
        if firing:
            raise GuardAlarmError(firing)


def _expected_value(ctx: Context, want: Any) -> Any:
    if isinstance(want, FromOutput):
        value = int(ctx.resolve(want.path)) + want.plus
        if not want.at_least:
            return value

        def at_least(got: Any, bound: int = value) -> bool:
            return isinstance(got, int) and got >= bound

        at_least.__doc__ = f"at least {value}"
        return at_least
    if isinstance(want, Contains):
        texts = (want.text, *want.alternatives)

        def contains(got: Any) -> bool:
            return isinstance(got, str) and any(t in got for t in texts)

        contains.__doc__ = "a string containing " + " or ".join(repr(t) for t in texts)
        return contains
    if isinstance(want, Present):

        def present(got: Any) -> bool:
            return got not in (None, "", [], {})

        present.__doc__ = "a value"
        return present
    return want


def step_value(ctx: Context, value: Any) -> Any:
    """A method step's value: a FromSetting read live, a FromOutput from the outputs."""
    if isinstance(value, FromSetting):
        return budgets.live_setting(ctx.stack, value.setting, str(ctx.resolve(value.path))) + (
            value.plus
        )
    if isinstance(value, FromOutput):
        return int(ctx.resolve(value.path)) + value.plus
    return value


def business_event(ctx: Context) -> dict[str, Any]:
    """The instance's declared event of its business (`instances.<key>.event`), which every
    event sent to it carries beside its id and markers; empty when it declares none."""
    index = ctx.stack.outputs.get(keys.INSTANCES)
    entry = index.get(ctx.exp.pattern) if isinstance(index, dict) else None
    event = entry.get("event") if isinstance(entry, dict) else None
    return copy.deepcopy(event) if isinstance(event, dict) else {}


def _send(ctx: Context, step: Send) -> None:
    events: list[dict[str, Any]] = []
    base = business_event(ctx)
    if step.per_subscriber:
        subs = ctx.subscribers()
        for i in range(step.hit):
            sub = subs[i % len(subs)]
            events.append(new_event(subscriber=sub, run=ctx.run_id, base=base))
            ctx.labels[events[-1]["id"]] = f"sub:{sub}"
    else:
        for label, count in (("healthy", step.healthy), ("hit", step.hit), ("poison", step.poison)):
            for _ in range(count):
                event = new_event(
                    poison=label == "poison",
                    run=ctx.run_id,
                    base=base,
                    **({"chaos_target": True} if label == "hit" else {}),
                )
                ctx.labels[event["id"]] = label
                events.append(event)
        # Interleave so a failing event is not always last in its batch.
        events.sort(key=lambda e: e["id"])
    attrs = None
    if step.per_subscriber:
        routes = ctx.stack.get(keys.ROUTES)
        by_sub = {}
        for sub in ctx.subscribers():
            route = routes.get(f"{ctx.exp.pattern}:{sub}", {}).get("none", {})
            by_sub[sub] = route.get("message_attributes") or filter_attributes(
                ctx.stack.get(f"{ctx.exp.pattern}.subscribers.{sub}.filter_policy")
            )

        def attrs(event: dict[str, Any]) -> dict[str, str]:
            return by_sub[event["subscriber"]]

    send = driver_for(ctx.stack, step, ctx.resolve, attributes=attrs)
    offsets = (
        schedule(step.phases, max_events=len(events), max_seconds=step.max_seconds)
        if step.phases
        else at_rate(step.rate, len(events))
    )
    ctx.progress(f"sending {len(events)} events via {step.entry}")
    ctx.sent.extend(
        drive(send, step.entry, events[: len(offsets)], offsets, max_seconds=step.max_seconds)
    )


def _await(ctx: Context, step: AwaitSettled, timeout: float, final: bool) -> Observed:
    accepted = ctx.accepted_all(step.places or None)

    def done(obs: Observed) -> bool:
        places = obs.places()
        return all(
            frozenset(places.get(i, {})) in alts
            for i, alts in accepted.items()
            if any(s["id"] == i and s["ok"] for s in ctx.sent)
        )

    ctx.progress(f"waiting up to {timeout:.0f}s for {len(accepted)} events to settle")
    t0 = time.monotonic()
    try:
        observed = poll_until(
            lambda: ctx.observe(accepted),
            done,
            timeout=timeout,
            what=f"{ctx.exp.name}: events settled",
            check=ctx.check_guards,
        )
        ctx.settled_after.append(round(time.monotonic() - t0, 1))
        if not final:
            sent = {s["id"] for s in ctx.sent if s["ok"]}
            ctx.dead_lettered_midway |= any(
                str(dl.get("event_id")) in sent for dl in observed.dead_letters
            )
        return observed
    except PollTimeoutError as exc:
        ctx.settled_after.append(None)
        if not final:
            ctx.verdicts.append(Verdict("stage settled", False, [str(exc)]))
            raise
        logger.warning("%s", exc)
        return ctx.observe(accepted)


def _invoke_sync(ctx: Context, step: InvokeSync) -> None:
    payload = {
        k: ctx.resolve(v[1:]) if isinstance(v, str) and v.startswith("@") else v
        for k, v in step.payload.items()
    }
    name = ctx.resolve(step.function)
    ctx.progress(f"invoking {name}")
    resp = ctx.stack.client("lambda").invoke(
        FunctionName=name, Payload=json.dumps(payload).encode()
    )
    body = resp["Payload"].read()
    ctx.notes.append(f"{name} answered: {body[:500].decode(errors='replace')}")
    if resp.get("FunctionError"):
        raise ChaosError(f"{name} failed: {body[:300]!r}")


def run_method(ctx: Context, settle_timeout: float) -> Observed | None:
    observed = None
    steps = ctx.exp.method
    for n, step in enumerate(steps):
        final = not any(isinstance(s, AwaitSettled) for s in steps[n + 1 :])
        if isinstance(step, Inject):
            values = {k: step_value(ctx, v) for k, v in step.faults.items()}
            ctx.progress(f"inject {values} into {step.function}")
            ctx.tokens.append(ctx.faults.inject(ctx.resolve(step.function), **values))
        elif isinstance(step, SetEnv):
            ctx.tokens.append(ctx.faults.set_env(ctx.resolve(step.function), step.env))
        elif isinstance(step, ReserveConcurrency):
            ctx.tokens.append(
                ctx.faults.set_reserved_concurrency(ctx.resolve(step.function), step.value)
            )
        elif isinstance(step, RevokeGrant):
            ctx.tokens.append(
                ctx.faults.revoke_grant(step.on, ctx.resolve(step.target), step.principal)
            )
        elif isinstance(step, DisableMapping):
            ctx.tokens.append(ctx.faults.set_mapping_enabled(ctx.resolve(step.mapping_uuid), False))
        elif isinstance(step, Send):
            _send(ctx, step)
        elif isinstance(step, AwaitSettled):
            observed = _await(ctx, step, settle_timeout, final)
        elif isinstance(step, UndoFaults):
            for token in reversed(ctx.tokens):
                ctx.faults.undo(token)
            ctx.tokens.clear()
        elif isinstance(step, InvokeSync):
            _invoke_sync(ctx, step)
        elif isinstance(step, AwaitAttempts):
            _await_attempts(ctx, step, settle_timeout)
    return observed


def _await_attempts(ctx: Context, step: AwaitAttempts, timeout: float) -> None:
    label = step.label.format(failing=ctx.failing()) if "{" in step.label else step.label
    ids = [s["id"] for s in ctx.sent if s["ok"] and ctx.labels.get(s["id"]) == label]
    name = f"attempts reached {step.count}"
    ctx.progress(
        f"waiting up to {timeout:.0f}s for {len(ids)} events to reach attempt {step.count}"
    )
    counts: dict[str, int | None] = {}
    try:
        counts = poll_until(
            lambda: _ledger_attempts(ctx, step.function, dict.fromkeys(ids)),
            lambda got: all((got.get(i) or 0) >= step.count for i in ids),
            timeout=timeout,
            what=f"{ctx.exp.name}: {len(ids)} {label} events at attempt {step.count}",
            check=ctx.check_guards,
        )
    except PollTimeoutError as exc:
        ctx.verdicts.append(Verdict(name, False, [str(exc)]))
        raise
    if not ids:
        ctx.verdicts.append(Verdict(name, False, [f"no {label} event was sent"]))
        raise ChaosError(f"{name}: no {label} event was sent")
    ctx.verdicts.append(Verdict(name, True, [], {"events": len(counts)}))


def judge(ctx: Context, observed: Observed, started: float) -> list[dict[str, Any]]:
    """Conservation, duplicates, envelope fields, attempts and alarm verdicts; returns the
    alarm rows for the report."""
    accepted = ctx.accepted_all()
    ctx.verdicts.append(conservation(ctx.sent, accepted, observed, run_id=ctx.run_id))
    if ctx.exp.expect.max_duplicates is not None:
        ids = [s["id"] for s in ctx.sent]
        ctx.verdicts.append(duplicates(observed, ids, ctx.exp.expect.max_duplicates))
    chosen = _failure_dead_letters(ctx, accepted, observed)
    if ctx.exp.expect.envelope:
        expected = {k: _expected_value(ctx, v) for k, v in ctx.exp.expect.envelope.items()}
        # A destination record has no RequestID attribute and a DLQ message no condition: judge
        # each field only on the envelope kinds that carry it.
        by_kind: dict[str, list[Any]] = {}
        for dl in chosen:
            by_kind.setdefault(dl["envelope"], []).append(dl)
        for kind, dls in sorted(by_kind.items()):
            fields = {k: v for k, v in expected.items() if _carries(kind, k)}
            if fields:
                ctx.verdicts.append(envelope_fields(dls, fields, name=f"envelope {kind}"))
    for spec in ctx.exp.expect.attempts:
        ctx.verdicts.append(_attempts_verdict(ctx, spec, chosen))
    if ctx.exp.expect.throttled is not None:
        ctx.verdicts.append(_throttled_verdict(ctx, ctx.exp.expect.throttled))
    rows = []
    for a in ctx.exp.expect.alarms:
        rows += _judge_alarm(ctx, a, started)
    return rows


def _throttled_verdict(ctx: Context, spec: ApiThrottle) -> Verdict:
    api_id = str(ctx.resolve(spec.api_id))
    try:
        rate, burst = budgets.usage_plan_throttle(ctx.stack, api_id)
    except budgets.MissingSettingError as exc:
        return Verdict(f"usage plan throttles {spec.api_id}", False, [f"missing setting: {exc}"])
    return api_throttled(ctx.sent, rate, burst, spec.slack_s, label=spec.api_id)


def _failure_dead_letters(
    ctx: Context, accepted: dict[str, Any], observed: Observed
) -> list[DeadLetter]:
    """Dead letters of the failing events (hit, poison) in the places their routes name."""
    failure_places = {
        p
        for i, alts in accepted.items()
        if ctx.labels[i] in ("hit", "poison") or ctx.labels[i].startswith("sub:")
        for alt in alts
        for p in alt
        if not p.startswith("processed:")
    }
    return [
        dl
        for dl in observed.dead_letters
        if place(dl["envelope"], dl["queue_url"]) in failure_places and dl.get("event_id")
    ]


def _attempts_verdict(ctx: Context, spec: Attempts, chosen: list[DeadLetter]) -> Verdict:
    """Counts from where AWS puts them (or the handler's attempts ledger) against the number
    the stack declares (its output, when the spec names one) AND its live setting; a live
    setting that differs from the declared one, or is missing, fails the verdict by name."""
    envelope = {
        "sqs": "sqs_redrive",
        "async": "destination",
        "workflow": "failure_record",
        "eventbridge": "eventbridge_dlq",
        "stream": "kinesis_on_failure",
    }[spec.kind]
    dls = [dl for dl in chosen if dl["envelope"] == envelope]
    if spec.ledger:
        # The handler counted them: every failing event's dead letter names it, whatever the
        # envelope (a function DLQ message carries no count of its own).
        dls = list({str(dl["event_id"]): dl for dl in chosen}.values())
        envelope = "+".join(sorted({dl["envelope"] for dl in chosen})) or envelope
    name = f"attempts {envelope}" + (" (ledger)" if spec.ledger else "")
    if spec.events == "hit":
        name = f"attempts of processed hit events ({spec.kind})"
    target = ctx.resolve(spec.path)
    problems: list[str] = []
    upper: int | None = None
    declared: int | dict[str, int]
    try:
        live, setting = _live_attempt_setting(ctx, spec, target)
        value = live
        if spec.declared:
            value = int(ctx.resolve(spec.declared))
            if value != live:
                problems.append(
                    f"live {setting} is {live}, the stack declares {value} ({spec.declared})"
                )
        if spec.kind == "sqs":
            declared = value
            counts = {str(dl["event_id"]): _receives_before_peek(ctx, dl) for dl in dls}
        elif spec.kind in ("async", "stream"):
            declared = value + 1
            setting += " + 1"
            if spec.kind == "stream":
                _, batch, bisect = budgets.stream_mapping(ctx.stack, str(target))
                if bisect:
                    upper = declared + budgets.bisect_invokes(batch)
                    setting += f" (+ up to {upper - declared} bisect invokes)"
            counts = {str(dl["event_id"]): dl.get("approximate_invoke_count") for dl in dls}
        elif spec.kind == "workflow":
            step_arn = str(target["step"]["arn"])
            retriers = budgets.task_retriers(ctx.stack, str(target["state_machine_arn"]), step_arn)
            # The declared MaxAttempts is the catch-all retrier's; others (poison) keep theirs.
            retriers = [
                {**r, "MaxAttempts": value} if "States.ALL" in r.get("ErrorEquals", []) else r
                for r in retriers
            ]
            executions = {s["id"]: s["detail"] for s in ctx.sent if s["ok"]}
            declared = {
                str(dl["event_id"]): budgets.retrier_max_attempts(retriers, dl.get("error_code"))
                + 1
                for dl in dls
            }
            setting = f"the matching Retry MaxAttempts + 1 of {target['step']['name']}"
            counts = {
                str(dl["event_id"]): probes.task_attempts(
                    ctx.stack, executions[str(dl["event_id"])], step_arn
                )
                for dl in dls
                if str(dl["event_id"]) in executions
            }
        else:
            declared = value
            counts = {str(dl["event_id"]): dl.get("retry_attempts") for dl in dls}
        if spec.events == "hit":
            if not spec.ledger:
                raise ChaosError(f"{name}: events='hit' needs a ledger (the handler's count)")
            counts = {i: None for i, label in ctx.labels.items() if label == "hit"}
            if spec.kind == "workflow":
                # A hit event fails with the injected error, which only States.ALL matches.
                declared = budgets.retrier_max_attempts(retriers, None) + 1
        if spec.ledger:
            counts = _ledger_attempts(ctx, spec.ledger, counts)
            setting += " (counted by the handler's attempts ledger)"
    except budgets.MissingSettingError as exc:
        return Verdict(name, False, [f"missing setting: {exc}"])
    verdict = attempts(counts, declared, what=envelope, setting=setting, upper=upper, name=name)
    verdict.problems[:0] = problems
    verdict.passed = verdict.passed and not problems
    return verdict


def _live_attempt_setting(ctx: Context, spec: Attempts, target: Any) -> tuple[int, str]:
    """The live number behind the declared attempts, and how to name it."""
    if spec.kind == "sqs":
        return budgets.redrive(ctx.stack, str(target))[1], (
            f"maxReceiveCount of {queue_name(str(target))}"
        )
    if spec.kind == "async":
        return budgets.async_settings(ctx.stack, str(target))[0], (
            f"MaximumRetryAttempts of {target}"
        )
    if spec.kind == "stream":
        retries = budgets.stream_mapping(ctx.stack, str(target))[0]
        if retries < 0:
            raise budgets.MissingSettingError(
                f"mapping {target} retries forever (MaximumRetryAttempts -1):"
                " no attempt count is declared"
            )
        return retries, f"MaximumRetryAttempts of mapping {target}"
    if spec.kind == "workflow":
        retriers = budgets.task_retriers(
            ctx.stack, str(target["state_machine_arn"]), str(target["step"]["arn"])
        )
        return budgets.retrier_max_attempts(retriers, None), (
            f"Retry MaxAttempts (States.ALL) of {target['step']['name']}"
        )
    rule = str(target["rule_name"])
    return budgets.target_retries(ctx.stack, rule, str(target["event_bus_name"])), (
        f"RetryPolicy MaximumRetryAttempts of {rule}'s target"
    )


def _receives_before_peek(ctx: Context, dl: DeadLetter) -> int | None:
    got = ctx.first_receive_count.get((dl["queue_url"], dl["message_id"]))
    return None if got is None else got - 1  # our own first receive is in the count


def _ledger_attempts(
    ctx: Context, function_path: str, counts: dict[str, int | None]
) -> dict[str, int | None]:
    from functions.faults import settings as fault_settings  # the partition's one definition

    function = str(ctx.resolve(function_path))
    pattern = probes.function_env(ctx.stack, function).get("LEDGER_PATTERN")
    if not pattern:
        raise MissingOutputError(f"function {function} has no LEDGER_PATTERN in its env")
    table = ctx.stack.get(keys.LEDGER_TABLE)
    seen = probes.ledger(ctx.stack, table, fault_settings.attempts_partition(pattern))
    for event_id in counts:
        if seen.get(event_id):
            ctx.attempts_seen[event_id] = max(ctx.attempts_seen.get(event_id, 0), seen[event_id])
    return {event_id: seen.get(event_id) for event_id in counts}


def _judge_alarm(ctx: Context, a: AlarmExpect, started: float) -> list[dict[str, Any]]:
    name = str(ctx.resolve(a.alarm))
    conf = probes.alarms(ctx.stack, [name]).get(name)
    if conf is None:
        ctx.verdicts.append(
            Verdict(f"alarm {a.alarm} exists", False, [f"alarm {name} does not exist"])
        )
        return []
    try:
        delivery = settle_seconds(ctx.stack, a.budget, ctx.resolve, ctx.time_scale)
    except budgets.MissingSettingError as exc:
        ctx.verdicts.append(Verdict(f"alarm {a.alarm} budget", False, [f"missing setting: {exc}"]))
        return []
    slack = conf["period"] + (ALARM_SLACK_LOCAL if ctx.cloud_info else ALARM_SLACK_AWS)
    budget = alarm_budget(delivery, conf["period"], conf["evaluation_periods"], slack)
    # Keep watching a while past the budget, so a late alarm is measured, not just missed.
    remaining = max(budget - (time.time() - started), 1.0) + min(budget * 0.5, 60.0)
    ctx.progress(f"waiting up to {remaining:.0f}s for {name} -> {a.to_state}")
    try:
        history = poll_until(
            functools.partial(probes.alarm_history, ctx.stack, name, since=started),
            functools.partial(_reached, a.to_state),
            timeout=remaining,
            what=f"{name} -> {a.to_state}",
        )
    except PollTimeoutError:
        history = probes.alarm_history(ctx.stack, name, since=started)
    # Verdicts are named by the alarm's output path (stable across deploys: the mutation
    # runner reports them as "the check that caught it"); problems name the live alarm.
    label = a.alarm
    verdict = alarm_within(
        history,
        name,
        start=started,
        budget=budget,
        to_state=a.to_state,
        name=f"alarm {label} -> {a.to_state}",
    )
    verdict.figures["budget_slack_s"] = round(slack, 1)
    ctx.verdicts.append(verdict)
    fired = first_transition(history, name, start=started, to_state=a.to_state)
    if a.dlq:
        queue = str(ctx.resolve(a.dlq))
        # Every queue the routes name for this experiment's failing events (hit, poison, ...).
        route_queues = {
            p.split(":", 1)[1]
            for alts in ctx.accepted_all().values()
            for alt in alts
            for p in alt
            if not p.startswith(("processed:", "rejected:"))
        }
        ctx.verdicts.append(
            alarm_watches(name, conf, queue, route_queues, label=label, queue_label=a.dlq)
        )
        # One more look, so a message that arrived after the events settled is counted too.
        for dl in probes.read_dead_letters(ctx.stack, ctx.watch.get(queue, "sqs_redrive"), queue):  # type: ignore[arg-type]
            ctx.first_seen.setdefault((queue, dl["message_id"]), time.time())
        arrivals = {m: t for (url, m), t in ctx.first_seen.items() if url == queue}
        ctx.verdicts.append(alarm_fires_on_one(name, queue, arrivals, fired, label=label))
    # An alarm that never changed state has nothing to notify: look once, do not wait it out.
    wait = remaining if fired is not None else NOTIFIED_LOOK_SECONDS
    ctx.verdicts.append(_notified(ctx, name, label, a.to_state, started, budget, wait))
    return [
        {
            "alarm": name,
            "to_state": a.to_state,
            **verdict.figures,
            "passed": verdict.passed,
            "transitions": history,
        }
    ]


def _notified(
    ctx: Context,
    name: str,
    label: str,
    to_state: str,
    started: float,
    budget: float,
    wait: float,
) -> Verdict:
    """The alarm topic's SQS inbox got the notification. The inbox is shared by experiments
    running at once: it is peeked (never consumed) and filtered by alarm name."""
    inbox = ctx.stack.outputs.get(keys.ALARM_INBOX_QUEUE_URL)
    if not inbox:
        return Verdict(
            f"alarm {label} notified", False, [f"the stack has no {keys.ALARM_INBOX_QUEUE_URL}"]
        )

    def check(messages: list[dict[str, Any]]) -> Verdict:
        return alarm_notified(
            name, messages, start=started, budget=budget, to_state=to_state, label=label
        )

    try:
        messages = poll_until(
            functools.partial(probes.peek_queue, ctx.stack, str(inbox)),
            lambda got: check(got).passed,
            timeout=max(wait, NOTIFIED_LOOK_SECONDS),
            what=f"{name} notification in the alarm inbox",
        )
    except PollTimeoutError:
        messages = probes.peek_queue(ctx.stack, str(inbox))
    return check(messages)


def _reached(state: str, history: list[AlarmTransition]) -> bool:
    return any(t["new"] == state for t in history)


_FIELDS_BY_KIND = {
    "lambda_dlq": {"request_id", "error_code", "error_message", "payload"},
    "destination": {
        "condition",
        "approximate_invoke_count",
        "request_id",
        "error_code",
        "error_message",
        "payload",
    },
    "kinesis_on_failure": {"condition", "pointer", "payload"},
    "eventbridge_dlq": {
        "error_code",
        "error_message",
        "rule_arn",
        "target_arn",
        "retry_attempts",
        "payload",
    },
    "failure_record": {"error_code", "error_message", "payload"},
}


def _carries(kind: str, field_name: str) -> bool:
    return field_name in _FIELDS_BY_KIND.get(kind, {"payload"})
