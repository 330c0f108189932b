"""Run experiments against a stack: steady state, method, verdicts, rollback, report rows."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chaos import probes
from chaos.budgets import MissingSettingError, settle_and_floor_seconds
from chaos.errors import (
    ChaosError,
    ForeignFaultError,
    GuardAlarmError,
    GuardMissingError,
    JournalError,
    MissingOutputError,
    PollTimeoutError,
    aws_call,
)
from chaos.expectations import Observed, Verdict, conservation, poll_until, settled_within
from chaos.experiments.model import (
    AwaitSettled,
    Experiment,
    InvokeSync,
    per_instance,
    per_subscriber,
)
from chaos.faults import Faults
from chaos.journal import Journal, describe_identity, same_identity
from chaos.lease import Lease
from chaos.runner import Context, judge, run_method
from chaos.stack import Stack
from components import outputs as keys
from functions.faults import settings as fault_settings

logger = logging.getLogger(__name__)

STEADY_STATE_TIMEOUT = 120.0
SETTLE_FACTOR = 2.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Checks of the stack's configuration before any traffic (chaos.preflight.preflight):
# (stack, pattern) -> verdicts; a failing one stops the experiment before it sends.
Preflight = Callable[[Stack, str], list[Verdict]]


def watched_queues(ctx: Context) -> dict[str, str]:
    """queue URL -> envelope kind, for every queue this experiment's events may end in."""
    out: dict[str, str] = {}
    all_routes = ctx.stack.outputs.get(keys.ROUTES, {})
    # A pattern's own key, and per-part keys such as "fan_out:<subscriber>".
    routes = [
        route
        for key, by_failure in all_routes.items()
        if key == ctx.exp.pattern or key.startswith(f"{ctx.exp.pattern}:")
        for route in by_failure.values()
    ]
    for route in routes:
        for target in [route, *(route.get("also") or [])]:
            if target.get("queue_url"):
                out[target["queue_url"]] = target["envelope"]
    tables = [ctx.exp.expect.places] + [
        s.places for s in ctx.exp.method if isinstance(s, AwaitSettled)
    ]
    subs = ctx.subscribers() if ctx.exp.component_type == keys.FAN_OUT else [None]
    for table in tables:
        for alts in table.values():
            for alt in alts:
                for ref in alt:
                    if ref.envelope == "processed":
                        continue
                    for sub in subs:
                        out[str(ctx.resolve(ref.path, sub))] = ref.envelope
    return out


def _steady_state(ctx: Context, queues: dict[str, str]) -> None:
    """Start from empty queues, quiet guards, and the expected alarms out of ALARM."""
    ctx.progress("steady state: draining queues, checking alarms")
    for url in queues:
        probes.drain_queue(ctx.stack, url, ctx.run_dir / "dlq" / f"{ctx.exp.name}.before.jsonl")
    ctx.check_guards()
    names = [str(ctx.resolve(a.alarm)) for a in ctx.exp.expect.alarms]
    if names:
        poll_until(
            lambda: probes.alarms(ctx.stack, names),
            lambda got: all(a["state"] != "ALARM" for a in got.values()),
            timeout=STEADY_STATE_TIMEOUT,
            what=f"steady state: {names} out of ALARM",
        )


def _timeline(
    ctx: Context, observed: Observed | None, alarm_rows: list[dict[str, Any]], started: float
) -> dict[str, Any]:
    def rel(ts: float | None) -> float | None:
        return None if ts is None else round(ts - started, 3)

    return {
        "start": started,
        "sent": [rel(s["at"]) for s in ctx.sent if s["ok"]],
        "failed_sends": [rel(s["at"]) for s in ctx.sent if not s["ok"]],
        "failures": _failures(ctx, started),
        # when the probe first saw each DLQ message (polled, so within one poll interval)
        "dlq": sorted(t - started for t in ctx.first_seen.values()),
        "alarms": [
            {"alarm": t["alarm"], "at": rel(t["at"]), "old": t["old"], "new": t["new"]}
            for row in alarm_rows
            for t in row.get("transitions", [])
        ],
        "end": rel(time.time()),
    }


def _failures(ctx: Context, started: float) -> list[list[float]]:
    """[offset s, errors] from AWS/Lambda Errors of the functions the experiment involves."""
    names: set[str] = set()
    for step in ctx.exp.method:
        path = getattr(step, "function", None)
        if isinstance(path, str) and not isinstance(step, InvokeSync):
            names.add(str(ctx.resolve(path)))
    try:
        names.add(str(ctx.stack.get(f"{ctx.exp.pattern}.function.name")))
    except MissingOutputError:
        pass  # a pattern without one function (fan-out, workflow): the faulted ones suffice
    points: list[list[float]] = []
    for name in sorted(names):
        try:
            got = probes.metric_points(
                ctx.stack, "AWS/Lambda", "Errors", {"FunctionName": name}, started, time.time()
            )
        except ChaosError as exc:
            logger.warning("no Errors metric for %s: %s", name, exc)
            continue
        points += [[round(ts - started, 3), value] for ts, value in got if value > 0]
    return sorted(points)


def run_experiment(
    stack: Stack,
    exp: Experiment,
    *,
    faults: Faults,
    run_dir: Path,
    cloud_info: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    extra_guards: Iterable[str] = (),
    cancel: threading.Event | None = None,
    preflight: Preflight | None = None,
) -> dict[str, Any]:
    """One experiment, whatever happens: faults are undone and its queues drained to run_dir.

    `preflight` (default: none) judges the stack's configuration, read back from the cloud,
    before any traffic; each finding is a failing verdict of the experiment."""
    ctx = Context(
        stack,
        exp,
        faults,
        run_dir,
        cloud_info,
        progress or (lambda _m: None),
        tuple(extra_guards),
        cancel=cancel,
    )
    t0 = time.monotonic()
    started = began_at = time.time()
    observed: Observed | None = None
    alarm_rows: list[dict[str, Any]] = []
    error: str | None = None
    stopped = False
    queues: dict[str, str] = {}
    budget = computed = floor = partial = 0.0
    try:
        if preflight is not None:
            # A finding fails the experiment, but its traffic still runs: the report then
            # shows what the misconfiguration does to events, as well as that it is there.
            try:
                ctx.verdicts.extend(preflight(stack, exp.pattern))
            except ChaosError as exc:  # e.g. a resource the outputs name is gone
                ctx.verdicts.append(Verdict("preflight", False, [str(exc)]))
        queues = watched_queues(ctx)
        ctx.watch = dict(queues)
        try:
            computed, floor = settle_and_floor_seconds(
                stack, exp.budget, ctx.resolve, ctx.time_scale
            )
        except MissingSettingError as exc:
            ctx.verdicts.append(Verdict("budget from live settings", False, [str(exc)]))
            raise
        budget = computed + exp.extra_seconds
        _steady_state(ctx, queues)
        started = time.time()
        # The budget is what the stack's settings promise plus the stated slack; waiting up to
        # twice as long lets a slow machine show up as late ("settled within budget" fails)
        # rather than as lost events, which would be a different and false claim.
        observed = run_method(ctx, budget * SETTLE_FACTOR)
        if observed is None:
            observed = ctx.observe(ctx.accepted_all())
        stages = ctx.settled_after
        latest = None if not stages or None in stages else max(s for s in stages if s is not None)
        ctx.verdicts.append(settled_within(latest, computed, exp.extra_seconds))
        alarm_rows = judge(ctx, observed, started)
        retried = ctx.failed_before_processed(observed)
        if retried:  # events processed after failed attempts sat out those attempts' waits
            try:
                partial = settle_and_floor_seconds(
                    stack, exp.budget, ctx.resolve, ctx.time_scale, failed=retried
                )[1]
            except ChaosError as exc:  # read once already: the summary's figure, not a verdict
                logger.warning("%s: no floor for %d failed attempts: %s", exp.name, retried, exc)
    except GuardAlarmError as exc:
        error, stopped = str(exc), True
    except (ChaosError, PollTimeoutError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        ctx.progress("rolling back")
        rollback_errors = []
        for token in reversed(ctx.tokens):
            try:
                faults.undo(token)
            except ChaosError as exc:  # the journal keeps it; `chaos rollback` retries
                rollback_errors.append(str(exc))
        if rollback_errors:
            error = (error + "; " if error else "") + "rollback: " + "; ".join(rollback_errors)
        if error and ctx.sent and observed is None:
            try:
                observed = ctx.observe(ctx.accepted_all())
                ctx.verdicts.append(
                    conservation(ctx.sent, ctx.accepted_all(), observed, run_id=ctx.run_id)
                )
            except ChaosError as exc:
                logger.warning("could not observe after error: %s", exc)
        for url in queues:
            try:
                probes.drain_queue(stack, url, run_dir / "dlq" / f"{exp.name}.jsonl")
            except ChaosError as exc:
                logger.warning("could not drain %s: %s", url, exc)
    if error:
        ctx.verdicts.append(Verdict("ran to the end", False, [error]))
    cons = next((v for v in ctx.verdicts if v.name == "conservation"), None)
    figures = cons.figures if cons is not None else {}
    passed = bool(ctx.verdicts) and all(v.passed for v in ctx.verdicts) and not error
    return {
        "name": exp.name,
        "pattern": exp.pattern,  # the instance's output key
        "component": exp.component_type,
        "instance": exp.instance,
        "template": exp.template,
        "title": exp.title,
        "fault": exp.fault,
        "verdict": "pass"
        if passed
        else ("stopped" if stopped else ("error" if error and cons is None else "fail")),
        "sent": figures.get("sent", len(ctx.sent)),
        "processed": figures.get("processed", 0),
        "dead_lettered": figures.get("dead_lettered", 0),
        "lost": figures.get("lost", 0),
        "duplicates": figures.get("duplicates", 0),
        "lost_ids": figures.get("lost_ids", []),
        "alarms": [{k: v for k, v in row.items() if k != "transitions"} for row in alarm_rows],
        "time_compressed": bool(cloud_info),
        "time_scale": ctx.time_scale if cloud_info else 1.0,
        "budget_s": round(budget, 1),
        "budget_computed_s": round(computed, 1),
        "budget_slack_s": round(exp.extra_seconds, 1),
        "settled_after_s": ctx.settled_after[-1] if ctx.settled_after else None,
        "wall_time_s": round(time.monotonic() - t0, 2),
        # For the suite's timing in the run summary (chaos.report.suite_timing).
        # The settings' waits bind an event that failed every attempt, which the dead-lettered
        # count (at the end, or at a stage before a redrive) proves happened (a workflow's
        # Catch may end one without retries), and one its handler's ledger counted failing
        # some attempts before it was processed (`partial`).
        "floor_s": round(
            max(
                floor
                if (figures.get("dead_lettered") or ctx.dead_lettered_midway)
                and exp.budget.kind != "workflow"
                else 0.0,
                partial,
            ),
            1,
        ),
        "group": exp.lock or exp.pattern,
        "began_at": round(began_at, 3),
        "ended_at": round(time.time(), 3),
        "verdicts": [v.message() for v in ctx.verdicts],
        "notes": ([exp.notes] if exp.notes else []) + ctx.notes,
        "error": error,
        "timeline": _timeline(ctx, observed, alarm_rows, started),
    }


def _dead_local_endpoint(endpoint: str | None) -> bool:
    """A loopback endpoint nothing listens on: a local cloud that is gone, with its stack."""
    if not endpoint:
        return False
    url = urlsplit(endpoint)
    if url.hostname not in LOOPBACK_HOSTS or url.port is None:
        return False
    try:
        with socket.create_connection((url.hostname, url.port), timeout=2):
            return False
    except OSError:
        return True


def _settle_dead_clouds(stack: Stack, journal: Journal) -> None:
    """Pending changes made on a local cloud that no longer runs cannot be restored, and need
    not be: the cloud and every fault in it are gone. They are discarded (archived), said so."""
    here = stack.identity()
    dead = [
        e
        for e in journal.pending()
        if e.get("stack")
        and not same_identity(e["stack"], here)
        and _dead_local_endpoint(e["stack"].get("endpoint"))
    ]
    if dead and len(dead) == len(journal.pending()):
        gone = describe_identity(dead[0]["stack"])
        _, archived = journal.discard()
        logger.warning(
            "%d change(s) journalled on %s, a local cloud that is gone, discarded (archived to"
            " %s): nothing of them can be left",
            len(dead),
            gone,
            archived,
        )


def check_guards_exist(stack: Stack, guards: Iterable[str]) -> None:
    """A misspelt guard would leave the run unguarded, silently: every one must exist."""
    names = sorted(set(guards))
    if not names:
        return
    found: set[str] = set()
    cw = stack.client("cloudwatch")
    for i in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
        with aws_call(f"guard alarms of {stack.name}", "cloudwatch:DescribeAlarms"):
            resp = cw.describe_alarms(AlarmNames=names[i : i + 100])
        found |= {a["AlarmName"] for a in resp.get("MetricAlarms", [])}
        found |= {a["AlarmName"] for a in resp.get("CompositeAlarms", [])}
    missing = [n for n in names if n not in found]
    if missing:
        raise GuardMissingError(
            f"guard alarm(s) not found on stack {stack.name!r}: {', '.join(missing)}; a guard"
            " must name an existing CloudWatch alarm (see `aws cloudwatch describe-alarms`)"
        )


def foreign_faults(stack: Stack) -> list[str]:
    """Fault flags or a reserved concurrency of 0 on the stack's functions, one line each."""
    found: list[str] = []
    lam = stack.client("lambda")
    for fn in stack.function_names():
        with aws_call(fn, "lambda:GetFunctionConfiguration"):
            conf = lam.get_function_configuration(FunctionName=fn)
        env = (conf.get("Environment") or {}).get("Variables") or {}
        # The deploy sets the master switch "off"; anything else is a fault someone left.
        flags = {
            k: env[k]
            for k in fault_settings.ALL_VARIABLES
            if k in env and not (k == fault_settings.MASTER and env[k] == "off")
        }
        if flags:
            found.append(f"{fn}: fault flags {', '.join(f'{k}={v}' for k, v in flags.items())}")
        with aws_call(fn, "lambda:GetFunctionConcurrency"):
            reserved = lam.get_function_concurrency(FunctionName=fn).get(
                "ReservedConcurrentExecutions"
            )
        if reserved == 0:
            found.append(f"{fn}: reserved concurrency 0 (throttled)")
    return found


def prepare(
    stack: Stack,
    *,
    force: bool = False,
    root: Path | str = ".",
    guards: Iterable[str] = (),
    lease: bool = True,
) -> Faults:
    """Refuse unsafe starts, before any change: not chaos-enabled, outputs or credentials of
    another stack, account or region, a guard that does not exist, a previous run's faults
    still journalled, another run holding the stack's lease, or faults no journal accounts
    for. Returns the run's Faults with the lease (renewed until `faults.lease.release()`)."""
    stack.require_chaos_enabled(force)
    stack.check_identity()
    check_guards_exist(stack, guards)
    journal = Journal(stack.name, root, identity=stack.identity())
    _settle_dead_clouds(stack, journal)
    pending = journal.pending()
    if pending:
        made_on = pending[-1].get("stack")
        where = f" on {describe_identity(made_on)}" if made_on else ""
        raise JournalError(
            f"{len(pending)} change(s) from an earlier run{where} are not rolled back"
            f" ({journal.path}); run `python -m chaos rollback --stack {stack.name}` first"
            f" (or `--discard` if that stack is gone)"
        )
    faults = Faults(stack, journal)
    if not lease:
        return faults
    held = Lease(stack)
    held.acquire()
    try:
        found = foreign_faults(stack)
    except BaseException:
        held.release()
        raise
    if found:
        held.release()
        raise ForeignFaultError(
            f"stack {stack.name!r} already carries faults its journal ({journal.path}) does not"
            f" account for: {'; '.join(found)}. Another tool or a lost journal left them;"
            " restore them (redeploy) before a run"
        )
    faults.lease = held
    return faults


def for_stack(stack: Stack, experiments: Iterable[Experiment]) -> list[Experiment]:
    """The experiments as they run on this stack: each template once per deployed instance
    of its component type ("name[instance]"), and each that faults a fan-out subscriber once
    per subscriber of its instance ("name[instance/sub]")."""
    instances = stack_instances(stack)

    def subscribers(exp: Experiment) -> list[str]:
        out = stack.outputs.get(exp.pattern)
        return sorted((out.get("subscribers") or {}) if isinstance(out, dict) else {})

    return per_subscriber(per_instance(experiments, instances), subscribers)


def stack_instances(stack: Stack) -> dict[str, dict[str, Any]]:
    """The stack's component instances (its `instances` output). A stack deployed before the
    program exported them has one instance per component type, under the type's key."""
    index = stack.outputs.get(keys.INSTANCES)
    if isinstance(index, dict) and index:
        return {str(k): dict(v) for k, v in index.items() if isinstance(v, dict)}
    return {
        key: {"type": key, "name": key.replace("_", "-")}
        for key in keys.PATTERNS
        if isinstance(stack.outputs.get(key), dict)
    }


# Patterns whose experiments run at once, per CPU. An experiment mostly sits out the stack's
# own waits (visibility timeouts, retry delays, alarm periods), not the CPU: `make demo` (33
# experiments, 7 patterns) on the 2-core host took 240 s all at once (load average 0.57,
# median of 5 s samples) against 434 s two at once. But the starts of all 7 at once (preflight
# reads, faults, cold workers) timed out a cold stream processor's first invoke (3 s) in 3 of
# 6 runs, a duplicate where the design promises none: 2 per CPU.
GROUPS_PER_CPU = 2


def _expected_seconds(
    stack: Stack, exp: Experiment, faults: Faults, run_dir: Path, cloud_info: dict[str, Any]
) -> float:
    """How long an experiment's settings let it take (its settle budget from the live
    settings), to start the longest groups first; 0 when a setting is missing (the
    experiment then fails on it, at once)."""
    ctx = Context(stack, exp, faults, run_dir, cloud_info, lambda _m: None)
    try:
        return settle_and_floor_seconds(stack, exp.budget, ctx.resolve, ctx.time_scale)[0]
    except (ChaosError, LookupError):
        return 0.0


def run_all(
    stack: Stack,
    experiments: Iterable[Experiment],
    *,
    faults: Faults,
    run_dir: Path,
    cloud_info: dict[str, Any],
    parallel: bool = True,
    progress: Callable[[str, str], None] | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    extra_guards: Iterable[str] = (),
    max_parallel: int | None = None,
    preflight: Preflight | None = None,
) -> list[dict[str, Any]]:
    """Run experiments, concurrently across locks (patterns) when `parallel`; results in the
    given order. Experiments on one pattern share its queues and functions, so they never
    overlap; different patterns touch disjoint resources and overlap safely."""
    # Every fan-out subscriber gets its own instance of each experiment that faults one.
    exps = for_stack(stack, experiments)
    groups: dict[str, list[Experiment]] = {}
    for exp in exps:
        groups.setdefault(exp.lock or exp.pattern, []).append(exp)
    results: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    cancel = threading.Event()

    def run_group(group: list[Experiment]) -> None:
        for exp in group:
            if cancel.is_set():
                return
            result = run_experiment(
                stack,
                exp,
                faults=faults,
                run_dir=run_dir,
                cloud_info=cloud_info,
                progress=functools.partial(progress, exp.name) if progress else None,
                extra_guards=extra_guards,
                cancel=cancel,
                preflight=preflight,
            )
            with lock:
                results[exp.name] = result
                if on_result:
                    on_result(result)

    limit = max_parallel or GROUPS_PER_CPU * (os.cpu_count() or 1)
    workers = min(len(groups), limit) if parallel else 1
    ordered = list(groups.values())
    if workers > 1:  # the longest group first, so that no long one starts last
        expected = {
            id(g): sum(_expected_seconds(stack, e, faults, run_dir, cloud_info) for e in g)
            for g in ordered
        }
        ordered.sort(key=lambda g: -expected[id(g)])
    with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="chaos-exp") as pool:
        futures = [pool.submit(run_group, g) for g in ordered]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            # Ctrl-C reaches this thread only: tell the experiments to stop waiting; each
            # undoes its faults in its own finally before the pool lets us go.
            cancel.set()
            raise
    return [results[e.name] for e in exps if e.name in results]
