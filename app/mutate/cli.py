"""`python -m app mutate`: mutation testing, the known bugs deployed on a local cloud."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from app.mutate.operators import CATALOG as OPERATORS
from app.mutate.operators import by_id
from app.mutate.runner import NoMutants, line, run_mutation
from app.session import PROJECT_DIR
from chaos import logs, report
from chaos.cli import OneLineParser
from localcloud.deploy import ProgramConfigError, load_config


def _parser() -> argparse.ArgumentParser:
    mut = OneLineParser(
        prog="python -m app mutate",
        description="mutation testing: deploy known bugs on the local cloud, judge the suite",
    )
    mut.add_argument("--stack", required=True, help="stack config deployed on a local cloud")
    which = mut.add_mutually_exclusive_group()
    which.add_argument("--operator", action="append", help="operator id (repeatable)")
    which.add_argument("--fast", action="store_true", help="the subset `make test` runs")
    mut.add_argument(
        "--all", action="store_true", help="one mutant per (operator, component instance)"
    )
    mut.add_argument(
        "--instance",
        help="only the mutants in this component instance (e.g. queue-worker), one per operator",
    )
    mut.add_argument(
        "--ci",
        action="store_true",
        help="judge each mutant by its patterns' CI experiments only (as --fast does)",
    )
    mut.add_argument(
        "--respect-policy",
        action="store_true",
        help="do not deploy mutants the policy pack refuses (default: deploy them anyway)",
    )
    mut.add_argument("--list", action="store_true", help="print the operator catalog and exit")
    mut.add_argument("--reports", default=report.REPORTS_DIR)
    return mut


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "mutate":
        args = args[1:]
    options = _parser().parse_args(args)
    logs.console_logging()
    console = Console()
    if options.list:
        table = Table("operator", "matches", "bug", title="mutation operators")
        for op in OPERATORS:
            table.add_row(op.id, ", ".join(t.split(":")[-1] for t in op.types), op.description)
        console.print(table)
        return 0
    try:
        operators = [by_id(o) for o in options.operator] if options.operator else list(OPERATORS)
        load_config(options.stack, PROJECT_DIR)  # a bad stack stops here, before any cloud
    except (KeyError, ProgramConfigError) as exc:
        # KeyError's str() quotes its message; one line whatever the terminal's width.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
        return 2
    try:
        result = run_mutation(
            options.stack,
            operators=operators,
            fast=options.fast,
            every_instance=options.all,
            instance=options.instance,
            ci=options.ci,
            respect_policy=options.respect_policy,
            reports_root=options.reports,
            progress=lambda m: console.print(f"[dim]{m}[/dim]", highlight=False),
        )
    except NoMutants as exc:  # found while planning: nothing started, nothing written
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        return 2
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
