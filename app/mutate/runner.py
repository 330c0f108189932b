"""`python -m app mutate`: deploy each mutant on the local cloud and judge the suite by it.

The stack is deployed once, correct. Its covering experiments run first on the correct
stack (a baseline: an experiment that fails there cannot judge a mutant). Then the mutants
go in waves (mutants.plan_waves): one `up` with the wave's transformations (the next wave's
`up` takes the previous bugs out again), the wave's experiments, a verdict per mutant.
A last `up` without transformations restores the stack, which is checked against the
baseline's recorded inputs.

A mutant that removes a grant Lambda checks at configuration time (its params name the
resources, `checked_by`) is first deployed fresh: the stack's first `up` carries it, and
Lambda refuses the function, destination or mapping it breaks, as on AWS; the run goes on
from there without it. The same mutant is then deployed in its wave on the healthy stack,
where the `up` only rewrites the role's policy (a user tightening it later), and the
experiments say whether the events it loses are seen.

Outcome per mutant: refused (cloud: the local cloud, as AWS would, would not create it, in
its wave or on the fresh deploy; policy: the pack's mandatory checks refuse it; a mutant
refused on the fresh deploy or by the policy is still deployed, as a stack deployed before
the grant was removed or without the pack would be, to say whether the experiments catch it
too), caught (by the first failing verdict of the first failing experiment), or missed (a
failing run).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.mutate.graph import record
from app.mutate.mutants import (
    Mutant,
    covering,
    enumerate_mutants,
    plan_policy,
    plan_waves,
    transformations,
)
from app.mutate.operators import CATALOG, Operator
from app.session import PROJECT_DIR, local_stack, stack_of
from chaos import logs, probes, report
from chaos.experiments import CATALOG as EXPERIMENTS
from chaos.experiments.model import Experiment
from chaos.preflight import preflight
from chaos.session import for_stack, prepare, run_all
from chaos.stack import Stack
from components import outputs as keys
from localcloud.deploy import DeployError, ResourceError, StackState, load_policy_pack

__all__ = ["FAST", "MutationRun", "NoMutants", "run_mutation"]

logger = logging.getLogger(__name__)

# `make test`'s subset, chosen for speed: two patterns, so both go in one wave and their
# experiments run side by side; both mutants are refused by the policy pack, and the
# missing redrive is also caught by today's checks (events lost).
FAST: dict[str, str] = {"dlq-alarm-gt-1": keys.QUEUE_WORKER, "queue-no-redrive": keys.FAN_OUT}
CAUGHT, REFUSED, MISSED, ERROR = "caught", "refused", "missed", "error"


@dataclass
class MutationRun:
    run_dir: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    restored: bool = False
    score: float = 0.0
    seconds: float = 0.0

    @property
    def missed(self) -> list[dict[str, Any]]:
        """Mutants no gate refused and no experiment caught, or that could not be judged."""
        return [r for r in self.rows if r["outcome"] in (MISSED, ERROR)]


class NoMutants(ValueError):
    """The selection names an instance none of the chosen operators matches."""


def select(
    operators: Sequence[Operator],
    *,
    fast: bool,
    every_instance: bool,
    graph: Any,
    instance: str | None = None,
) -> list[Mutant]:
    if fast:
        chosen = [op for op in operators if op.id in FAST]
        mutants = enumerate_mutants(graph, chosen, every_instance=True)
        return [m for m in mutants if FAST[m.operator.id] in m.patterns]
    if instance is not None:
        every = enumerate_mutants(graph, operators, every_instance=True)
        mine = [m for m in every if m.component == instance]
        if not mine:
            known = ", ".join(sorted({m.component for m in every})) or "none"
            raise NoMutants(
                f"--instance {instance!r}: the chosen operators match nothing in it;"
                f" instances they match: {known}"
            )
        return mine
    return enumerate_mutants(graph, operators, every_instance=every_instance)


def for_program(graph: Any, name: str = "program") -> list[Experiment]:
    """The experiments the program's instances get (chaos.session.for_stack over the outputs
    its graph recorded): a mutant in one instance is judged by that instance's experiments."""
    return for_stack(Stack(name=name, outputs=graph.outputs, source="program graph"), EXPERIMENTS)


def experiments_for(mutant: Mutant, *, fast: bool, catalog: list[Experiment]) -> list[Experiment]:
    """The experiments of `catalog` (made for the program's instances) covering the mutant's
    instances (its functions' ledger partitions)."""
    found = covering(catalog, mutant.patterns)
    if fast:  # the CI experiments of the pattern, when it has any
        found = [e for e in found if e.ci] or found
    return found


def _first_failure(result: dict[str, Any]) -> str:
    """What caught it: the failing verdicts' names, those about events first ("conservation",
    "alarm ... notified") and then the preflight findings (configuration read back), so a
    report shows both when both saw the bug."""
    failing = []
    for text in result.get("verdicts") or []:
        head = text.splitlines()[0] if text else ""
        if ": FAIL" in head:
            failing.append(head.split(": FAIL")[0])
    if not failing:
        return str(result.get("verdict", "fail"))
    behaviour = [n for n in failing if not n.startswith("preflight")]
    found = [n for n in failing if n.startswith("preflight")]
    return ", ".join(behaviour + found)


def _stack(name: str, outputs: dict[str, Any], endpoint: str) -> Stack:
    return stack_of(name, outputs, endpoint, f"emulated deploy (mutation testing) on {endpoint}")


def _inputs(state_dir: Path, stack: str) -> dict[str, Any]:
    state = StackState.load(state_dir, stack)
    return {k: r.inputs for k, r in state.resources.items()}


# What the local cloud answers when the emulator itself failed: no AWS verdict either way.
EMULATOR_FAILURE = "ServiceException"


def _error_code(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(cause).__name__)
    return type(cause).__name__


def _error_message(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message") or cause)
    return str(cause)


def _checked_by(mutant: Mutant) -> list[str]:
    """The resources Lambda refuses to configure without the grant this mutant removes."""
    return list(mutant.params.get("checked_by") or [])


def fresh_deploy(
    session: Any,
    mutants: Sequence[Mutant],
    rows: dict[str, dict[str, Any]],
    progress: Callable[[str], None],
) -> None:
    """The stack's first `up` with `mutants` in it: each is refused where Lambda checks its
    grant (the refused one is taken out and the `up` resumes), or noted as not refused. The
    correct stack is deployed after this, by the caller."""
    remaining = list(mutants)
    while remaining:
        progress(f"fresh deploy with {', '.join(m.id for m in remaining)}")
        engine = session.engine(
            transformations=transformations(remaining), allow_policy_violations=True
        )
        try:
            engine.up()
        except DeployError as exc:
            key = getattr(exc, "key", "")
            culprit = next(
                (m for m in remaining if any(key.endswith(f"::{n}") for n in _checked_by(m))),
                None,
            )
            code = _error_code(exc)
            if culprit is None or not isinstance(exc, ResourceError) or code == EMULATOR_FAILURE:
                for m in remaining:
                    rows[m.id]["fresh_deploy"] = f"not judged: the fresh deploy failed: {exc}"
                return
            rows[culprit.id]["fresh_deploy"] = f"cloud: {code}: {_error_message(exc)}"
            rows[culprit.id]["error"] = str(exc)
            remaining.remove(culprit)
            continue
        for m in remaining:
            rows[m.id]["fresh_deploy"] = "deployed, not refused"
        return


def run_mutation(
    stack_name: str = "local",
    *,
    operators: Sequence[Operator] = CATALOG,
    fast: bool = False,
    every_instance: bool = False,
    instance: str | None = None,
    ci: bool = False,
    respect_policy: bool = False,
    reports_root: Path | str = report.REPORTS_DIR,
    progress: Callable[[str], None] = lambda _m: None,
) -> MutationRun:
    t0 = time.monotonic()
    check = load_policy_pack(PROJECT_DIR / "policy")
    progress("recording the program's graph and planning mutants")
    baseline_graph = record(stack_name, PROJECT_DIR)
    mutants = select(
        operators,
        fast=fast,
        every_instance=every_instance,
        graph=baseline_graph,
        instance=instance,
    )
    plan_policy(mutants, baseline_graph, check, stack=stack_name, project_dir=PROJECT_DIR)
    catalog = for_program(baseline_graph, stack_name)
    exps = {m.id: experiments_for(m, fast=fast or ci, catalog=catalog) for m in mutants}
    rows: dict[str, dict[str, Any]] = {
        m.id: {
            "mutant": m.id,
            "operator": m.operator.id,
            "description": m.operator.description,
            "seed_bug": m.operator.seed_bug,
            "resource": {"type": m.type, "name": m.name, "component": m.component},
            "changed": m.changed,
            "patterns": list(m.patterns),
            "policy": [str(v) for v in m.violations],
            "experiments": [],
        }
        for m in mutants
    }
    deployable = [m for m in mutants if not (respect_policy and m.violations)]
    waves = plan_waves(deployable, lambda m: exps[m.id])
    run = MutationRun(
        report.new_run_dir(reports_root, prefix="mutate-")
    )  # after planning: bad input writes nothing
    state_dir = run.run_dir / "state"
    with (
        logs.library_log(run.run_dir),
        local_stack(stack_name, state_dir=state_dir, deploy=False) as session,
    ):
        checked = [m for m in deployable if _checked_by(m)]
        if checked:
            fresh_deploy(session, checked, rows, progress)
        session.deploy()
        stack, endpoint = session.stack, session.endpoint
        assert stack is not None  # deployed just now
        correct = _inputs(state_dir, stack_name)
        info = probes.local_cloud_info(endpoint)

        def experiments(stack: Stack, chosen: list[Experiment], label: str) -> dict[str, Any]:
            wave_dir = run.run_dir / label
            wave_dir.mkdir()
            faults = prepare(stack, root=run.run_dir)
            try:
                results = run_all(
                    stack,
                    chosen,
                    faults=faults,
                    run_dir=wave_dir,
                    cloud_info=info,
                    preflight=preflight,
                )
            finally:
                # Each wave is a run of its own: its lease must not outlive it (the next
                # wave's prepare would find the stack held by this very process).
                if faults.lease is not None:
                    faults.lease.release()
            report.write_report(wave_dir, {"stack": stack.name, "endpoint": endpoint}, results)
            return {r["name"]: r for r in results}

        union = list({e.name: e for m in deployable for e in exps[m.id]}.values())
        progress(f"baseline: {len(union)} experiment(s) on the correct stack")
        baseline = experiments(stack, union, "baseline") if union else {}
        unreliable = {n for n, r in baseline.items() if r["verdict"] != "pass"}

        pending = [list(w) for w in waves]
        number = 0
        while pending:
            wave = pending.pop(0)
            number += 1
            progress(f"wave {number}: {', '.join(m.id for m in wave)}")
            started = time.monotonic()
            engine = session.engine(
                transformations=transformations(wave), allow_policy_violations=True
            )
            try:
                result = engine.up()
            except DeployError as exc:
                key = getattr(exc, "key", "")
                culprit = [
                    m for m in wave if key.endswith(f"::{m.name}") or f"'{m.name}'" in str(exc)
                ]
                if not culprit and len(wave) > 1:
                    pending[:0] = [[m] for m in wave]  # one at a time to find the refused one
                    continue
                if not culprit:  # a resource of no mutant here: earlier residue, not this bug
                    for m in wave:
                        rows[m.id].update(outcome=ERROR, by=f"stack could not be updated: {exc}")
                    continue
                failed = culprit[0]
                if isinstance(exc, ResourceError) and _error_code(exc) != EMULATOR_FAILURE:
                    # The cloud refused the call, as AWS would (e.g. visibility < timeout).
                    rows[failed.id].update(outcome=REFUSED, by=f"cloud: {_error_code(exc)}")
                else:  # the emulation cannot deploy it: no verdict either way
                    rows[failed.id].update(outcome=ERROR, by=f"not deployable here: {exc}")
                rows[failed.id]["error"] = str(exc)
                rest = [m for m in wave if m is not failed]
                if rest:
                    pending.insert(0, rest)
                continue
            up_s = time.monotonic() - started
            current = _stack(stack_name, result.outputs, endpoint)
            chosen = list({e.name: e for m in wave for e in exps[m.id]}.values())
            results = experiments(current, chosen, f"wave-{number}") if chosen else {}
            for m in wave:
                mine = _results_of(results, exps[m.id])
                rows[m.id]["experiments"] = [
                    {
                        "name": r["name"],
                        "verdict": r["verdict"],
                        "verdicts": r["verdicts"],
                        "wall_time_s": r["wall_time_s"],
                        "baseline": baseline.get(r["name"], {}).get("verdict"),
                    }
                    for r in mine
                ]
                failing = [
                    r for r in mine if r["verdict"] != "pass" and r["name"] not in unreliable
                ]
                caught_by = (
                    f"{failing[0]['name']}: {_first_failure(failing[0])}" if failing else None
                )
                rows[m.id].update(
                    wave=number,
                    deploy_s=round(up_s, 1),
                    caught_by=caught_by,
                    wall_time_s=round(up_s + max([r["wall_time_s"] for r in mine] or [0]), 1),
                )
        progress("restoring the correct stack")
        try:
            session.engine().up()
            run.restored = _inputs(state_dir, stack_name) == correct
        except DeployError as exc:
            logger.error("the correct stack could not be restored: %s", exc)
            run.restored = False
    for m in mutants:
        row = rows[m.id]
        if row.get("outcome"):
            continue
        if str(row.get("fresh_deploy", "")).startswith("cloud:"):
            row.update(outcome=REFUSED, by=f"{row['fresh_deploy']} (fresh deploy)")
        elif m.violations:
            rules = sorted({str(getattr(v, "policy", v)) for v in m.violations})
            row.update(outcome=REFUSED, by=f"policy: {', '.join(rules)}")
        elif row.get("caught_by"):
            row.update(outcome=CAUGHT, by=row["caught_by"])
        elif "caught_by" not in row:
            row.update(outcome=ERROR, by="not judged")
        elif exps[m.id] and not row.get("experiments"):
            # Covering experiments were chosen but no result is theirs: nothing judged it.
            row.update(outcome=ERROR, by="no result of its covering experiments")
        else:
            none = not exps[m.id]
            row.update(
                outcome=MISSED,
                by=f"no experiment covers {', '.join(m.patterns)}"
                if none
                else "every covering experiment passed",
            )
    run.rows = [rows[m.id] for m in mutants]
    good = sum(r["outcome"] in (CAUGHT, REFUSED) for r in run.rows)
    run.score = round(good / len(run.rows), 3) if run.rows else 0.0
    run.seconds = round(time.monotonic() - t0, 1)
    write(run, stack_name, baseline, unreliable)
    return run


def _deployed_anyway(row: dict[str, Any]) -> str:
    """For a mutant the policy or a fresh deploy refused: what the experiments said when it
    was deployed on the healthy stack."""
    if "caught_by" not in row:
        return "not deployed"
    return f"caught by {row['caught_by']}" if row["caught_by"] else "not caught by the experiments"


def _anyway(row: dict[str, Any]) -> str:
    """The "deployed anyway" note of a refused row, or ''."""
    if row["outcome"] != REFUSED:
        return ""
    if row["by"].startswith("policy"):
        return f"; deployed anyway: {_deployed_anyway(row)}"
    if row["by"].endswith("(fresh deploy)"):
        return f"; revoked after a healthy deploy: {_deployed_anyway(row)}"
    return ""


def line(row: dict[str, Any]) -> str:
    """One line per mutant, as the CLI prints it."""
    return f"{row['outcome'].upper():<8} {row['mutant']}  ({row['by']}{_anyway(row)})"


def _results_of(results: dict[str, Any], chosen: list[Experiment]) -> list[dict[str, Any]]:
    """The results of these experiments: each ran under its own name, or (a template, or an
    instance experiment that faults a fan-out subscriber) once per instance or subscriber,
    as "name[...]" / "name[instance/sub]" (chaos.experiments.per_instance, per_subscriber)."""
    names = {e.name for e in chosen}
    made = tuple(f"{e.name[:-1]}/" for e in chosen if e.name.endswith("]"))
    return [
        r
        for name, r in results.items()
        if name in names or name.split("[", 1)[0] in names or name.startswith(made)
    ]


def write(run: MutationRun, stack: str, baseline: dict[str, Any], unreliable: set[str]) -> None:
    doc = {
        "run_id": run.run_dir.name,
        "stack": stack,
        "mutants": run.rows,
        "total": len(run.rows),
        "caught": sum(r["outcome"] == CAUGHT for r in run.rows),
        "refused": sum(r["outcome"] == REFUSED for r in run.rows),
        "missed": sum(r["outcome"] == MISSED for r in run.rows),
        "errors": sum(r["outcome"] == ERROR for r in run.rows),
        "mutation_score": run.score,
        "restored": run.restored,
        "baseline": {n: r["verdict"] for n, r in baseline.items()},
        "unreliable_experiments": sorted(unreliable),
        "wall_time_s": run.seconds,
        "passed": not run.missed and run.restored,
    }
    (run.run_dir / "report.json").write_text(json.dumps(doc, indent=2, default=str))
    (run.run_dir / "summary.md").write_text(summary_markdown(doc))


def summary_markdown(doc: dict[str, Any]) -> str:
    lines = [
        f"# Mutation run {doc['run_id']}",
        "",
        f"Stack `{doc['stack']}`: {doc['total']} mutants, {doc['caught']} caught, "
        f"{doc['refused']} refused, {doc['missed']} missed; mutation score "
        f"**{doc['mutation_score']:.0%}** ((caught + refused) / total); "
        f"stack restored afterwards: {'yes' if doc['restored'] else '**no**'}; "
        f"{doc['wall_time_s']} s.",
        "",
        "| mutant | patterns | outcome | by | experiments (verdict) | s |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["mutants"]:
        exps = "; ".join(f"{e['name']} ({e['verdict']})" for e in r["experiments"]) or "-"
        by = r["by"] + _anyway(r)
        lines.append(
            f"| {r['mutant']} | {', '.join(r['patterns'])} | **{r['outcome']}** | {by} |"
            f" {exps} | {r.get('wall_time_s', '-')} |"
        )
    if doc["unreliable_experiments"]:
        lines += [
            "",
            "Failed on the correct stack, so not counted as catching: "
            + ", ".join(doc["unreliable_experiments"]),
        ]
    return "\n".join(lines) + "\n"
