"""`python -m chaos list | run | rollback | report`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from chaos import probes, report
from chaos.errors import ChaosError
from chaos.experiments import CATALOG, by_name, ci_subset
from chaos.faults import rollback
from chaos.journal import Journal
from chaos.session import prepare, run_all
from chaos.stack import Stack, load_stack
from components.program import ProgramConfigError

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments")
    run = sub.add_parser("run", help="run experiments against a stack")
    run.add_argument("--stack", required=True)
    run.add_argument("--experiment", action="append", help="name (repeatable); default: all")
    run.add_argument("--ci", action="store_true", help="only the fast subset run in CI")
    run.add_argument("--force", action="store_true", help="run on a stack not marked chaos-enabled")
    run.add_argument("--guard", action="append", default=[], help="extra guard alarm name")
    run.add_argument("--endpoint", help="endpoint URL (default: the stack's, or AWS)")
    run.add_argument("--reports", default=report.REPORTS_DIR)
    run.add_argument("--serial", action="store_true", help="one experiment at a time")
    rb = sub.add_parser("rollback", help="undo every journalled change of a stack")
    rb.add_argument("--stack", required=True)
    rb.add_argument("--endpoint")
    rep = sub.add_parser("report", help="print a run's summary")
    rep.add_argument("run", help="run id, or 'latest'")
    rep.add_argument("--reports", default=report.REPORTS_DIR)
    _mutate_parser(sub)
    return p


def _mutate_parser(sub: Any) -> None:
    mut = sub.add_parser(
        "mutate", help="mutation testing: deploy known bugs on the local cloud, judge the suite"
    )
    mut.add_argument("--stack", required=True, help="stack config deployed on a local cloud")
    which = mut.add_mutually_exclusive_group()
    which.add_argument("--operator", action="append", help="operator id (repeatable)")
    which.add_argument("--fast", action="store_true", help="the subset `make test` runs")
    mut.add_argument(
        "--all", action="store_true", help="one mutant per (operator, component instance)"
    )
    mut.add_argument(
        "--respect-policy",
        action="store_true",
        help="do not deploy mutants the policy pack refuses (default: deploy them anyway)",
    )
    mut.add_argument("--list", action="store_true", help="print the operator catalog and exit")
    mut.add_argument("--reports", default=report.REPORTS_DIR)


def _mutate(args: argparse.Namespace, console: Console) -> int:
    from chaos.mutate import CATALOG as OPERATORS
    from chaos.mutate import by_id
    from chaos.mutate.runner import line, run_mutation

    if args.list:
        table = Table("operator", "matches", "bug", title="mutation operators")
        for op in OPERATORS:
            table.add_row(op.id, ", ".join(t.split(":")[-1] for t in op.types), op.description)
        console.print(table)
        return 0
    operators = [by_id(o) for o in args.operator] if args.operator else list(OPERATORS)
    result = run_mutation(
        args.stack,
        operators=operators,
        fast=args.fast,
        every_instance=args.all,
        respect_policy=args.respect_policy,
        reports_root=args.reports,
        progress=lambda m: console.print(f"[dim]{m}[/dim]", highlight=False),
    )
    for row in result.rows:
        console.print(line(row), highlight=False, markup=False)
    console.print(
        f"mutation score {result.score:.0%} ({len(result.rows) - len(result.missed)}"
        f"/{len(result.rows)} caught or refused), {len(result.missed)} missed; stack restored: "
        f"{'yes' if result.restored else 'NO'}; {result.seconds} s; "
        f"report: {result.run_dir / 'report.json'}",
        highlight=False,
    )
    return 0 if not result.missed and result.restored else 1


def run(
    stack_name: str,
    names: list[str] | None,
    *,
    ci: bool = False,
    force: bool = False,
    guards: list[str] | None = None,
    endpoint: str | None = None,
    reports_root: str = report.REPORTS_DIR,
    console: Console | None = None,
    root: Path | str = ".",
    parallel: bool = True,
    stack: Stack | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Run experiments on a stack and write the report; `stack` skips loading (the demo passes
    the one it just deployed)."""
    console = console or Console(stderr=True)
    experiments = [by_name(n) for n in names] if names else list(ci_subset() if ci else CATALOG)
    stack = stack or load_stack(stack_name, root=root, endpoint=endpoint)
    stack.check_reachable()
    faults = prepare(stack, force=force, root=root)
    info = probes.local_cloud_info(stack.endpoint)
    run_dir = report.new_run_dir(reports_root)
    results: list[dict[str, Any]] = []
    meta = {
        "stack": stack.name,
        "endpoint": stack.endpoint,
        "time_compressed": bool(info),
        "time_scale": info.get("time_scale", 1.0) if info else 1.0,
        "compressed_delays": info.get("compressed_delays") or info.get("compressed") or [],
    }
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        overall = bar.add_task(
            f"{len(experiments)} experiments on {stack.name}", total=len(experiments)
        )
        tasks = {e.name: bar.add_task(f"{e.name}: queued", total=None) for e in experiments}

        def on_result(result: dict[str, Any]) -> None:
            bar.update(
                tasks[result["name"]],
                total=1,
                completed=1,
                description=f"{result['name']}: {result['verdict']} ({result['wall_time_s']}s)",
            )
            bar.advance(overall)
            results.append(result)
            report.write_report(run_dir, meta, results)  # kept current: a crash leaves a report

        run_all(
            stack,
            experiments,
            faults=faults,
            run_dir=run_dir,
            cloud_info=info,
            parallel=parallel,
            extra_guards=guards or (),
            on_result=on_result,
            progress=lambda name, m: bar.update(tasks[name], description=f"{name}: {m}"),
        )
    order = {e.name: i for i, e in enumerate(experiments)}
    results.sort(key=lambda r: order[r["name"]])
    report.write_report(run_dir, meta, results)
    faults.journal.archive_if_settled()
    return run_dir, results


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    console = Console()
    try:
        if args.command == "list":
            table = Table("name", "pattern", "ci", "fault", title="chaos experiments")
            for e in CATALOG:
                table.add_row(e.name, e.pattern, "yes" if e.ci else "", e.fault)
            console.print(table)
            return 0
        if args.command == "rollback":
            stack = load_stack(args.stack, endpoint=args.endpoint)
            restored = rollback(stack, Journal(stack.name))
            for entry in restored:
                console.print(f"restored {entry['kind']} of {entry['target']} to {entry['prior']}")
            console.print(f"{len(restored)} change(s) rolled back on {stack.name}")
            return 0
        if args.command == "mutate":
            return _mutate(args, console)
        if args.command == "report":
            doc = report.load_report(args.run, args.reports)
            console.print(report.summary_markdown(doc))
            return 0 if doc.get("passed") else 1
        run_dir, results = run(
            args.stack,
            args.experiment,
            ci=args.ci,
            force=args.force,
            guards=args.guard,
            endpoint=args.endpoint,
            reports_root=args.reports,
        )
        console.print(report.summary_markdown(report.load_report(run_dir.name, args.reports)))
        console.print(f"report: {run_dir / 'report.json'}")
        return 0 if all(r["verdict"] == "pass" for r in results) else 1
    except (ChaosError, KeyError, FileNotFoundError, ProgramConfigError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
